// The one main of every Catch2 test binary. It configures the process as loftlab does (passive
// OpenMP waits, OpenBLAS kernels for this CPU), so the tests exercise the BLAS kernels users run.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "runtime/process.hpp"

int main(int argc, char** argv) {
  loft::runtime::configure_and_reexec(argv);
  return Catch::Session().run(argc, argv);
}
