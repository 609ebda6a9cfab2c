// Which OpenBLAS kernel set ("core") this process runs, and a better one when OpenBLAS guessed.
//
// Debian bookworm's OpenBLAS 0.3.21 is built with DYNAMIC_ARCH: it picks its kernels from the
// CPUID family/model at load time. For a model newer than the library (Emerald Rapids, family 6
// model 207, on the machines this project is measured on) it falls back to "Prescott", its
// generic SSE3 kernels, and sgemm runs ~2x slower than the AVX-512 kernels the CPU can run.
// The decision below is a pure function of what OpenBLAS chose and what the CPU offers, so the
// tests can loop over cases; the process-level part (reading CPUID, setting OPENBLAS_CORETYPE,
// re-executing) is in runtime.hpp.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace loft::runtime {

// The instruction-set extensions that decide between OpenBLAS's x86-64 kernel families.
struct CpuFeatures {
  bool avx = false;
  bool avx2 = false;
  bool fma = false;
  bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false, avx512cd = false;

  // This CPU, as the compiler runtime reports it (which also checks that the OS saves the
  // AVX/AVX-512 register state, so a "yes" here is usable).
  static CpuFeatures of_this_cpu();
};

// The OpenBLAS core to ask for (a valid OPENBLAS_CORETYPE value) when OpenBLAS fell back to its
// generic core although the CPU has more; nullopt when OpenBLAS's own choice stands (it knew
// the CPU, or the CPU has nothing better, or this is not OpenBLAS: `current` empty).
// SkylakeX needs AVX-512 F/BW/DQ/VL/CD, Haswell AVX2 + FMA, SandyBridge AVX.
std::optional<std::string_view> better_openblas_core(std::string_view current,
                                                     const CpuFeatures& cpu);

// The kernel set the loaded OpenBLAS runs ("SkylakeX", "Prescott", ...), or "" when the BLAS in
// this process is not OpenBLAS (asked by symbol, so any BLAS can be linked).
std::string openblas_core();

// Whether the linked OpenBLAS runs on OpenMP's pool (Debian's libopenblas0-openmp): then a BLAS
// call inside an OpenMP parallel region runs serially instead of spawning a second set of
// threads. False for a pthreads OpenBLAS (OpenMP code around it would oversubscribe) or another
// BLAS.
bool blas_uses_openmp_pool();

// One line for --version, benchmark records and test messages: "OpenBLAS 0.3.21 ... SkylakeX
// MAX_THREADS=64 (OpenMP pool, 2 threads, omp_get_max_threads() = 2)", or "BLAS: not OpenBLAS".
std::string blas_description();

}  // namespace loft::runtime
