// The nuclear norm: the float32 and double Gram routes and sgesdd against a double-precision SVD
// (Eigen BDCSVD), on Gaussian, quantisation-like and rank-deficient matrices, and the order in
// which nuclear_norm falls back between them.
#include <Eigen/Eigenvalues>
#include <Eigen/QR>
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
      const GramNuclear d = nuclear_norm_gram_f64(a);
      CHECK(std::abs(d.value - ref) <= d.error_bound);
      CHECK(d.error_bound < 1e-7 * d.value);
    }
  }
}

TEST_CASE("nuclear norm: rank-deficient matrices fall back to the double Gram and stay exact",
          "[lowrank][nuclear]") {
  // Rank 3 of 90: 87 singular values at zero, where the float32 Gram reads sqrt(noise); in
  // double that noise is 2^-29 times smaller, and the bound holds.
  const Matrix low = test::integer_rank(120, 90, 3);
  const GramNuclear g = nuclear_norm_gram(low);
  CHECK(g.error_bound > kGramTolerance * g.value);
  const double ref = nuclear_double(low);
  const GramNuclear d = nuclear_norm_gram_f64(low);
  CHECK(std::abs(d.value - ref) <= d.error_bound);
  CHECK(d.error_bound <= kGramTolerance * d.value);
  const RoutedNuclear r = nuclear_norm_routed(low);
  CHECK(r.route == NuclearRoute::gram_f64);
  CHECK(r.value == d.value);
  CHECK(rel(nuclear_norm(low), ref) < 1e-5);
  // Low rank plus a little noise: most values at the noise floor, 1e-5 of the signal.
  const Matrix noisy = test::gaussian(150, 40, 3, 1.0f) * test::gaussian(40, 160, 4, 1.0f) +
                       test::gaussian(150, 160, 5, 1e-5f);
  CHECK(rel(nuclear_norm(noisy), nuclear_double(noisy)) < 1e-5);
  CHECK(nuclear_norm(Matrix::Zero(30, 20)) == 0.0);
}

TEST_CASE("nuclear norm: sgesdd when neither Gram bound is within the tolerance",
          "[lowrank][nuclear]") {
  // A tolerance no Gram bound meets sends every matrix to the reference.
  for (const Matrix& a : {test::integer_rank(60, 50, 2), test::gaussian(40, 70, 9, 1.0f)}) {
    const RoutedNuclear r = nuclear_norm_routed(a, 1e-15);
    CHECK(r.route == NuclearRoute::gesdd);
    CHECK(r.value == nuclear_norm_gesdd(a));
    CHECK(rel(r.value, nuclear_double(a)) < 1e-5);
  }
  // The double route agrees with the float32 one wherever both bounds hold.
  const Matrix q = quantisation_like(128, 96, 11);
  const GramNuclear f = nuclear_norm_gram(q), d = nuclear_norm_gram_f64(q);
  CHECK(std::abs(f.value - d.value) <= f.error_bound + d.error_bound);
  CHECK(nuclear_norm_routed(q).route == NuclearRoute::gram_f32);
}

TEST_CASE("nuclear norm: the double Gram accumulates panels of either long side",
          "[lowrank][nuclear]") {
  // 530 = 2 panels of 256 and a remainder of 18, along the columns (wide) and the rows (tall).
  const Matrix wide = test::gaussian(300, 530, 12, 1.0f);
  const Matrix tall = wide.transpose();
  const double ref = nuclear_double(wide);
  for (const Matrix* a : {&wide, &tall}) {
    const GramNuclear d = nuclear_norm_gram_f64(*a);
    CHECK(std::abs(d.value - ref) <= d.error_bound);
    CHECK(rel(d.value, ref) < 1e-9);
  }
}

TEST_CASE("nuclear norm: the banded eigensolver agrees with a double reference at any width",
          "[lowrank][nuclear]") {
  // The routes take band kWideBand at the 7B shapes and ?syevd_2stage's own choice (band 0)
  // below; both must give every eigenvalue of a Gram to working precision. n = 5 is narrower
  // than the band, n = 130 a band and a remainder.
  for (int n : {5, 130, 300}) {
    const Matrix x = test::gaussian(n + 40, n, 20 + n, 1.0f);
    const Eigen::MatrixXd gram = x.cast<double>().transpose() * x.cast<double>();
    const Eigen::VectorXd ref = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(gram).eigenvalues();
    const double lambda_max = ref.maxCoeff();
    for (int band : {0, 16, kWideBand}) {
      INFO("n " << n << " band " << band);
      std::vector<float> f(static_cast<size_t>(n) * n);
      Eigen::Map<Eigen::MatrixXf>(f.data(), n, n) = gram.cast<float>();
      std::vector<double> d(gram.data(), gram.data() + gram.size());
      const std::vector<float> lf = symmetric_eigenvalues(std::span<float>(f), n, band);
      const std::vector<double> ld = symmetric_eigenvalues(std::span<double>(d), n, band);
      REQUIRE(lf.size() == size_t(n));
      REQUIRE(ld.size() == size_t(n));
      double err_f = 0, err_d = 0;
      for (int i = 0; i < n; ++i) {
        err_f = std::max(err_f, std::abs(lf[i] - ref[i]));
        err_d = std::max(err_d, std::abs(ld[i] - ref[i]));
        if (i > 0) CHECK(lf[i - 1] <= lf[i]);  // ascending, as ?syevd's
      }
      // Backward stable: within a few eps * (n + 10) of lambda_max (the float input's own rounding
      // included), far below any eigenvalue the wrong width or a lost stage would disturb.
      CHECK(err_f <= 4 * (n + 10) * 6e-8 * lambda_max);
      CHECK(err_d <= 16 * (n + 10) * 1.2e-16 * lambda_max);  // the reference rounds too
    }
  }
  std::vector<float> three(3);
  CHECK_THROWS_AS(symmetric_eigenvalues(std::span<float>(three), 2, kWideBand), Error);
}

