// The rows of the quantizer registry, and what is derived from them for parsing and listings.
#include "quant/registry.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "common/error.hpp"
#include "common/text.hpp"
#include "quant/codebooks.hpp"
#include "quant/mx.hpp"

namespace loft::quant {

// ---- side streams ----

const std::vector<StreamInfo>& stream_table() {
  static const std::vector<StreamInfo> table = {
      {Stream::scale, "scales", "f32 scale", 32, 1,
       [](const Quantized& q) { return q.scales.size(); }, [](Quantized& q) { q.scales.clear(); }},
      {Stream::zero_point, "zero_points", "u8 zero point", 8, 1,
       [](const Quantized& q) { return q.zero_points.size(); },
       [](Quantized& q) { q.zero_points.clear(); }},
      {Stream::exponent, "exponents", "E8M0 exponent", 8, 1,
       [](const Quantized& q) { return q.exponents.size(); },
       [](Quantized& q) { q.exponents.clear(); }},
      {Stream::scale_code, "scale_codes", "u8 scale code", 8, 1,
       [](const Quantized& q) { return q.scale_codes.size(); },
       [](Quantized& q) { q.scale_codes.clear(); }},
      {Stream::scale_absmax, "scale_absmax", "f32 absmax per 256 blocks", 32, kDoubleQuantGroup,
       [](const Quantized& q) { return q.scale_absmax.size(); },
       [](Quantized& q) { q.scale_absmax.clear(); }},
      {Stream::scale_offset, "scale_offset", "f32 mean per buffer", 32, 0,
       [](const Quantized& q) { return std::size_t{q.spec.double_quant ? 1u : 0u}; },
       [](Quantized& q) { q.scale_offset = 0.0f; }},
  };
  return table;
}

const StreamInfo& stream_info(Stream stream) {
  return stream_table()[static_cast<std::size_t>(stream)];
}

// ---- block sizes and options ----

std::string BlockSizes::describe() const {
  if (fixed()) return fmt::format("b{} only", min);
  return fmt::format("b<N> with N a multiple of {} in [{}, {}]", multiple, min, max);
}

const SpecOption& double_quant_option() {
  static const SpecOption o{"dq", &Spec::double_quant,
                            "double quantisation of the float32 scales (bitsandbytes)"};
  return o;
}

const SpecOption& meanstd_option() {
  static const SpecOption o{"meanstd", &Spec::meanstd,
                            "LoftQ code's scale: block mean + 2.5 std instead of absmax",
                            &meanstd_rule()};
  return o;
}

const std::vector<const SpecOption*>& spec_options() {
  static const std::vector<const SpecOption*> all = {&meanstd_option(), &double_quant_option()};
  return all;
}

bool Quantizer::takes(const SpecOption& option) const {
  return std::find(options.begin(), options.end(), &option) != options.end();
}

// ---- the rows ----

namespace {

// The block sizes of every row without a block of its own: 64 values by default (LoftQ's and
// bitsandbytes'), any multiple of 8 (so a block of codes of any width fills whole bytes) up to
// 2^20.
constexpr BlockSizes kBlocks{.default_block = 64, .min = 8, .max = 1 << 20, .multiple = 8};

Quantizer table_row(std::string name, int bits, std::string description, std::vector<float> levels,
                    std::vector<const SpecOption*> options = {&double_quant_option()}) {
  Quantizer q;
  q.name = std::move(name);
  q.bits = bits;
  q.description = std::move(description);
  q.scale = &absmax_rule();
  q.blocks = kBlocks;
  q.options = std::move(options);
  q.codebook = std::make_shared<const Nearest>(std::move(levels));
  q.quantize = quantize_table;
  q.dequantize = dequantize_table;
  return q;
}

std::vector<Quantizer> build_registry() {
  std::vector<Quantizer> rows;
  // NormalFloat levels (LoftQ's create_normal_map), scale = block absmax; the nearest level of
  // x / scale in exact arithmetic, ties to the lower code (torch.argmin's first-index rule).
  for (int k : {2, 3, 4, 8})
    rows.push_back(table_row(fmt::format("nf{}", k), k,
                             "NormalFloat (LoftQ/bitsandbytes create_normal_map), absmax scale",
                             normal_float_levels(k)));
  // bitsandbytes' E2M1 levels by code (sign bit 0b1000); ties go to the lower code number, and
  // +-0 both code 0.
  rows.push_back(table_row("fp4", 4, "bitsandbytes FP4 (E2M1, sign bit separate), absmax scale",
                           fp4_levels()));
  // OCP MXFP4 (mx.hpp): E2M1 elements, one E8M0 power-of-two scale per 32 values, ties to even.
  Quantizer mx;
  mx.name = "mxfp4";
  mx.bits = 4;
  mx.description = "OCP Microscaling MXFP4: E2M1 elements, one E8M0 power-of-two scale per 32";
  mx.scale = &e8m0_rule();
  mx.blocks = {.default_block = 32, .min = 32, .max = 32, .multiple = 32};
  mx.codebook = std::make_shared<const Nearest>(e2m1_levels());
  mx.quantize = quantize_mx;
  mx.dequantize = dequantize_table;
  rows.push_back(std::move(mx));
  // (c - L) / L for c = 0..2L, L = 2^(k-1) - 1, scale = absmax.
  for (int k = 2; k <= 8; ++k)
    rows.push_back(table_row(fmt::format("int{}", k), k,
                             fmt::format("symmetric integer, {} level{} each side of zero, "
                                         "absmax scale",
                                         (1 << (k - 1)) - 1, k == 2 ? "" : "s"),
                             int_symmetric_levels(k)));
  // step = (max(x, 0) - min(x, 0)) / (2^k - 1) and an integer zero point stored as one uint8
  // per block (8 bits whatever k), decoded (c - zp) * step, so zero is exact; the nearest
  // integer to x / step, ties down, clamped to [0, 2^k - 1].
  for (int k = 2; k <= 8; ++k) {
    Quantizer q;
    q.name = fmt::format("int{}:asym", k);
    q.bits = k;
    q.description = fmt::format(
        "asymmetric integer, {} levels over [min, max] (zero included), uint8 zero point", 1 << k);
    q.scale = &minmax_rule();
    q.blocks = kBlocks;
    q.options = {&double_quant_option()};
    q.quantize = quantize_affine;
    q.dequantize = dequantize_affine;
    rows.push_back(std::move(q));
  }
  // torch.linspace(-1, 1, 2^k) * absmax (LoftQ paper); :meanstd uses LoftQ code's scale, block
  // mean + 2.5 * unbiased std (may be <= 0; values beyond it clip).
  for (int k = 2; k <= 8; ++k)
    rows.push_back(table_row(fmt::format("uniform{}", k), k,
                             "LoftQ uniform: linspace(-1, 1, 2^k) x absmax "
                             "(:meanstd = LoftQ code's mean + 2.5 std)",
                             uniform_levels(k), {&meanstd_option(), &double_quant_option()}));
  return rows;
}

}  // namespace

const std::vector<Quantizer>& registry() {
  static const std::vector<Quantizer> rows = build_registry();
  return rows;
}

const Quantizer* find_quantizer(std::string_view name) {
  for (const auto& row : registry())
    if (row.name == name) return &row;
  return nullptr;
}

const Quantizer& quantizer_for(const Spec& spec) {
  validate(spec);
  return *find_quantizer(spec.name);
}

const ScaleRule& scale_rule(const Quantizer& row, const Spec& spec) {
  for (const SpecOption* o : row.options)
    if (o->rule && spec.*(o->flag)) return *o->rule;
  return *row.scale;
}

std::vector<Stream> stored_streams(const Quantizer& row, const Spec& spec) {
  std::vector<Stream> out;
  for (Stream s : scale_rule(row, spec).streams) {
    if (s == Stream::scale && spec.double_quant)
      out.insert(out.end(), {Stream::scale_code, Stream::scale_absmax, Stream::scale_offset});
    else
      out.push_back(s);
  }
  return out;
}

// ---- names ----

std::string registry_names() {
  return join(registry(), ", ", [](const Quantizer& row) { return row.name; });
}

namespace {

// "int4:asym" -> family "int", width 4, suffix ":asym"; a name without a width is its own
// family.
struct NameParts {
  std::string_view family, suffix;
  int width = -1;
};

NameParts name_parts(std::string_view name) {
  const std::size_t d = name.find_first_of("0123456789");
  if (d == std::string_view::npos || d == 0) return {name, "", -1};
  const std::size_t e = std::min(name.find_first_not_of("0123456789", d), name.size());
  int width = 0;
  for (std::size_t i = d; i < e; ++i) width = width * 10 + (name[i] - '0');
  return {name.substr(0, d), name.substr(e), width};
}

}  // namespace

std::string summarize_names(const std::vector<std::string_view>& names) {
  // Group by family and suffix in order of first appearance; a run of three or more
  // consecutive widths folds into "first..last".
  struct Group {
    NameParts parts;
    std::vector<std::string_view> names;
    std::vector<int> widths;
  };
  std::vector<Group> groups;
  for (std::string_view n : names) {
    const NameParts p = name_parts(n);
    auto g = std::find_if(groups.begin(), groups.end(), [&](const Group& g) {
      return p.width >= 0 && g.parts.width >= 0 && g.parts.family == p.family &&
             g.parts.suffix == p.suffix;
    });
    if (g == groups.end()) g = groups.insert(groups.end(), Group{p, {}, {}});
    g->names.push_back(n);
    g->widths.push_back(p.width);
  }
  std::vector<std::string> parts;
  for (const Group& g : groups) {
    bool run = g.names.size() >= 3;
    for (std::size_t i = 1; run && i < g.widths.size(); ++i)
      run = g.widths[i] == g.widths[i - 1] + 1;
    if (run)
      parts.push_back(fmt::format("{}..{}", g.names.front(), g.names.back()));
    else
      parts.insert(parts.end(), g.names.begin(), g.names.end());
  }
  return join(parts, ", ");
}

std::string summarize_rows(const std::vector<std::string_view>& names) {
  std::vector<std::string_view> others;
  for (const auto& row : registry())
    if (std::find(names.begin(), names.end(), row.name) == names.end()) others.push_back(row.name);
  if (others.empty()) return "every quantizer";
  if (others.size() < names.size())
    return fmt::format("every quantizer but {}", summarize_names(others));
  return summarize_names(names);
}

std::string rows_taking(const SpecOption& option) {
  std::vector<std::string_view> names;
  for (const auto& row : registry())
    if (row.takes(option)) names.push_back(row.name);
  return names.empty() ? std::string("no quantizer") : summarize_rows(names);
}

std::vector<std::string_view> name_suffixes() {
  std::vector<std::string_view> out;
  for (const auto& row : registry()) {
    const std::size_t colon = row.name.find(':');
    if (colon == std::string::npos) continue;
    const std::string_view s = std::string_view(row.name).substr(colon + 1);
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  return out;
}

std::string spec_syntax() {
  std::string out = "<name>";
  for (std::string_view s : name_suffixes()) out += fmt::format("[:{}]", s);
  for (const SpecOption* o : spec_options())
    if (o->rule) out += fmt::format("[:{}]", o->key);
  out += "[:b<N>]";
  for (const SpecOption* o : spec_options())
    if (!o->rule) out += fmt::format("[:{}]", o->key);
  return out;
}

std::string block_sizes_summary() {
  // Rows grouped by the block sizes they share, in order of first appearance.
  std::vector<std::pair<const BlockSizes*, std::vector<std::string_view>>> sizes;
  for (const auto& row : registry()) {
    auto it = std::find_if(sizes.begin(), sizes.end(),
                           [&](const auto& p) { return *p.first == row.blocks; });
    if (it == sizes.end()) it = sizes.insert(sizes.end(), {&row.blocks, {}});
    it->second.push_back(row.name);
  }
  std::vector<std::string> parts;
  for (const auto& [b, names] : sizes)
    parts.push_back(b->fixed() ? fmt::format("{}: {}", summarize_rows(names), b->describe())
                               : fmt::format("{}: {}, default {}", summarize_rows(names),
                                             b->describe(), b->default_block));
  return join(parts, "; ");
}

std::vector<std::string> spec_option_lines() {
  std::vector<std::string> lines;
  for (std::string_view s : name_suffixes()) {
    std::vector<std::string_view> bases;
    for (const auto& row : registry())
      if (row.name.size() > s.size() + 1 && row.name.ends_with(fmt::format(":{}", s)))
        bases.push_back(std::string_view(row.name).substr(0, row.name.size() - s.size() - 1));
    lines.push_back(
        fmt::format(":{}  {} only, a variant with a row of its own", s, summarize_names(bases)));
  }
  lines.push_back(fmt::format(":b<N>  values per block ({})", block_sizes_summary()));
  for (const SpecOption* o : spec_options())
    lines.push_back(fmt::format(":{}  {}; {}", o->key, o->help, rows_taking(*o)));
  return lines;
}

}  // namespace loft::quant
