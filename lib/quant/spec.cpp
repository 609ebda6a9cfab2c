// Spec strings, derived from the registry rows: "<name>[:asym][:meanstd][:b<N>][:dq]" (see
// spec_syntax()) with options in any order. The canonical form writes the options that select
// a scale rule, then the block size unless it is the row's default, then the others.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <optional>

#include "common/error.hpp"
#include "common/text.hpp"
#include "quant/registry.hpp"

namespace loft::quant {

namespace {

const SpecOption* find_option(std::string_view key) {
  for (const SpecOption* o : spec_options())
    if (o->key == key) return o;
  return nullptr;
}

std::string valid_options() {
  std::vector<std::string_view> keys(name_suffixes());
  for (const SpecOption* o : spec_options()) keys.push_back(o->key);
  return fmt::format(
      "{}, b<N> (a spec is {}; `loftlab quantizers --help` says which rows take "
      "which)",
      join(keys, ", "), spec_syntax());
}

// "nf5" -> a message naming the widths its family has ("nf2, nf3, nf4, nf8").
[[noreturn]] void fail_unknown_name(std::string_view base, std::string_view spec) {
  const std::size_t d = base.find_first_of("0123456789");
  if (d != std::string_view::npos && d > 0 &&
      base.find_first_not_of("0123456789", d) == std::string_view::npos) {
    const std::string_view family = base.substr(0, d);
    std::vector<std::string_view> members;
    for (const auto& row : registry()) {
      const std::string_view n = row.name;
      if (n.starts_with(family) && n.size() > d && n[d] >= '0' && n[d] <= '9') members.push_back(n);
    }
    if (!members.empty())
      fail("unsupported bits in quantizer spec '{}': {} supports {}", spec, family,
           summarize_names(members));
  }
  fail("unknown quantizer '{}' in spec '{}'; valid names: {}", base, spec, registry_names());
}

// "only uniform2..uniform8 take it", "every quantizer but mxfp4 takes it".
std::string who_takes(const SpecOption& o) {
  const std::string rows = rows_taking(o);
  return rows.starts_with("every") ? fmt::format("{} takes it", rows)
                                   : fmt::format("only {} take it", rows);
}

[[noreturn]] void fail_bad_block(std::string_view token, std::string_view spec,
                                 const Quantizer& row) {
  fail("bad block size '{}' in quantizer spec '{}': valid for {} is {}", token, spec, row.name,
       row.blocks.describe());
}

}  // namespace

Spec parse(std::string_view text) {
  if (text.empty()) fail("empty quantizer spec; valid names: {}", registry_names());
  const auto tokens = split(text, ':');
  const std::string_view base = tokens[0];
  const auto suffixes = name_suffixes();
  std::optional<std::string_view> suffix, block_token;
  std::vector<const SpecOption*> given;
  for (std::size_t i = 1; i < tokens.size(); ++i) {
    const std::string_view t = tokens[i];
    if (std::find(suffixes.begin(), suffixes.end(), t) != suffixes.end()) {
      if (suffix) fail("option '{}' given twice in quantizer spec '{}'", t, text);
      suffix = t;
    } else if (const SpecOption* o = find_option(t)) {
      if (std::find(given.begin(), given.end(), o) != given.end())
        fail("option '{}' given twice in quantizer spec '{}'", t, text);
      given.push_back(o);
    } else if (t.size() > 1 && t[0] == 'b') {
      if (block_token) fail("block size given twice in quantizer spec '{}'", text);
      block_token = t;
    } else {
      fail("unknown option '{}' in quantizer spec '{}'; valid options: {}", t, text,
           valid_options());
    }
  }
  const std::string name = suffix ? fmt::format("{}:{}", base, *suffix) : std::string(base);
  const Quantizer* row = find_quantizer(name);
  if (!row) {
    if (suffix && find_quantizer(base)) {
      std::vector<std::string_view> bases;
      for (const auto& r : registry())
        if (r.name.ends_with(fmt::format(":{}", *suffix)))
          bases.push_back(std::string_view(r.name).substr(0, r.name.size() - suffix->size() - 1));
      fail("option '{}' does not apply to '{}' in spec '{}': only {} have :{}", *suffix, base, text,
           summarize_names(bases), *suffix);
    }
    fail_unknown_name(base, text);
  }
  for (const SpecOption* o : given)
    if (!row->takes(*o))
      fail("option '{}' does not apply to '{}' in spec '{}': {}", o->key, name, text,
           who_takes(*o));
  Spec s;
  s.name = name;
  s.bits = row->bits;
  s.block = row->blocks.default_block;
  if (block_token) {
    const std::string_view digits = block_token->substr(1);
    long long b = 0;
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), b);
    if (ec != std::errc() || ptr != digits.data() + digits.size() || !row->blocks.allows(b))
      fail_bad_block(*block_token, text, *row);
    s.block = static_cast<int>(b);
  }
  for (const SpecOption* o : given) s.*(o->flag) = true;
  return s;
}

std::string format(const Spec& s) {
  const Quantizer* row = find_quantizer(s.name);
  std::string out = s.name;
  for (const SpecOption* o : spec_options())
    if (o->rule && s.*(o->flag)) out += fmt::format(":{}", o->key);
  if (!row || s.block != row->blocks.default_block) out += fmt::format(":b{}", s.block);
  for (const SpecOption* o : spec_options())
    if (!o->rule && s.*(o->flag)) out += fmt::format(":{}", o->key);
  return out;
}

void validate(const Spec& s) {
  const Quantizer* row = find_quantizer(s.name);
  if (!row) fail("unknown quantizer '{}'; valid names: {}", s.name, registry_names());
  if (s.bits != row->bits)
    fail("unsupported bits: spec names {} with {} bits, but {} has {} bits", s.name, s.bits, s.name,
         row->bits);
  if (!row->blocks.allows(s.block))
    fail("bad block size {} for {}: valid is {}", s.block, s.name, row->blocks.describe());
  for (const SpecOption* o : spec_options())
    if (s.*(o->flag) && !row->takes(*o))
      fail("{} does not apply to {}: {}", o->key, s.name, who_takes(*o));
}

double bits_per_weight(const Spec& s) {
  const Quantizer& row = quantizer_for(s);
  // The side streams per block, summed before the one division so that the result is exact
  // for power-of-two blocks.
  double per_block = 0;
  for (Stream stream : stored_streams(row, s)) per_block += stream_info(stream).bits_per_block();
  return s.bits + per_block / s.block;
}

}  // namespace loft::quant
