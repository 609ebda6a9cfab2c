// Spec strings: "<name>[:asym][:meanstd][:b<N>][:dq]" with options in any order; the canonical
// form lists them in that order and leaves out the default block size (64).
#include <fmt/format.h>

#include <charconv>
#include <set>

#include "common/error.hpp"
#include "quant/registry.hpp"

namespace loft::quant {

namespace {

constexpr const char* kOptions =
    "b<N> (block size, a multiple of 8 in [8, 1048576]; default 64), dq (double quantisation "
    "of the scales), meanstd (uniform{k} only), asym (int{k} only)";

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

bool valid_block(long long b) {
  return b >= kMinBlock && b <= kMaxBlock && b % 8 == 0;
}

// "nf5" -> a message naming the supported widths of that family.
[[noreturn]] void fail_unknown_name(std::string_view base, std::string_view spec) {
  static constexpr std::pair<const char*, const char*> families[] = {
      {"nf", "nf2, nf3, nf4, nf8"},
      {"fp", "fp4"},
      {"int", "int2..int8 (and int2:asym..int8:asym)"},
      {"uniform", "uniform2..uniform8"}};
  for (const auto& [prefix, supported] : families) {
    const std::string_view p = prefix;
    if (base.size() > p.size() && base.substr(0, p.size()) == p &&
        base.find_first_not_of("0123456789", p.size()) == std::string_view::npos)
      fail("unsupported bits in quantizer spec '{}': {} supports {}", spec, p, supported);
  }
  fail("unknown quantizer '{}' in spec '{}'; valid names: {}", base, spec, registry_names());
}

}  // namespace

Spec parse(std::string_view text) {
  if (text.empty()) fail("empty quantizer spec; valid names: {}", registry_names());
  const auto tokens = split(text, ':');
  const std::string_view base = tokens[0];
  bool asym = false, dq = false, meanstd = false, has_block = false;
  int block = 64;
  for (std::size_t i = 1; i < tokens.size(); ++i) {
    const std::string_view t = tokens[i];
    bool* flag = t == "asym" ? &asym : t == "dq" ? &dq : t == "meanstd" ? &meanstd : nullptr;
    if (flag) {
      if (*flag) fail("option '{}' given twice in quantizer spec '{}'", t, text);
      *flag = true;
    } else if (t.size() > 1 && t[0] == 'b') {
      if (has_block) fail("block size given twice in quantizer spec '{}'", text);
      long long b = 0;
      const auto [ptr, ec] = std::from_chars(t.data() + 1, t.data() + t.size(), b);
      if (ec != std::errc() || ptr != t.data() + t.size() || !valid_block(b))
        fail(
            "bad block size '{}' in quantizer spec '{}': valid is b<N> with N a multiple of 8 "
            "in [{}, {}]",
            t, text, kMinBlock, kMaxBlock);
      block = static_cast<int>(b);
      has_block = true;
    } else {
      fail("unknown option '{}' in quantizer spec '{}'; valid options: {}", t, text, kOptions);
    }
  }
  const std::string name = asym ? fmt::format("{}:asym", base) : std::string(base);
  const Quantizer* row = find_quantizer(name);
  if (!row) {
    if (asym && find_quantizer(base))
      fail("option 'asym' does not apply to '{}' in spec '{}': only int2..int8 have :asym", base,
           text);
    fail_unknown_name(base, text);
  }
  if (meanstd && !row->allows_meanstd)
    fail("option 'meanstd' does not apply to '{}' in spec '{}': only uniform2..uniform8 have it",
         name, text);
  Spec s;
  s.name = name;
  s.bits = row->bits;
  s.block = block;
  s.double_quant = dq;
  s.meanstd = meanstd;
  return s;
}

std::string format(const Spec& s) {
  std::string out = s.name;
  if (s.meanstd) out += ":meanstd";
  if (s.block != 64) out += fmt::format(":b{}", s.block);
  if (s.double_quant) out += ":dq";
  return out;
}

void validate(const Spec& s) {
  const Quantizer* row = find_quantizer(s.name);
  if (!row) fail("unknown quantizer '{}'; valid names: {}", s.name, registry_names());
  if (s.bits != row->bits)
    fail("unsupported bits: spec names {} with {} bits, but {} has {} bits", s.name, s.bits, s.name,
         row->bits);
  if (!valid_block(s.block))
    fail("bad block size {} for {}: valid is a multiple of 8 in [{}, {}]", s.block, s.name,
         kMinBlock, kMaxBlock);
  if (s.meanstd && !row->allows_meanstd)
    fail("meanstd does not apply to {}: only uniform2..uniform8 have it", s.name);
}

double bits_per_weight(const Spec& s) {
  const Quantizer& row = quantizer_for(s);
  const double B = s.block;
  // Per block: a float32 scale, or under :dq an 8-bit code plus a float32 absmax per 256
  // blocks; affine rows add a uint8 zero point.
  double per_block = s.double_quant ? 8.0 + 32.0 / kDoubleQuantGroup : 32.0;
  if (row.rule == ScaleRule::minmax) per_block += 8.0;
  return s.bits + per_block / B;
}

}  // namespace loft::quant
