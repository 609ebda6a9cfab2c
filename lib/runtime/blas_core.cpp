#include "runtime/blas_core.hpp"

#include <dlfcn.h>

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
const char* call_openblas(const char* symbol) {
  using Fn = char* (*)();
  auto fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, symbol));
  return fn ? fn() : nullptr;
}
}  // namespace

std::string openblas_core() {
  const char* name = call_openblas("openblas_get_corename");
  return name ? std::string(name) : std::string();
}

std::string blas_description() {
  const char* config = call_openblas("openblas_get_config");
  return config ? std::string(config) : std::string("BLAS: not OpenBLAS");
}

}  // namespace loft::runtime
