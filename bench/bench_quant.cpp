// Quantiser throughput: quantise + dequantise of a 4096x4096 float32 Gaussian matrix, in GB/s
// of float32 input, with 1 and 2 OpenMP threads (the argument). See bench/README.md.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <random>
#include <span>
#include <vector>

#include "common/rng.hpp"
#include "quant/quantizer.hpp"

namespace {

using namespace loft::quant;

const std::vector<float>& gaussian_matrix(std::size_t n) {
  static std::vector<float> x;
  if (x.size() != n) {
    auto rng = loft::make_rng(0, "bench_quant");
    std::normal_distribution<float> d(0.0f, 0.02f);  // typical weight scale
    x.resize(n);
    for (float& v : x) v = d(rng);
  }
  return x;
}

constexpr std::size_t kFull = 4096 * 4096;

enum class Work { roundtrip, quantize_only, dequantize_only };

void run(benchmark::State& state, const char* text, Work work, Kernel kernel, std::size_t n) {
  const int threads = static_cast<int>(state.range(0));
  const int saved_threads = omp_get_max_threads();  // restored below for other benchmarks
  omp_set_num_threads(threads);
  const Spec spec = parse(text);
  const auto& x = gaussian_matrix(n);
  Quantized q;
  // The output is an Eigen vector, 64-byte aligned like the matrix fake_quantize returns.
  Eigen::VectorXf out(static_cast<Eigen::Index>(x.size()));
  const std::span<float> y(out.data(), x.size());
  quantize(spec, x, q, kernel);  // warm up: buffers allocated and touched once
  dequantize(q, y, kernel);
  for (auto _ : state) {
    if (work != Work::dequantize_only) quantize(spec, x, q, kernel);
    if (work != Work::quantize_only) dequantize(q, y, kernel);
    benchmark::DoNotOptimize(q.codes.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * x.size() * sizeof(float)));
  state.counters["threads"] = threads;
  omp_set_num_threads(saved_threads);
}

void BM_quant_roundtrip(benchmark::State& s, const char* spec) {
  run(s, spec, Work::roundtrip, Kernel::fast, kFull);
}
void BM_quant_quantize(benchmark::State& s, const char* spec) {
  run(s, spec, Work::quantize_only, Kernel::fast, kFull);
}
void BM_quant_dequantize(benchmark::State& s, const char* spec) {
  run(s, spec, Work::dequantize_only, Kernel::fast, kFull);
}
// The scalar reference on a 1024x1024 matrix, for the speed-up of the fast path.
void BM_quant_roundtrip_reference(benchmark::State& s, const char* spec) {
  run(s, spec, Work::roundtrip, Kernel::reference, 1024 * 1024);
}

}  // namespace

#define LOFT_QUANT_BENCH(fn, name) \
  BENCHMARK_CAPTURE(fn, name, #name)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()

LOFT_QUANT_BENCH(BM_quant_roundtrip, nf2);
LOFT_QUANT_BENCH(BM_quant_roundtrip, nf4);
LOFT_QUANT_BENCH(BM_quant_roundtrip, int4);
LOFT_QUANT_BENCH(BM_quant_roundtrip, fp4);
LOFT_QUANT_BENCH(BM_quant_roundtrip, mxfp4);
LOFT_QUANT_BENCH(BM_quant_quantize, nf4);
LOFT_QUANT_BENCH(BM_quant_dequantize, nf4);
BENCHMARK_CAPTURE(BM_quant_roundtrip_reference, nf4, "nf4")
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
