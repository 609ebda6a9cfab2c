// The process configuration of lib/runtime: the OpenBLAS core choice as a table of (what OpenBLAS
// picked, what the CPU has) -> what loftlab asks for, and checks that this very process runs with
// the choices applied (catch_main re-executes as loftlab does).
#include <lapacke.h>

#include <strings.h>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <optional>
#include <string>

#include "runtime/blas_core.hpp"

using loft::runtime::better_openblas_core;
using loft::runtime::CpuFeatures;

namespace {
CpuFeatures avx512() {
  CpuFeatures f;
  f.avx = f.avx2 = f.fma = true;
  f.avx512f = f.avx512bw = f.avx512dq = f.avx512vl = f.avx512cd = true;
  return f;
}
CpuFeatures avx2() {
  CpuFeatures f;
  f.avx = f.avx2 = f.fma = true;
  return f;
}
}  // namespace

TEST_CASE("better_openblas_core: second-guesses only OpenBLAS's generic fallback") {
  struct Case {
    const char* current;
    CpuFeatures cpu;
    std::optional<std::string> want;
  };
  CpuFeatures avx_only;
  avx_only.avx = true;
  CpuFeatures avx512_no_bw = avx512();  // Knights Landing-like: F and CD but not BW/DQ/VL
  avx512_no_bw.avx512bw = avx512_no_bw.avx512dq = avx512_no_bw.avx512vl = false;
  CpuFeatures avx2_no_fma = avx2();
  avx2_no_fma.fma = false;
  const Case cases[] = {
      {"Prescott", avx512(), "SkylakeX"},
      {"Prescott", avx512_no_bw, "Haswell"},
      {"Prescott", avx2(), "Haswell"},
      {"Prescott", avx2_no_fma, "SandyBridge"},
      {"Prescott", avx_only, "SandyBridge"},
      {"Prescott", CpuFeatures{}, std::nullopt},  // an SSE-only CPU: Prescott is right
      {"SkylakeX", avx512(), std::nullopt},       // OpenBLAS knew the CPU: its choice stands
      {"Haswell", avx512(), std::nullopt},
      {"Zen", avx2(), std::nullopt},
      {"Cooperlake", avx512(), std::nullopt},
      {"", avx512(), std::nullopt},  // not OpenBLAS
  };
  for (const auto& c : cases) {
    INFO("OpenBLAS core '" << c.current << "'");
    auto got = better_openblas_core(c.current, c.cpu);
    if (c.want) {
      REQUIRE(got.has_value());
      CHECK(std::string(*got) == *c.want);
    } else {
      CHECK_FALSE(got.has_value());
    }
  }
}

TEST_CASE("this process runs OpenBLAS kernels suited to the CPU, or the ones the user chose") {
  // A LAPACK call, so OpenBLAS is loaded into this binary and answers by symbol.
  float a[4] = {3, 0, 0, 4};
  REQUIRE(LAPACKE_slange(LAPACK_COL_MAJOR, 'F', 2, 2, a, 2) == Approx(5.0f));
  std::string core = loft::runtime::openblas_core();
  INFO("OpenBLAS core " << core << "; " << loft::runtime::blas_description());
  if (core.empty()) {
    WARN("skipped: the BLAS linked here is not OpenBLAS");
    return;
  }
  CHECK(loft::runtime::blas_description().find(core) != std::string::npos);
  const char* chosen = std::getenv("OPENBLAS_CORETYPE");
  if (chosen && strcasecmp(chosen, "Prescott") == 0) {
    WARN("OPENBLAS_CORETYPE=Prescott was set by the user: the generic kernels are kept");
    return;
  }
  // catch_main re-executed with OPENBLAS_CORETYPE set if OpenBLAS had fallen back to its generic
  // kernels on a CPU that has better, so no better core may be left to choose.
  CHECK_FALSE(better_openblas_core(core, CpuFeatures::of_this_cpu()).has_value());
}

TEST_CASE("this process waits for OpenMP work as loftlab configures it, or as the user chose") {
  // libgomp reads these once, when it loads: catch_main re-executed with them set.
  if (std::getenv("OMP_WAIT_POLICY")) {
    WARN("OMP_WAIT_POLICY=" << std::getenv("OMP_WAIT_POLICY") << " set by the user: kept");
    return;
  }
  const char* spin = std::getenv("GOMP_SPINCOUNT");
  REQUIRE(spin != nullptr);
  CHECK(std::strtol(spin, nullptr, 10) > 0);
}
