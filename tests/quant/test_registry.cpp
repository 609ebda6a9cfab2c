// Properties every registry row must have; the loops pick up new rows with no edits here.
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <set>

#include "common/error.hpp"
#include "quant/codebooks.hpp"
#include "quant/packing.hpp"
#include "quant_test_support.hpp"

using namespace loft::quant;
using loft::test::all_specs;
using loft::test::gaussian;
using loft::test::relative_error;

namespace {

// Adversarial values for one spec, in whole blocks of spec.block: exact midpoints between
// levels (and their float neighbours) with a block scale that makes y == x, -0.0, denormals,
// all-zero blocks, huge and tiny magnitudes side by side, single outliers.
std::vector<float> adversarial(const Spec& spec) {
  const Quantizer& row = *find_quantizer(spec.name);
  const std::size_t B = spec.block;
  std::vector<float> v;
  auto pad_block = [&](float fill) {
    while (v.size() % B) v.push_back(fill);
  };
  const float inf = std::numeric_limits<float>::infinity();
  // Midpoints, each block anchored so that the scale is exactly 1 (absmax 1, or for the
  // affine rows min 0 and max 2^k - 1 so that the step is 1).
  std::vector<float> points;
  std::vector<float> anchors;
  if (row.codebook) {
    std::vector<float> l = row.codebook->levels();
    std::sort(l.begin(), l.end());
    for (std::size_t j = 0; j + 1 < l.size(); ++j) {
      const float m = static_cast<float>((static_cast<double>(l[j]) + l[j + 1]) / 2);
      points.insert(points.end(), {m, std::nextafter(m, -inf), std::nextafter(m, inf)});
    }
    // The outermost levels: a block holding them has the scale that makes y == x (absmax 1
    // for levels in [-1, 1]).
    anchors = {l.back(), l.front()};
  } else {
    const float top = static_cast<float>((1 << spec.bits) - 1);
    for (float j = 0; j + 1 <= top; ++j)
      points.insert(points.end(),
                    {j + 0.5f, std::nextafter(j + 0.5f, -inf), std::nextafter(j + 0.5f, inf)});
    anchors = {0.0f, top};
  }
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (v.size() % B == 0) v.insert(v.end(), anchors.begin(), anchors.end());
    v.push_back(points[i]);
  }
  pad_block(anchors[0]);
  // Special values.
  const float den = std::numeric_limits<float>::denorm_min();
  const float big = 3e38f;
  for (float x : {-0.0f, 0.0f, den, -den, 1e-40f, -3e-39f, 1e-30f, 1e30f, -1e-30f, big, -big, 1.0f,
                  std::nextafter(1.0f, 0.0f), 1e-38f, -1e-45f})
    v.push_back(x);
  pad_block(-0.0f);
  pad_block(0.0f);
  for (std::size_t i = 0; i < B; ++i) v.push_back(0.0f);                       // all-zero block
  for (std::size_t i = 0; i < B; ++i) v.push_back(-0.0f);                      // all negative zero
  for (std::size_t i = 0; i < B; ++i) v.push_back(i % 2 ? den : -den);         // denormal scale
  for (std::size_t i = 0; i < B; ++i) v.push_back(i == 3 ? 1.0f : 1e-7f * i);  // one outlier
  for (std::size_t i = 0; i < B; ++i) v.push_back(-5.0f);                      // constant
  for (std::size_t i = 0; i < B; ++i) v.push_back(i % 3 ? 1e-30f : 1e30f);     // huge range
  // Gaussian blocks at wildly different magnitudes.
  const auto g = gaussian(8 * B, 7, spec.name);
  for (std::size_t i = 0; i < g.size(); ++i)
    v.push_back(g[i] * std::pow(10.0f, static_cast<float>(static_cast<int>(i / B) * 9 - 36)));
  return v;
}

std::size_t level_count(const Spec& spec) {
  const Quantizer& row = *find_quantizer(spec.name);
  return row.codebook ? row.codebook->levels().size() : std::size_t{1} << spec.bits;
}

// Roundtrip error bound on Gaussian data by code bits (relative Frobenius error); about 1.25x
// the worst row of each width measured on this data, roughly halving per extra bit.
double error_bound(int bits) {
  switch (bits) {
    case 2:
      return 0.85;
    case 3:
      return 0.33;
    case 4:
      return 0.17;
    case 5:
      return 0.085;
    case 6:
      return 0.043;
    case 7:
      return 0.022;
    default:
      return 0.011;
  }
}

}  // namespace

