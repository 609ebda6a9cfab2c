#pragma once
// Central finite differences against analytic gradients, in double precision: the check every
// gradient test of lib/model runs.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "model/llama.hpp"
#include "support.hpp"

namespace loft::test {

// Largest |analytic - numeric| / max(1, |numeric|) over every `stride`-th entry of each
// parameter, whose grad the caller has filled; loss() recomputes the loss at the current values.
// eps = 1e-6: truncation ~eps^2 and rounding ~1e-16/eps, both far below the 1e-7 tests demand.
template <typename Loss>
double max_fd_error(const std::vector<model::Param<double>*>& params, Loss&& loss, int* checked,
                    int stride = 1) {
  const double eps = 1e-6;
  double worst = 0;
  *checked = 0;
  for (auto* p : params) {
    REQUIRE(p->grad.rows() == p->value.rows());
    REQUIRE(p->grad.cols() == p->value.cols());
    for (Eigen::Index i = 0; i < p->value.size(); i += stride) {
      double& w = p->value.data()[i];
      const double keep = w;
      w = keep + eps;
      const double lp = loss();
      w = keep - eps;
      const double lm = loss();
      w = keep;
      const double fd = (lp - lm) / (2 * eps);
      const double err = std::abs(fd - p->grad.data()[i]) / std::max(1.0, std::abs(fd));
      if (err > worst) {
        worst = err;
        INFO(fmt::format("{}[{}]: analytic {} numeric {}", p->name, i, p->grad.data()[i], fd));
      }
      ++*checked;
    }
  }
  return worst;
}

}  // namespace loft::test
