#pragma once
// How the rank of a tensor's adapter is chosen: a fixed r ("64") or the smallest r whose top
// singular values hold a fraction of the energy of the QLoRA residual W - q(W) ("energy:0.5":
// sum_{i<r} sigma_i^2 >= 0.5 * ||W - q(W)||_F^2; of W itself when there is no quantizer).
// Per-tensor choices come from patterns.hpp.
#include <optional>
#include <string>
#include <string_view>

#include "common/matrix.hpp"
#include "quant/quantizer.hpp"

namespace loft::init {

struct RankSpec {
  int fixed = 0;      // > 0: this rank
  double energy = 0;  // in (0, 1]: energy target (fixed == 0)
};

RankSpec parse_rank(std::string_view text);  // "64" | "energy:F"; throws saying what is valid
std::string format(const RankSpec& spec);

// Smallest r >= 1 with sum_{i<r} v_i^2 >= fraction * sum v_i^2 (v descending).
int energy_rank(const Eigen::VectorXf& singular_values, double fraction);

// The rank for this matrix: an energy rank measures W - q(W), or W itself without a quantizer.
// A fixed rank is returned as is (initialize() checks it against the shape); an energy rank
// costs one values-only SVD.
int resolve_rank(const RankSpec& spec, ConstMatrixRef w, const std::optional<quant::Spec>& q);

}  // namespace loft::init
