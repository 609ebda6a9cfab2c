// The nuclear norm: the Gram route and sgesdd against a double-precision SVD (Eigen BDCSVD),
// on Gaussian, quantisation-like and rank-deficient matrices, and the fallback between them.
#include <Eigen/SVD>
#include <cmath>
#include <limits>

#include "common/error.hpp"
#include "lowrank/nuclear.hpp"
#include "support.hpp"

using namespace loft;
using namespace loft::lowrank;

namespace {

double nuclear_double(const Matrix& a) {
  return Eigen::BDCSVD<Eigen::MatrixXd>(a.cast<double>()).singularValues().sum();
}

double rel(double a, double b) {
  return std::abs(a - b) / std::max(std::abs(b), 1e-300);
}

// Gaussian plus a rounding error like a 4-bit quantizer's: the residuals LoftQ produces.
Matrix quantisation_like(Eigen::Index m, Eigen::Index n, uint64_t seed) {
  Matrix w = test::gaussian(m, n, seed, 0.02f);
  return w - (w / 0.004f).array().round().matrix() * 0.004f;
}

}  // namespace

TEST_CASE("nuclear norm: Gram route and sgesdd match a double SVD on full-rank matrices",
          "[lowrank][nuclear]") {
  const std::vector<std::pair<int, int>> shapes = {{200, 300}, {300, 200}, {256, 256}, {64, 700}};
  uint64_t seed = 1;
  for (auto [m, n] : shapes) {
    for (const Matrix& a : {test::gaussian(m, n, seed++, 1.0f), quantisation_like(m, n, seed++)}) {
      INFO(m << "x" << n);
      const double ref = nuclear_double(a);
      const GramNuclear g = nuclear_norm_gram(a);
      CHECK(rel(g.value, ref) < 1e-5);
      CHECK(std::abs(g.value - ref) <= g.error_bound);   // the bound holds
      CHECK(g.error_bound <= kGramTolerance * g.value);  // so the fast route is taken
      CHECK(nuclear_norm(a) == g.value);
      CHECK(rel(nuclear_norm_gesdd(a), ref) < 1e-5);
    }
  }
}

TEST_CASE("nuclear norm: rank-deficient matrices fall back to sgesdd and stay exact",
          "[lowrank][nuclear]") {
  // Rank 3 of 90: 87 singular values at zero, where the Gram route reads sqrt(noise).
  const Matrix low = test::integer_rank(120, 90, 3);
  const GramNuclear g = nuclear_norm_gram(low);
  CHECK(g.error_bound > kGramTolerance * g.value);
  const double ref = nuclear_double(low);
  CHECK(rel(nuclear_norm(low), ref) < 1e-5);
  CHECK(nuclear_norm(low) == nuclear_norm_gesdd(low));
  // Low rank plus a little noise: most values at the noise floor, 1e-5 of the signal.
  const Matrix noisy = test::gaussian(150, 40, 3, 1.0f) * test::gaussian(40, 160, 4, 1.0f) +
                       test::gaussian(150, 160, 5, 1e-5f);
  CHECK(rel(nuclear_norm(noisy), nuclear_double(noisy)) < 1e-5);
  CHECK(nuclear_norm(Matrix::Zero(30, 20)) == 0.0);
}

TEST_CASE("nuclear norm: bad inputs", "[lowrank][nuclear]") {
  CHECK(nuclear_norm(Matrix(0, 5)) == 0.0);
  Matrix a = test::gaussian(8, 9, 1, 1.0f);
  a(2, 3) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_AS(nuclear_norm(a), Error);
}
