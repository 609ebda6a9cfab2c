#include "runtime/blas_core.hpp"

#include <dlfcn.h>
#include <fmt/format.h>
#include <omp.h>

namespace loft::runtime {

CpuFeatures CpuFeatures::of_this_cpu() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  f.avx = __builtin_cpu_supports("avx");
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512dq = __builtin_cpu_supports("avx512dq");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  f.avx512cd = __builtin_cpu_supports("avx512cd");
#endif
  return f;
}

std::optional<std::string_view> better_openblas_core(std::string_view current,
                                                     const CpuFeatures& cpu) {
  // Only OpenBLAS's catch-all is second-guessed: any other name means it recognised the CPU.
  if (current != "Prescott") return std::nullopt;
  if (cpu.avx512f && cpu.avx512bw && cpu.avx512dq && cpu.avx512vl && cpu.avx512cd)
    return "SkylakeX";
  if (cpu.avx2 && cpu.fma) return "Haswell";
  if (cpu.avx) return "SandyBridge";
  return std::nullopt;
}

namespace {
// Looked up at run time, not linked: with the reference BLAS (or MKL) the symbol is absent.
template <typename R>
std::optional<R> call_openblas(const char* symbol) {
  using Fn = R (*)();
  auto fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, symbol));
  return fn ? std::optional<R>(fn()) : std::nullopt;
}
}  // namespace

std::string openblas_core() {
  const auto name = call_openblas<char*>("openblas_get_corename");
  return name && *name ? std::string(*name) : std::string();
}

bool blas_uses_openmp_pool() {
  return call_openblas<int>("openblas_get_parallel") == 2;
}

std::string blas_description() {
  const auto config = call_openblas<char*>("openblas_get_config");
  if (!config || !*config) return "BLAS: not OpenBLAS";
  const int mode = call_openblas<int>("openblas_get_parallel").value_or(0);
  const char* pool = mode == 2 ? "OpenMP pool" : mode == 1 ? "own pthreads pool" : "sequential";
  return fmt::format("{} ({}, {} threads, omp_get_max_threads() = {})", *config, pool,
                     call_openblas<int>("openblas_get_num_threads").value_or(1),
                     omp_get_max_threads());
}

}  // namespace loft::runtime
