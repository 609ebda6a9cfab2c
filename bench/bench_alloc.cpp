// Allocation solver time on a 7B-sized instance: the 224 linear weights of a Llama-2-7B (32
// layers x q, k, v, o 4096x4096, gate, up 11008x4096, down 4096x11008) x the 24 default
// candidates (nf2/3/4/8 x b32/64/128 x with/without :dq), exact storage from the registry and
// synthetic costs of the shape the residuals have (about 4^-bits, worse for larger blocks and
// under :dq, a random spread per tensor). The DP's table would be far too large here, so this
// is the CBC path; the argument is the budget in tenths of a bit. See bench/README.md.
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>

#include "alloc/budget.hpp"
#include "alloc/knapsack.hpp"
#include "alloc/storage.hpp"

namespace {

using namespace loft::alloc;

Problem llama7b(double budget) {
  const auto specs = candidate_specs(parse_budget("budget:3"));
  const int64_t shapes[7][2] = {{4096, 4096},  {4096, 4096},  {4096, 4096}, {4096, 4096},
                                {11008, 4096}, {11008, 4096}, {4096, 11008}};
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> spread(0.0, 0.5);
  Problem p;
  double weights = 0;
  for (int layer = 0; layer < 32; ++layer)
    for (const auto& s : shapes) {
      const int64_t n = s[0] * s[1];
      weights += static_cast<double>(n);
      const double scale = spread(rng) * static_cast<double>(n) * 1e-4;
      std::vector<Item> items;
      for (const auto& q : specs) {
        const double penalty = (1 + q.block / 512.0) * (q.double_quant ? 1.01 : 1.0);
        items.push_back({storage_bits(q, n), scale * std::pow(4.0, -q.bits) * penalty});
      }
      p.groups.push_back(std::move(items));
    }
  p.weights = weights;
  p.capacity = static_cast<int64_t>(budget * weights);
  return p;
}

void BM_alloc_7b_cbc(benchmark::State& state) {
  const Problem p = llama7b(static_cast<double>(state.range(0)) / 10);
  Solution s;
  for (auto _ : state) {
    s = solve(p, Solver::cbc);
    benchmark::DoNotOptimize(s.objective);
  }
  state.counters["gap_rel"] = s.gap() / s.objective;
  state.counters["bits"] = static_cast<double>(s.storage) / p.weights;
}
BENCHMARK(BM_alloc_7b_cbc)->Arg(25)->Arg(30)->Arg(35)->Unit(benchmark::kMillisecond);

}  // namespace