TEST_CASE("registry: names are unique and every row is complete") {
  std::set<std::string> names;
  for (const auto& row : registry()) {
    INFO(row.name);
    CHECK(names.insert(row.name).second);
    CHECK(row.bits >= 2);
    CHECK(row.bits <= 8);
    CHECK(!row.description.empty());
    CHECK(row.quantize != nullptr);
    CHECK(row.dequantize != nullptr);
    if (row.codebook) CHECK(row.codebook->levels().size() <= (std::size_t{1} << row.bits));
    // The scale rule stores something per block, and a table kernel has a scale to divide by.
    REQUIRE(row.scale != nullptr);
    CHECK(!row.scale->streams.empty());
    if (row.quantize == quantize_table) CHECK(row.scale->scale != nullptr);
    // Scales that are not stored as float32 need a decoder.
    const auto& st = row.scale->streams;
    if (std::find(st.begin(), st.end(), Stream::scale) == st.end())
      CHECK(row.scale->decode != nullptr);
    // Block sizes: the default is taken, and every block taken packs into whole bytes.
    const BlockSizes& b = row.blocks;
    CHECK(b.allows(b.default_block));
    CHECK(b.min >= 1);
    CHECK(b.min % b.multiple == 0);
    CHECK(b.multiple * row.bits % 8 == 0);
    // Options: known, given once, and :dq only where there are float32 scales to compress.
    std::set<const SpecOption*> seen;
    for (const SpecOption* o : row.options) {
      CHECK(std::find(spec_options().begin(), spec_options().end(), o) != spec_options().end());
      CHECK(seen.insert(o).second);
      if (o == &double_quant_option())
        CHECK(std::find(st.begin(), st.end(), Stream::scale) != st.end());
      if (o->rule) CHECK(o->rule->streams == row.scale->streams);  // same storage, other rule
    }
  }
  for (const char* n :
       {"nf2", "nf3", "nf4", "nf8", "fp4", "int2", "int8", "int4:asym", "uniform2", "uniform8"})
    CHECK(names.count(n) == 1);
}

TEST_CASE("registry: the side-stream table is indexed by Stream and every width is positive") {
  for (std::size_t i = 0; i < stream_table().size(); ++i) {
    const StreamInfo& s = stream_table()[i];
    INFO(s.member);
    CHECK(static_cast<std::size_t>(s.stream) == i);
    CHECK(&stream_info(s.stream) == &s);
    CHECK(s.bits > 0);
    CHECK(!s.what.empty());
  }
}

TEST_CASE("registry: each row's specs are exactly what it takes") {
  for (const auto& row : registry()) {
    INFO(row.name);
    for (const Spec& s : loft::test::specs_of(row)) {
      INFO(format(s));
      CHECK(row.blocks.allows(s.block));
      for (const SpecOption* o : spec_options()) CHECK((!(s.*(o->flag)) || row.takes(*o)));
      CHECK_NOTHROW(validate(s));
    }
    // What it does not take is refused, naming the row.
    for (const SpecOption* o : spec_options())
      if (!row.takes(*o))
        CHECK_THROWS_WITH(
            parse(fmt::format("{}:{}", row.name, o->key)),
            Catch::Matchers::Contains(row.name) && Catch::Matchers::Contains("does not apply"));
    for (int b : {12, 8, 16, 32, 64, 128, 4096})
      if (!row.blocks.allows(b))
        CHECK_THROWS_WITH(parse(fmt::format("{}:b{}", row.name, b)),
                          Catch::Matchers::Contains("bad block size") &&
                              Catch::Matchers::Contains(row.blocks.describe()));
    // The default block is left out of the canonical form.
    CHECK(format(parse(fmt::format("{}:b{}", row.name, row.blocks.default_block))) == row.name);
  }
}

TEST_CASE("registry: every spec round-trips through format and parse") {
  for (const Spec& s : all_specs()) {
    INFO(format(s));
    const Spec t = parse(format(s));
    CHECK(format(t) == format(s));
    CHECK(t.name == s.name);
    CHECK(t.bits == s.bits);
    CHECK(t.block == s.block);
    CHECK(t.double_quant == s.double_quant);
    CHECK(t.meanstd == s.meanstd);
    CHECK(t.bits == find_quantizer(s.name)->bits);
  }
}

