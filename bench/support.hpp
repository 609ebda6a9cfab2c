#pragma once
// Shared inputs of the benchmark files.
#include <random>

#include "common/matrix.hpp"
#include "common/rng.hpp"

namespace loft::bench {

// m x n of N(0, 0.02^2), a typical weight scale, from the project's seeded generator.
inline Matrix gaussian_matrix(int m, int n, uint64_t seed) {
  Rng rng = make_rng(seed, "bench");
  std::normal_distribution<float> d(0.0f, 0.02f);
  Matrix a(m, n);
  for (Eigen::Index i = 0; i < a.size(); ++i) a.data()[i] = d(rng);
  return a;
}

}  // namespace loft::bench
