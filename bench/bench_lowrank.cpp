// Truncated SVD kernels: exact (sgesvdx, top r) vs exact-gesdd (sgesdd, all vectors) vs
// randomized; singular values alone (sgesdd without vectors); the nuclear norm's Gram route and
// its eigensolver; the thread-independent products.
// Run through `make bench` (bench/run.sh); whole-run comparisons live in compare_loftq.sh.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <span>
#include <vector>

#include "bench/support.hpp"
#include "lowrank/nuclear.hpp"
#include "lowrank/products.hpp"
#include "lowrank/svd.hpp"

namespace {

using loft::bench::gaussian_matrix;

void run_svd(benchmark::State& state, const char* spec_text) {
  const int n = static_cast<int>(state.range(0)), rank = 64;
  const loft::Matrix a = gaussian_matrix(n, n, 1);
  const auto spec = loft::lowrank::parse_svd(spec_text);
  for (auto _ : state) benchmark::DoNotOptimize(loft::lowrank::truncated_svd(spec, a, rank, 0));
  state.counters["n"] = n;
  state.counters["rank"] = rank;
}

void BM_SvdExact(benchmark::State& state) {
  run_svd(state, "exact");
}
void BM_SvdExactGesdd(benchmark::State& state) {
  run_svd(state, "exact-gesdd");
}
void BM_SvdRandomized(benchmark::State& state) {
  run_svd(state, "randomized:p=10:q=2");
}

// The nuclear norm's cost: every singular value, without vectors.
void BM_SingularValues(benchmark::State& state) {
  const loft::Matrix a = gaussian_matrix(int(state.range(0)), int(state.range(0)), 1);
  for (auto _ : state) benchmark::DoNotOptimize(loft::lowrank::singular_values(a));
}

// The Gram route's eigensolver on a 4096 x 4096 Gram, one thread, at ?syevd_2stage's own band
// width (0: it picks 32) and at the routes' kWideBand.
void BM_SymmetricEigenvalues(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0)), band = static_cast<int>(state.range(1));
  const loft::Matrix x = gaussian_matrix(n, n, 1);
  const Eigen::MatrixXf gram = x.transpose() * x;
  std::vector<float> a(gram.data(), gram.data() + gram.size());
  loft::lowrank::SerialBlas serial;
  for (auto _ : state) {
    state.PauseTiming();
    std::copy(gram.data(), gram.data() + gram.size(), a.begin());
    state.ResumeTiming();
    benchmark::DoNotOptimize(loft::lowrank::symmetric_eigenvalues(std::span<float>(a), n, band));
  }
}

// The float32 Gram route on the 7B shapes (4096 x 4096, 11008 x 4096), one thread: what each
// nuclear norm of the residual experiment costs.
void BM_NuclearGram(benchmark::State& state) {
  const loft::Matrix a = gaussian_matrix(int(state.range(0)), 4096, 1);
  loft::lowrank::SerialBlas serial;
  double bound = 0;
  for (auto _ : state) {
    const auto g = loft::lowrank::nuclear_norm_gram(a);
    bound = g.error_bound / g.value;
  }
  state.counters["rel_bound"] = bound;
}

void BM_SubtractProduct(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0)), r = 64;
  const loft::Matrix w = gaussian_matrix(n, n, 1), b = gaussian_matrix(n, r, 2),
                     a = gaussian_matrix(r, n, 3);
  loft::Matrix out;
  for (auto _ : state) loft::lowrank::subtract_product(w, 1.0f, b, a, out);
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * n * n * r, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

}  // namespace

BENCHMARK(BM_SvdExact)->Arg(256)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SvdExactGesdd)->Arg(256)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SingularValues)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SvdRandomized)->Arg(256)->Arg(1024)->Arg(4096)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SymmetricEigenvalues)->Args({4096, 0})->Args({4096, 64})->Unit(benchmark::kSecond);
BENCHMARK(BM_NuclearGram)->Arg(4096)->Arg(11008)->Unit(benchmark::kSecond);
BENCHMARK(BM_SubtractProduct)->Arg(1024)->Arg(4096)->Unit(benchmark::kMillisecond);