TEST_CASE("registry: codes in range and roundtrip error on Gaussian data") {
  const auto x = gaussian(64 * 256, 1, "roundtrip");
  for (const Spec& s : all_specs()) {
    INFO(format(s));
    const Quantized q = quantize(s, x);
    REQUIRE(q.count == x.size());
    REQUIRE(q.codes.size() == packed_bytes(x.size(), s.bits));
    std::set<uint32_t> used;
    for (std::size_t i = 0; i < q.count; ++i) {
      const uint32_t c = q.code(i);
      REQUIRE(c < level_count(s));
      used.insert(c);
    }
    CHECK(used.size() >= std::min<std::size_t>(level_count(s) * 3 / 4, 16));
    for (uint8_t z : q.zero_points) CHECK(z < (1u << s.bits));
    const auto y = dequantize(q);
    const double err = relative_error(x, y);
    INFO("relative error " << err);
    // :meanstd clips values beyond mean + 2.5 std: on Gaussian data a floor of about 0.047 at
    // blocks of 64 and 0.075 at blocks of 8 (the std of 8 values lets more through).
    const double clip = s.block < 32 ? 0.07 : 0.06;
    const double bound = error_bound(s.bits) + (s.meanstd ? clip : 0.0);
    CHECK(err < bound);
    CHECK(err > error_bound(s.bits) / 16);  // a quantizer, not the identity
  }
}

TEST_CASE("registry: more bits, less error, within each family") {
  // Families from the names: the rows that differ only in their width ("int2".."int8", and
  // "int2:asym".."int8:asym" apart), each at its defaults, in order of bits.
  std::map<std::string, std::vector<const Quantizer*>> families;
  for (const auto& row : registry()) {
    const std::size_t d = row.name.find_first_of("0123456789");
    const std::size_t e = row.name.find_first_not_of("0123456789", d);
    const std::string family =
        row.name.substr(0, d) + "#" + (e == std::string::npos ? std::string() : row.name.substr(e));
    families[family].push_back(&row);
  }
  const auto x = gaussian(64 * 256, 2, "monotone");
  std::size_t compared = 0;
  for (auto& [family, rows] : families) {
    std::sort(rows.begin(), rows.end(),
              [](const Quantizer* a, const Quantizer* b) { return a->bits < b->bits; });
    double previous = 1e9;
    for (const Quantizer* row : rows) {
      const double err = relative_error(x, dequantize(quantize(parse(row->name), x)));
      INFO(row->name << " error " << err);
      CHECK(err < previous);
      previous = err;
    }
    compared += rows.size() > 1 ? rows.size() : 0;
  }
  CHECK(compared >= 4 * 4);  // nf, int, int:asym and uniform at least
}

TEST_CASE("registry: fast path equals the reference on random and adversarial inputs") {
  const auto random = gaussian(64 * 64, 3, "fast-vs-reference");
  for (const Spec& s : all_specs()) {
    for (const auto& x : {random, adversarial(s)}) {
      INFO(format(s) << ", " << x.size() << " values");
      Quantized ref;
      try {
        quantize(s, x, ref, Kernel::reference);
      } catch (const loft::Error& e) {
        // Data a spec cannot store (:dq of :meanstd scales near the float32 limit, say): the
        // fast path refuses it with the same message.
        CHECK_THROWS_WITH(quantize(s, x, Kernel::fast), e.what());
        continue;
      }
      const Quantized fast = quantize(s, x, Kernel::fast);
      loft::test::require_identical(ref, fast);
      const auto a = dequantize(ref, Kernel::reference);
      const auto b = dequantize(ref, Kernel::fast);
      REQUIRE(loft::test::same_bits(a, b));
      for (float v : b) REQUIRE(!std::isnan(v));
    }
  }
}

