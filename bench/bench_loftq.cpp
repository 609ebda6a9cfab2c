// One LoftQ run (nf2, r = 64, T = 1) per SVD method on a Gaussian matrix: the per-step cost that
// compare_loftq.sh multiplies out at 4096 x 4096 against PyTorch.
#include <benchmark/benchmark.h>

#include "bench/support.hpp"
#include "init/init.hpp"

namespace {

void run_loftq(benchmark::State& state, const char* svd) {
  const int n = static_cast<int>(state.range(0));
  const loft::Matrix w = loft::bench::gaussian_matrix(n, n, 1);
  loft::init::Options opt;
  opt.steps = 1;
  opt.svd = loft::lowrank::parse_svd(svd);
  opt.nuclear = loft::init::Nuclear::none;  // LoftQ alone
  const loft::quant::Spec q = loft::quant::parse("nf2");
  double residual = 0;
  for (auto _ : state)
    residual = loft::init::initialize("loftq", w, q, 64, opt).trace.residual_rel.back();
  state.counters["residual_rel"] = residual;
}

void BM_LoftqStepExact(benchmark::State& state) {
  run_loftq(state, "exact");
}
void BM_LoftqStepExactGesdd(benchmark::State& state) {
  run_loftq(state, "exact-gesdd");
}
void BM_LoftqStepRandomized(benchmark::State& state) {
  run_loftq(state, "randomized");
}

}  // namespace

BENCHMARK(BM_LoftqStepExact)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoftqStepExactGesdd)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoftqStepRandomized)->Arg(1024)->Arg(4096)->Unit(benchmark::kMillisecond);
