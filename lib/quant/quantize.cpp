// The public entry points: validation, dispatch to the registry row, double quantisation.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "common/error.hpp"
#include "common/finite.hpp"
#include "quant/packing.hpp"
#include "quant/registry.hpp"

namespace loft::quant {

uint32_t Quantized::code(std::size_t i) const {
  if (i >= count) fail("code index {} out of range (count {})", i, count);
  return unpack_one(codes, spec.bits, i);
}

double Quantized::storage_bits() const {
  double bits = 8.0 * static_cast<double>(codes.size());
  for (const StreamInfo& s : stream_table()) bits += s.bits * static_cast<double>(s.entries(*this));
  return bits;
}

void quantize(const Spec& spec, std::span<const float> x, Quantized& out, Kernel kernel) {
  const Quantizer& row = quantizer_for(spec);
  if (x.size() % spec.block != 0)
    fail(
        "cannot quantise {} values with {}: the count must be a multiple of the block size {} "
        "(choose a block size dividing {} with :b<N>)",
        x.size(), format(spec), spec.block, x.size());
  out.spec = spec;
  out.count = x.size();
  // The row's kernel sizes and fills the streams of its scale rule; the others are emptied
  // (a reused buffer may hold those of another spec).
  const std::vector<Stream>& written = scale_rule(row, spec).streams;
  for (const StreamInfo& s : stream_table())
    if (std::find(written.begin(), written.end(), s.stream) == written.end()) s.clear(out);
  row.quantize(row, spec, x, out, kernel);
  if (spec.double_quant) {
    double_quantize(out.scales, out, kernel);
    out.scales.clear();
  }
}

Quantized quantize(const Spec& spec, std::span<const float> x, Kernel kernel) {
  Quantized q;
  quantize(spec, x, q, kernel);
  return q;
}

namespace {

void check_consistent(const Quantizer& row, const Quantized& q) {
  const std::size_t nb = q.blocks();
  auto bad = [&](std::string_view what, std::size_t got, std::size_t want) {
    fail("corrupt quantised data for {} ({} values): {} has {} entries, expected {}",
         format(q.spec), q.count, what, got, want);
  };
  if (q.count % q.spec.block != 0) bad("count modulo the block size", q.count % q.spec.block, 0);
  if (q.codes.size() != packed_bytes(q.count, q.spec.bits))
    bad("codes (bytes)", q.codes.size(), packed_bytes(q.count, q.spec.bits));
  const std::vector<Stream> stored = stored_streams(row, q.spec);
  for (const StreamInfo& s : stream_table()) {
    const bool holds = std::find(stored.begin(), stored.end(), s.stream) != stored.end();
    const std::size_t want = holds ? s.expected(nb) : 0;
    if (s.entries(q) != want) bad(s.member, s.entries(q), want);
  }
}

// Whether the decoder multiplies by q.scales as stored (else by decode_scales()).
bool scales_as_stored(const Quantizer& row, const Spec& spec) {
  return !spec.double_quant && !scale_rule(row, spec).decode;
}

std::vector<float> decode_scales(const Quantizer& row, const Quantized& q) {
  return q.spec.double_quant ? double_dequantize(q) : scale_rule(row, q.spec).decode(q);
}

}  // namespace

std::vector<float> decoded_scales(const Quantized& q) {
  const Quantizer& row = quantizer_for(q.spec);
  check_consistent(row, q);
  return scales_as_stored(row, q.spec) ? q.scales : decode_scales(row, q);
}

void dequantize(const Quantized& q, std::span<float> out, Kernel kernel) {
  const Quantizer& row = quantizer_for(q.spec);
  check_consistent(row, q);
  if (out.size() != q.count)
    fail("dequantize: output holds {} values, the quantised buffer {}", out.size(), q.count);
  if (scales_as_stored(row, q.spec)) {
    row.dequantize(row, q, q.scales, out, kernel);
  } else {
    const std::vector<float> scales = decode_scales(row, q);
    row.dequantize(row, q, scales, out, kernel);
  }
}

std::vector<float> dequantize(const Quantized& q, Kernel kernel) {
  std::vector<float> out(q.count);
  dequantize(q, out, kernel);
  return out;
}

void fake_quantize(const Spec& spec, ConstMatrixRef w, Matrix& out) {
  // Quantisation blocks run over the flattened matrix: a strided block is copied to contiguous
  // memory first, a whole matrix is used in place.
  Matrix copy;
  if (w.outerStride() != w.cols()) copy = w;
  const float* p = copy.size() ? copy.data() : w.data();
  const std::span<const float> x(p, static_cast<std::size_t>(w.size()));
  if (const auto i = static_cast<Eigen::Index>(first_non_finite(x)); i < w.size()) {
    fail(
        "cannot quantise a non-finite value ({}) at row {}, column {} of a {}x{} matrix: "
        "every weight must be a finite float32",
        p[i], i / w.cols(), i % w.cols(), w.rows(), w.cols());
  }
  const Quantized q = quantize(spec, x, Kernel::fast);
  out.resize(w.rows(), w.cols());
  dequantize(q, std::span<float>(out.data(), static_cast<std::size_t>(out.size())), Kernel::fast);
}

Matrix fake_quantize(const Spec& spec, ConstMatrixRef w) {
  Matrix out;
  fake_quantize(spec, w, out);
  return out;
}

}  // namespace loft::quant
