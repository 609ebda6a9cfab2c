#include "quant/registry.hpp"

#include <fmt/format.h>

#include "common/error.hpp"
#include "quant/codebooks.hpp"

namespace loft::quant {

namespace {

Quantizer table_row(std::string name, int bits, std::string description, std::vector<float> levels,
                    bool allows_meanstd = false) {
  Quantizer q;
  q.name = std::move(name);
  q.bits = bits;
  q.description = std::move(description);
  q.rule = ScaleRule::absmax;
  q.allows_meanstd = allows_meanstd;
  q.codebook = std::make_shared<const Nearest>(std::move(levels));
  q.quantize = quantize_table;
  q.dequantize = dequantize_table;
  return q;
}

std::vector<Quantizer> build_registry() {
  std::vector<Quantizer> rows;
  for (int k : {2, 3, 4, 8})
    rows.push_back(table_row(fmt::format("nf{}", k), k,
                             "NormalFloat (LoftQ/bitsandbytes create_normal_map), absmax scale",
                             normal_float_levels(k)));
  rows.push_back(table_row("fp4", 4, "bitsandbytes FP4 (E2M1, sign bit separate), absmax scale",
                           fp4_levels()));
  for (int k = 2; k <= 8; ++k)
    rows.push_back(table_row(fmt::format("int{}", k), k,
                             fmt::format("symmetric integer, {} level{} each side of zero, "
                                         "absmax scale",
                                         (1 << (k - 1)) - 1, k == 2 ? "" : "s"),
                             int_symmetric_levels(k)));
  for (int k = 2; k <= 8; ++k) {
    Quantizer q;
    q.name = fmt::format("int{}:asym", k);
    q.bits = k;
    q.description = fmt::format(
        "asymmetric integer, {} levels over [min, max] (zero included), uint8 zero point", 1 << k);
    q.rule = ScaleRule::minmax;
    q.quantize = quantize_affine;
    q.dequantize = dequantize_affine;
    rows.push_back(std::move(q));
  }
  for (int k = 2; k <= 8; ++k)
    rows.push_back(table_row(fmt::format("uniform{}", k), k,
                             "LoftQ uniform: linspace(-1, 1, 2^k) x absmax "
                             "(:meanstd = LoftQ code's mean + 2.5 std)",
                             uniform_levels(k), /*allows_meanstd=*/true));
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

std::string registry_names() {
  std::string s;
  for (const auto& row : registry()) s += (s.empty() ? "" : ", ") + row.name;
  return s;
}

const Quantizer& quantizer_for(const Spec& spec) {
  validate(spec);
  return *find_quantizer(spec.name);
}

}  // namespace loft::quant