TEST_CASE("registry: outputs beyond the last-level cache (streaming stores) decode the same") {
  // The table kernels write a 2- or 4-bit decode larger than streaming_store_bytes() with
  // streaming stores when the output is 64-byte aligned; a misaligned view of the same size
  // takes ordinary stores. Both must equal the reference.
  const std::size_t bytes = streaming_store_bytes();
  if (bytes > (std::size_t{128} << 20)) {
    WARN("skipped: the last-level cache is " << bytes << " bytes, too large to exceed here");
    return;
  }
  const auto tile = gaussian(1 << 16, 9, "stream");
  const std::size_t n = (bytes / sizeof(float) / tile.size() + 2) * tile.size();
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = tile[i % tile.size()] * (1.0f + i / tile.size());
  Eigen::VectorXf aligned(static_cast<Eigen::Index>(n)), shifted(static_cast<Eigen::Index>(n + 1));
  REQUIRE(reinterpret_cast<std::uintptr_t>(aligned.data()) % 64 == 0);
  for (const auto& row : registry()) {
    if (row.dequantize != dequantize_table || row.bits > 4 || row.bits % 2) continue;
    INFO(row.name);
    const Quantized q = quantize(parse(row.name), x);
    dequantize(q, std::span<float>(aligned.data(), n));
    dequantize(q, std::span<float>(shifted.data() + 1, n));
    REQUIRE(std::memcmp(aligned.data(), shifted.data() + 1, n * sizeof(float)) == 0);
    // The reference on a stretch at the start and at the end.
    for (std::size_t start : {std::size_t{0}, n - tile.size()}) {
      Quantized part =
          quantize(parse(row.name), std::span<const float>(x).subspan(start, tile.size()));
      const auto want = dequantize(part, Kernel::reference);
      REQUIRE(std::memcmp(want.data(), aligned.data() + start, want.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("registry: the fast path gives the same bytes with 1 and 2 threads") {
  const auto x = gaussian(64 * 1024, 4, "threads");
  const int saved = omp_get_max_threads();
  for (const Spec& s : loft::test::default_specs()) {
    INFO(format(s));
    omp_set_num_threads(1);
    const Quantized one = quantize(s, x);
    const auto y1 = dequantize(one);
    omp_set_num_threads(2);
    const Quantized two = quantize(s, x);
    loft::test::require_identical(one, two);
    REQUIRE(loft::test::same_bits(y1, dequantize(two)));
  }
  omp_set_num_threads(saved);
}

TEST_CASE("registry: storage bits match what is stored") {
  const auto x = gaussian(64 * 512, 5, "storage");
  for (const Spec& s : all_specs()) {
    INFO(format(s));
    const Quantized q = quantize(s, x);
    const double stored = q.storage_bits() / static_cast<double>(q.count);
    // bits_per_weight leaves out the one float32 mean of :dq.
    const double mean_bits = s.double_quant ? 32.0 / q.count : 0.0;
    CHECK(stored == Approx(bits_per_weight(s) + mean_bits).epsilon(1e-12));
    CHECK(bits_per_weight(s) > s.bits);
  }
  CHECK(bits_per_weight(parse("nf4")) == 4.5);
  CHECK(bits_per_weight(parse("nf4:dq")) == Approx(4.127).margin(0.0005));
  CHECK(bits_per_weight(parse("nf4:dq")) == 4.0 + 8.0 / 64 + 32.0 / (64 * 256));
  CHECK(bits_per_weight(parse("nf2:b128")) == 2.25);
  CHECK(bits_per_weight(parse("int4:asym")) == 4.0 + 40.0 / 64);
}

TEST_CASE("registry: storage counts every stored entry, partial :dq groups included") {
  // 300 blocks: under :dq the last group holds 44 scales and still costs a whole float32.
  for (const Spec& s : all_specs()) {
    INFO(format(s));
    const Quantized q = quantize(s, gaussian(static_cast<std::size_t>(s.block) * 300, 6, "ragged"));
    const std::size_t groups = (300 + kDoubleQuantGroup - 1) / kDoubleQuantGroup;
    const double padding = s.double_quant ? 32.0 * (groups - 300.0 / kDoubleQuantGroup) : 0.0;
    const double mean_bits = s.double_quant ? 32.0 : 0.0;
    CHECK(q.storage_bits() ==
          Approx(bits_per_weight(s) * static_cast<double>(q.count) + padding + mean_bits)
              .epsilon(1e-12));
  }
}

TEST_CASE("registry: a side stream of the wrong length is an error naming it, for every row") {
  for (const Spec& s : all_specs()) {
    const Quantized good = quantize(s, gaussian(static_cast<std::size_t>(s.block) * 4, 8, "len"));
    const auto stored = stored_streams(*find_quantizer(s.name), s);
    std::vector<float> out(good.count);
    for (const StreamInfo& info : stream_table()) {
      INFO(format(s) << ", " << info.member);
      Quantized q = good;
      const bool holds = std::find(stored.begin(), stored.end(), info.stream) != stored.end();
      if (holds) {
        if (info.blocks == 0) continue;  // one per buffer: implied by the spec
        info.clear(q);
      } else {
        switch (info.stream) {  // one entry where the row stores none
          case Stream::scale:
          case Stream::scale_absmax:
            (info.stream == Stream::scale ? q.scales : q.scale_absmax).push_back(1.0f);
            break;
          case Stream::zero_point:
            q.zero_points.push_back(0);
            break;
          case Stream::exponent:
            q.exponents.push_back(127);
            break;
          case Stream::scale_code:
            q.scale_codes.push_back(0);
            break;
          case Stream::scale_offset:
            continue;  // implied by the spec
        }
      }
      CHECK_THROWS_WITH(dequantize(q, out), Catch::Matchers::Contains(std::string(info.member)) &&
                                                Catch::Matchers::Contains("corrupt"));
    }
  }
}
