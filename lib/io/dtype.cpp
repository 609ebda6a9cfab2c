#include "io/dtype.hpp"
#include "common/finite.hpp"

#include <array>
#include <bit>
#include <cmath>
#include <cstring>

#include "common/error.hpp"
#include "common/text.hpp"

namespace loft::io {
namespace {

static_assert(std::endian::native == std::endian::little,
              "tensor files are little-endian; loftlab reads them without byte swapping");

template <typename T>
T load_le(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

void f32_to_f32(const std::byte* src, float* dst, size_t n) {
  // An empty tensor's buffer may be null, and memcpy's pointers must not be, even for 0 bytes.
  if (n > 0) std::memcpy(dst, src, n * 4);
}
void f64_to_f32(const std::byte* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(load_le<double>(src + 8 * i));
}
void f16_to_f32(const std::byte* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = half_to_float(load_le<uint16_t>(src + 2 * i));
}
void bf16_to_f32(const std::byte* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_float(load_le<uint16_t>(src + 2 * i));
}

constexpr std::array<Dtype, 4> kDtypes{{
    {"F32", "<f4", 4, f32_to_f32},
    {"F16", "<f2", 2, f16_to_f32},
    {"BF16", "", 2, bf16_to_f32},
    {"F64", "<f8", 8, f64_to_f32},
}};

}  // namespace

std::span<const Dtype> dtypes() {
  return kDtypes;
}

const Dtype* find_dtype(std::string_view name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

const Dtype* find_npy_dtype(std::string_view descr) {
  // A 1-byte-or-native marker ('=') means little-endian on every machine loftlab runs on.
  std::string d(descr);
  if (!d.empty() && d[0] == '=') d[0] = '<';
  for (const auto& t : kDtypes)
    if (*t.npy_descr && d == t.npy_descr) return &t;
  return nullptr;
}

std::string dtype_names() {
  return join(kDtypes, ", ", [](const auto& d) { return d.name; });
}

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t man = h & 0x3ff;
  if (exp == 0) {
    // Zero or subnormal: man * 2^-24 is exact in float32.
    const float v = std::ldexp(static_cast<float>(man), -24);
    return sign ? -v : v;
  }
  uint32_t bits;
  if (exp == 31)
    bits = sign | 0x7f800000u | (man << 13);  // Inf / NaN (payload kept)
  else
    bits = sign | ((exp + 112) << 23) | (man << 13);
  return std::bit_cast<float>(bits);
}

float bf16_to_float(uint16_t b) {
  return std::bit_cast<float>(uint32_t(b) << 16);
}

uint16_t float_to_bf16(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  if (std::isnan(f)) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
  const uint32_t rounding = 0x7fff + ((u >> 16) & 1);
  return static_cast<uint16_t>((u + rounding) >> 16);
}

uint16_t float_to_half(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  const auto sign = static_cast<uint16_t>((u >> 16) & 0x8000);
  const uint32_t abs = u & 0x7fffffff;
  if (abs > 0x7f800000) return static_cast<uint16_t>(sign | 0x7e00);   // NaN
  if (abs >= 0x477ff000) return static_cast<uint16_t>(sign | 0x7c00);  // rounds past 65504
  if (abs < 0x38800000) {
    // Subnormal half (or zero): the value in units of 2^-24, rounded to nearest even.
    if (abs < 0x33000000) return sign;  // below half the smallest subnormal
    const uint32_t mant = (abs & 0x7fffff) | 0x800000;
    const int shift = 126 - static_cast<int>(abs >> 23);  // 14 .. 24
    const uint32_t q = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    const uint32_t r = q + (rem > half || (rem == half && (q & 1)));
    return static_cast<uint16_t>(sign | r);
  }
  // Normal: rebias the exponent and round the 13 dropped mantissa bits to nearest even (a carry
  // into the exponent is the correct result).
  const uint32_t v = abs - 0x38000000;
  const uint32_t r = (v + 0xfff + ((v >> 13) & 1)) >> 13;
  return static_cast<uint16_t>(sign | r);
}

std::vector<std::byte> encode_f32(std::span<const float> values, std::string_view dtype) {
  const Dtype* d = find_dtype(dtype);
  if (!d) fail("unknown dtype '{}' (valid: {})", dtype, dtype_names());
  std::vector<std::byte> out(values.size() * static_cast<size_t>(d->bytes));
  auto put = [&](size_t i, auto v) { std::memcpy(out.data() + i * sizeof v, &v, sizeof v); };
  const std::string_view name = d->name;
  auto each = [&](auto convert) {
    for (size_t i = 0; i < values.size(); ++i) put(i, convert(values[i]));
  };
  if (name == "F32")
    each([](float v) { return v; });
  else if (name == "F64")
    each([](float v) { return static_cast<double>(v); });
  else if (name == "BF16")
    each(float_to_bf16);
  else
    each(float_to_half);
  return out;
}

void check_finite(std::span<const float> data, std::string_view tensor, std::string_view file) {
  if (const std::size_t i = first_non_finite(data); i < data.size())
    fail(
        "tensor '{}' in {} holds a non-finite value ({}) at flat index {}; weights must be "
        "finite",
        tensor, file, data[i], i);
}

ElementCount element_count(std::span<const int64_t> shape) {
  constexpr uint64_t kMax = uint64_t(1) << 62;
  ElementCount c;
  for (const int64_t d : shape) {
    if (d < 0 || (d > 0 && c.n > kMax / static_cast<uint64_t>(d))) return {0, false};
    c.n *= static_cast<uint64_t>(d);
  }
  return c;
}

Matrix decode_tensor(std::span<const std::byte> raw, const Dtype& dtype,
                     std::span<const int64_t> shape, std::string_view tensor,
                     std::string_view file) {
  if (shape.size() > 2)
    fail("tensor '{}' in {} has {} dimensions; sources yield matrices (2-D) and vectors (1-D)",
         tensor, file, shape.size());
  const int64_t rows = shape.size() == 2 ? shape[0] : 1;
  const int64_t cols = shape.empty() ? 1 : shape.back();
  const auto count = element_count(shape);
  const size_t n = static_cast<size_t>(count.n);
  if (!count.ok || n > raw.size() || raw.size() != n * static_cast<size_t>(dtype.bytes))
    fail("tensor '{}' in {}: {} bytes of data for {} {} values (expected {})", tensor, file,
         raw.size(), n, dtype.name, n * static_cast<size_t>(dtype.bytes));
  Matrix m(rows, cols);
  dtype.to_f32(raw.data(), m.data(), n);
  check_finite({m.data(), n}, tensor, file);
  return m;
}

}  // namespace loft::io