namespace {

// The residual (I - U U^T) M of a rank-r fit, in float32, with U an orthonormal basis of the
// columns of `dirs` (formed in double, rounded once).
Matrix project_out(const Matrix& m, const Matrix& dirs) {
  const Eigen::HouseholderQR<Eigen::MatrixXd> qr(dirs.cast<double>());
  const Eigen::MatrixXd u = qr.householderQ() * Eigen::MatrixXd::Identity(m.rows(), dirs.cols());
  const Eigen::MatrixXd md = m.cast<double>();
  return (md - u * (u.transpose() * md)).cast<float>();
}

Eigen::VectorXd singular_values_double(const Matrix& a) {
  return Eigen::BDCSVD<Eigen::MatrixXd>(a.cast<double>()).singularValues();  // descending
}

}  // namespace

TEST_CASE("nuclear norm: directions a residual annihilates bound its smallest singular values",
          "[lowrank][nuclear]") {
  // A square quantisation-like M with 24 directions projected out, as LoftQ's final residual:
  // 24 singular values at the float rounding of zero, which the float32 Gram reads as sqrt(noise).
  const int n = 320, r = 24;
  const Matrix dirs = test::gaussian(n, r, 31, 1.0f);  // not orthonormal: the bound makes it so
  const Matrix e = project_out(quantisation_like(n, n, 30), dirs);
  const Eigen::VectorXd sv = singular_values_double(e);
  const double ref = sv.sum();

  const SmallValues known = left_null_bound(e, dirs);
  REQUIRE(known.count == r);
  for (int i = 0; i < r; ++i) CHECK(sv[n - 1 - i] <= known.at_most);  // what it claims
  CHECK(known.at_most < 1e-5 * sv[0]);

  const GramNuclear with = nuclear_norm_gram(e, known), without = nuclear_norm_gram(e);
  CHECK(std::abs(with.value - ref) <= with.error_bound);
  CHECK(std::abs(without.value - ref) <= without.error_bound);
  // The r terms of sqrt(delta) are gone from the bound, and the noise they stood for from the
  // value.
  CHECK(with.error_bound < 0.8 * without.error_bound);
  CHECK(std::abs(with.value - ref) < std::abs(without.value - ref));
  // A tolerance between the two bounds keeps the float32 route with the directions only.
  const double tol = 0.5 * (with.error_bound / with.value + without.error_bound / without.value);
  CHECK(nuclear_norm_routed(e, tol, known).route == NuclearRoute::gram_f32);
  CHECK(nuclear_norm_routed(e, tol).route == NuclearRoute::gram_f64);
  CHECK(nuclear_norm(e, dirs) == nuclear_norm_routed(e, kGramTolerance, known).value);
  // In double too the bound holds with them.
  const GramNuclear d = nuclear_norm_gram_f64(e, known);
  CHECK(std::abs(d.value - ref) <= d.error_bound);

  // Directions the matrix does not annihilate: the bound is still true, only too large to use.
  const SmallValues unrelated = left_null_bound(e, test::gaussian(n, r, 32, 1.0f));
  REQUIRE(unrelated.count == r);
  for (int i = 0; i < r; ++i) CHECK(sv[n - 1 - i] <= unrelated.at_most);
  const GramNuclear same = nuclear_norm_gram(e, unrelated);
  CHECK(same.value == without.value);
  CHECK(same.error_bound == without.error_bound);
}

TEST_CASE("nuclear norm: how many singular values left directions force to zero, by shape",
          "[lowrank][nuclear]") {
  // k = min(m, n) - (m - r): r when the rows are the short side; on a tall matrix only what
  // m - r < n leaves, and none beyond.
  struct Case {
    int m, n, r, k;
  };
  for (const Case c : {Case{200, 300, 16, 16}, Case{210, 200, 20, 10}, Case{300, 200, 16, 0},
                       Case{40, 60, 50, 40}}) {
    INFO(c.m << "x" << c.n << " r " << c.r);
    const Matrix dirs = test::gaussian(c.m, c.r, 40 + c.m, 1.0f);
    const Matrix e =
        project_out(test::gaussian(c.m, c.n, 41 + c.n, 1.0f), dirs.leftCols(std::min(c.r, c.m)));
    const SmallValues known = left_null_bound(e, dirs);
    CHECK(known.count == c.k);
    const Eigen::VectorXd sv = singular_values_double(e);
    for (int i = 0; i < c.k; ++i) CHECK(sv[sv.size() - 1 - i] <= known.at_most);
    if (c.k > 0 && c.k < std::min(c.m, c.n)) CHECK(known.at_most < 1e-5 * sv[0]);
    const GramNuclear g = nuclear_norm_gram(e, known);
    CHECK(std::abs(g.value - sv.sum()) <= g.error_bound);
  }
  CHECK_THROWS_WITH(
      left_null_bound(test::gaussian(20, 30, 1, 1.0f), test::gaussian(30, 2, 2, 1.0f)),
      Catch::Contains("2 directions of length 30 for a 20x30 matrix"));
  CHECK(left_null_bound(test::gaussian(20, 30, 1, 1.0f), Matrix(20, 0)).count == 0);
}

TEST_CASE("nuclear norm: bad inputs", "[lowrank][nuclear]") {
  CHECK(nuclear_norm(Matrix(0, 5)) == 0.0);
  Matrix a = test::gaussian(8, 9, 1, 1.0f);
  a(2, 3) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_AS(nuclear_norm(a), Error);
}
