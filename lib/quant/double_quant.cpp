// Double quantisation of the block scales, as bitsandbytes' compress_statistics: subtract the
// mean of the scales, then quantise blockwise (groups of 256) with the signed 8-bit dynamic map
// and one float32 absmax per group. The weights themselves are coded with the exact scales;
// only decoding sees the compressed ones.
#include <algorithm>
#include <cmath>

#include "common/error.hpp"
#include "quant/codebooks.hpp"
#include "quant/registry.hpp"

namespace loft::quant {

const Nearest& dynamic_map() {
  static const Nearest map(dynamic_map_levels());
  return map;
}

void double_quantize(std::span<const float> scales, Quantized& q, Kernel kernel) {
  const std::size_t n = scales.size();
  const std::size_t G = kDoubleQuantGroup;
  double sum = 0;
  for (float s : scales) sum += s;
  // The mean in double, rounded once (torch's float32 mean may differ in the last bit).
  q.scale_offset = n ? static_cast<float>(sum / static_cast<double>(n)) : 0.0f;
  q.scale_codes.assign(n, 0);
  q.scale_absmax.assign((n + G - 1) / G, 0.0f);
  const Nearest& map = dynamic_map();
  std::vector<float> r(G), y(G);
  for (std::size_t g = 0; g * G < n; ++g) {
    const std::size_t first = g * G, m = std::min(G, n - first);
    float absmax = 0;
    for (std::size_t i = 0; i < m; ++i) {
      r[i] = scales[first + i] - q.scale_offset;
      absmax = std::max(absmax, std::fabs(r[i]));
    }
    if (!std::isfinite(absmax))
      fail("double quantisation: block scales minus their mean overflow float32 near block {}",
           first);
    q.scale_absmax[g] = absmax;
    for (std::size_t i = 0; i < m; ++i) y[i] = absmax == 0.0f ? 0.0f : r[i] / absmax;
    if (kernel == Kernel::reference) {
      for (std::size_t i = 0; i < m; ++i) q.scale_codes[first + i] = map.reference(y[i]);
    } else {
      map.codes(std::span<const float>(y.data(), m),
                std::span<uint8_t>(q.scale_codes.data() + first, m));
    }
  }
}

std::vector<float> double_dequantize(const Quantized& q) {
  const std::size_t n = q.scale_codes.size();
  const std::vector<float>& levels = dynamic_map().levels();
  std::vector<float> s(n);
  for (std::size_t b = 0; b < n; ++b)
    s[b] = levels[q.scale_codes[b]] * q.scale_absmax[b / kDoubleQuantGroup] + q.scale_offset;
  return s;
}

}  // namespace loft::quant
