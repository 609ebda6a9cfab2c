#include "runtime/process.hpp"

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "runtime/blas_core.hpp"

namespace loft::runtime {

void configure_and_reexec(char** argv) {
  bool changed = false;
  if (!std::getenv("OMP_WAIT_POLICY") && !std::getenv("GOMP_SPINCOUNT")) {
    setenv("GOMP_SPINCOUNT", "2000", 1);
    changed = true;
  }
  if (!std::getenv("OPENBLAS_CORETYPE")) {
    if (auto core = better_openblas_core(openblas_core(), CpuFeatures::of_this_cpu())) {
      setenv("OPENBLAS_CORETYPE", std::string(*core).c_str(), 1);
      changed = true;
    }
  }
  if (changed) execv("/proc/self/exe", argv);  // returns only on failure
}

}  // namespace loft::runtime
