// Behaviour of the quantizers beyond the registry-wide properties: nearest level and ties,
// zero blocks, block layout over the flattened matrix, the scale rules, double quantisation.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "quant/codebooks.hpp"
#include "quant_test_support.hpp"

using namespace loft::quant;

namespace {

// The PEFT/LoftQ formulation on one block: absmax, argmin |x/absmax - table| (first index on
// ties, evaluated in double here), decode table[code] * absmax.
std::vector<float> argmin_roundtrip(const std::vector<float>& table, std::span<const float> x,
                                    std::size_t B) {
  std::vector<float> out(x.size());
  for (std::size_t b = 0; b < x.size() / B; ++b) {
    float absmax = 0;
    for (std::size_t i = 0; i < B; ++i) absmax = std::max(absmax, std::fabs(x[b * B + i]));
    for (std::size_t i = 0; i < B; ++i) {
      const double y = absmax == 0 ? 0.0 : static_cast<double>(x[b * B + i] / absmax);
      std::size_t best = 0;
      for (std::size_t c = 1; c < table.size(); ++c)
        if (std::abs(y - table[c]) < std::abs(y - table[best])) best = c;
      out[b * B + i] = table[best] * absmax;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("table quantizers agree with the argmin formulation of PEFT/LoftQ on Gaussian data") {
  // Every row coded by the table kernel with an absmax scale, at its default block.
  std::size_t rows = 0;
  for (const auto& row : registry()) {
    if (row.quantize != quantize_table || row.scale != &absmax_rule()) continue;
    INFO(row.name);
    const Spec s = parse(row.name);
    const auto x = loft::test::gaussian(static_cast<std::size_t>(s.block) * 128, 11, "argmin");
    const auto want = argmin_roundtrip(row.codebook->levels(), x, s.block);
    CHECK(loft::test::same_bits(dequantize(quantize(s, x)), want));
    ++rows;
  }
  CHECK(rows >= 5);  // nf, fp4, int and uniform rows at least
}

TEST_CASE("an all-zero block decodes to zeros, its neighbours unaffected") {
  for (const Spec& s : loft::test::all_specs()) {
    INFO(format(s));
    auto x = loft::test::gaussian(s.block * 3, 12, "zero-block");
    std::fill(x.begin() + s.block, x.begin() + 2 * s.block, 0.0f);
    const auto y = dequantize(quantize(s, x));
    // Under :dq the compressed scale of a zero block is near, not at, zero; only levels that
    // include an exact zero then decode it exactly (uniform{k} has no zero level).
    const auto* book = find_quantizer(s.name)->codebook.get();
    const bool zero_level = !book || std::find(book->levels().begin(), book->levels().end(),
                                               0.0f) != book->levels().end();
    const bool exact = !s.double_quant || zero_level;
    for (int i = s.block; i < 2 * s.block; ++i) {
      if (exact)
        REQUIRE(y[i] == 0.0f);
      else
        REQUIRE(std::abs(y[i]) < 1e-2f);
    }
    REQUIRE(std::abs(y[0]) + std::abs(y[2 * s.block]) > 0.0f);
  }
}

TEST_CASE("blocks run over the row-major flattened matrix and may straddle rows") {
  // 4 rows of 96, blocks of 64: flat block 1 (values 64..127) holds the end of row 0 and the
  // start of row 1, so an outlier at row 1, column 10 (flat 106) scales the end of row 0 too.
  loft::Matrix w(4, 96);
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 96; ++c) w(r, c) = static_cast<float>((r * 96 + c) % 17) - 8.0f;
  w(1, 10) = 100.0f;
  const auto q = fake_quantize(parse("int8"), w);
  const std::vector<float> flat(w.data(), w.data() + w.size());
  const Quantized direct = quantize(parse("int8"), flat);
  CHECK(direct.scales[0] == 8.0f);
  CHECK(direct.scales[1] == 100.0f);
  CHECK(direct.scales[2] == 8.0f);
  const auto y = dequantize(direct);
  CHECK(loft::test::same_bits(std::vector<float>(q.data(), q.data() + q.size()), y));
  // A strided block of a bigger matrix quantises like its contiguous copy.
  loft::Matrix big = loft::Matrix::Zero(6, 128);
  big.block(1, 16, 4, 96) = w;
  const loft::Matrix from_view = fake_quantize(parse("int8"), big.block(1, 16, 4, 96));
  CHECK(from_view == q);
}

TEST_CASE("nearest level with ties to the lower code, in the quantised domain") {
  // int2 levels are {-1, 0, 1} * absmax; 0.5 is a tie between 0 and 1 -> 0, -0.5 -> -1.
  std::vector<float> x(64, 0.0f);
  x[0] = 1.0f;
  x[1] = 0.5f;
  x[2] = -0.5f;
  x[3] = std::nextafter(0.5f, 1.0f);
  x[4] = -0.25f;
  const auto y = dequantize(quantize(parse("int2"), x));
  CHECK(y[1] == 0.0f);
  CHECK(y[2] == -1.0f);
  CHECK(y[3] == 1.0f);
  CHECK(y[4] == 0.0f);
  // int4:asym on [0, 15]: step 1, zero point 0; 2.5 ties down to 2, 2.5000002 goes to 3.
  std::vector<float> a(64, 0.0f);
  a[0] = 15.0f;
  a[1] = 2.5f;
  a[2] = std::nextafter(2.5f, 3.0f);
  a[3] = std::nextafter(2.5f, 2.0f);
  const Quantized qa = quantize(parse("int4:asym"), a);
  CHECK(qa.scales[0] == 1.0f);
  CHECK(qa.zero_points[0] == 0);
  CHECK(qa.code(1) == 2);
  CHECK(qa.code(2) == 3);
  CHECK(qa.code(3) == 2);
}

TEST_CASE("int{k}:asym: min-max range including zero, exact zero, uint8 zero point") {
  for (int k = 2; k <= 8; ++k) {
    const Spec s = parse(fmt::format("int{}:asym", k));
    auto x = loft::test::gaussian(64 * 16, 13, "asym");
    for (std::size_t i = 0; i < 64; ++i) x[i] = 3.0f + std::fabs(x[i]);  // all positive block
    x[100] = 0.0f;
    const Quantized q = quantize(s, x);
    const auto y = dequantize(q);
    INFO(format(s));
    CHECK(y[100] == 0.0f);
    CHECK(q.zero_points[0] == 0);  // the range [0, max] starts at zero
    // Every value within half a step of its decoded level (step = range / (2^k - 1)).
    for (std::size_t i = 0; i < x.size(); ++i)
      REQUIRE(std::abs(x[i] - y[i]) <= 0.5f * q.scales[i / 64] * 1.0001f);
  }
}

TEST_CASE("uniform{k}:meanstd uses the block mean + 2.5 std (unbiased) and clips beyond it") {
  std::vector<float> x(64);
  for (int i = 0; i < 64; ++i) x[i] = static_cast<float>(i % 8) - 2.0f;
  x[7] = 40.0f;  // an outlier far beyond mean + 2.5 std
  const Quantized q = quantize(parse("uniform4:meanstd"), x);
  const double mean = std::accumulate(x.begin(), x.end(), 0.0) / 64;
  double ss = 0;
  for (float v : x) ss += (v - mean) * (v - mean);
  const float want = static_cast<float>(mean + 2.5 * std::sqrt(ss / 63));
  CHECK(q.scales[0] == want);
  const auto y = dequantize(q);
  CHECK(y[7] == want);  // clipped to the top level (1.0 * scale)
  // A constant negative block: scale = mean = -3, and it decodes exactly.
  const std::vector<float> c(64, -3.0f);
  const Quantized qc = quantize(parse("uniform2:meanstd"), c);
  CHECK(qc.scales[0] == -3.0f);
  for (float v : dequantize(qc)) CHECK(v == -3.0f);
}

TEST_CASE(":dq quantises the scales as bitsandbytes does") {
  // 600 blocks: groups of 256, 256 and 88 scales.
  const auto x = loft::test::gaussian(64 * 600, 14, "dq");
  const Quantized plain = quantize(parse("nf4"), x);
  const Quantized dq = quantize(parse("nf4:dq"), x);
  CHECK(dq.codes == plain.codes);  // weights are coded with the exact scales
  CHECK(dq.scales.empty());
  REQUIRE(dq.scale_codes.size() == 600);
  REQUIRE(dq.scale_absmax.size() == 3);
  double mean = 0;
  for (float s : plain.scales) mean += s;
  mean /= 600;
  CHECK(dq.scale_offset == static_cast<float>(mean));
  const auto& map = dynamic_map_levels();
  const auto decoded = decoded_scales(dq);
  for (std::size_t b = 0; b < 600; ++b) {
    INFO("block " << b);
    const float absmax = dq.scale_absmax[b / 256];
    float group_max = 0;
    for (std::size_t i = (b / 256) * 256; i < std::min<std::size_t>(600, (b / 256 + 1) * 256); ++i)
      group_max = std::max(group_max, std::fabs(plain.scales[i] - dq.scale_offset));
    REQUIRE(absmax == group_max);
    REQUIRE(decoded[b] == map[dq.scale_codes[b]] * absmax + dq.scale_offset);
    // The 8-bit dynamic map keeps scales to within about 1% of the group's spread.
    REQUIRE(std::abs(decoded[b] - plain.scales[b]) <= 0.01f * absmax);
  }
  const double err_plain = loft::test::relative_error(x, dequantize(plain));
  const double err_dq = loft::test::relative_error(x, dequantize(dq));
  CHECK(err_dq == Approx(err_plain).epsilon(0.01));
}

TEST_CASE("fake_quantize returns the matrix shape and is idempotent on its output's grid") {
  const auto g = loft::test::gaussian(32 * 64, 15, "fake");
  const loft::Matrix w = Eigen::Map<const loft::Matrix>(g.data(), 32, 64);
  const auto q = fake_quantize(parse("nf4"), w);
  CHECK(q.rows() == 32);
  CHECK(q.cols() == 64);
  CHECK(fake_quantize(parse("nf4"), q) == q);  // absmax is kept, every value is on a level
}
