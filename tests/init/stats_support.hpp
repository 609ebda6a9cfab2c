#pragma once
// Calibration statistics for the tests that loop over the method registry: a method that needs
// them gets a random SPD H of the matrix's width.
#include <memory>

#include "init/init.hpp"
#include "support.hpp"

namespace loft::test {

// X^T X of more random rows than columns: symmetric positive definite, not diagonal.
inline MatrixD random_spd(Eigen::Index n, uint64_t seed) {
  const MatrixD x = gaussian(2 * n + 4, n, seed, 1.0f).cast<double>();
  return x.transpose() * x;
}

// Points o.stats.h at a random SPD H when the method needs calibration statistics; the returned
// pointer owns it (keep it alive while o is used).
inline std::shared_ptr<MatrixD> stats_for(const init::Method& m, ConstMatrixRef w,
                                          init::Options& o) {
  if (m.needs == init::Needs::nothing) return nullptr;
  auto h = std::make_shared<MatrixD>(random_spd(w.cols(), 77));
  o.stats.h = h.get();
  return h;
}

}  // namespace loft::test
