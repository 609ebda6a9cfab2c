#pragma once
// Shared helpers for the Catch2 tests.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <random>
#include <string>

#include "common/matrix.hpp"
#include "common/rng.hpp"

namespace loft::test {

// An m x n matrix of N(0, std^2) entries from the project's seeded generator.
inline Matrix gaussian(Eigen::Index m, Eigen::Index n, uint64_t seed, float std) {
  Rng rng = make_rng(seed, "test");
  std::normal_distribution<float> d(0.0f, std);
  Matrix a(m, n);
  for (Eigen::Index i = 0; i < a.size(); ++i) a.data()[i] = d(rng);
  return a;
}

// An exactly rank-`rank` m x n matrix of small integers (a sum of integer outer products, as
// np.arange matrices are): the rank-deficient inputs of the SVD and init tests.
inline Matrix integer_rank(Eigen::Index m, Eigen::Index n, int rank) {
  Matrix a = Matrix::Zero(m, n);
  for (int k = 0; k < rank; ++k)
    for (Eigen::Index i = 0; i < m; ++i)
      for (Eigen::Index j = 0; j < n; ++j)
        a(i, j) += float((i * (k + 1)) % 5 + 1) * float((j + 3 * k) % 7 + 1);
  return a;
}

// ../shared/data (or $LOFTLAB_DATA); empty when absent, so data tests can skip.
inline std::optional<std::filesystem::path> data_dir() {
  const char* env = std::getenv("LOFTLAB_DATA");
  std::filesystem::path p = env ? env : LOFTLAB_DATA_DIR;
  if (std::filesystem::exists(p / "stories260K.bin")) return p;
  return std::nullopt;
}

}  // namespace loft::test

// Catch2 v2 has no SKIP: warn with a clear message and leave the test case.
#define LOFT_REQUIRE_DATA(var)                                                    \
  auto var##_opt = ::loft::test::data_dir();                                      \
  if (!var##_opt) {                                                               \
    WARN(                                                                         \
        "skipped: ../shared/data not found (set LOFTLAB_DATA to the folder with " \
        "stories260K.bin)");                                                      \
    return;                                                                       \
  }                                                                               \
  const std::filesystem::path var = *var##_opt
