// loftlab_bench: every bench/*.cpp registers its Google Benchmark cases; this is the one main.
// It configures the process as loftlab does and records the BLAS build and kernels in the
// benchmark context, so a figure says which OpenBLAS kernels produced it.
#include <benchmark/benchmark.h>

#include "runtime/blas_core.hpp"
#include "runtime/process.hpp"

int main(int argc, char** argv) {
  loft::runtime::configure_and_reexec(argv);
  benchmark::AddCustomContext("blas", loft::runtime::blas_description());
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
