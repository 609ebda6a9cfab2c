// Data-aware methods against brute force in double precision: qera's closed form is the optimum
// of the weighted rank-r problem, no perturbation beats it, the act/fisher weightings reduce to
// the unweighted methods when the statistics are uniform, and bad statistics are clear errors.
#include <Eigen/SVD>
#include <cmath>

#include "common/error.hpp"
#include "init/init.hpp"
#include "init/stats_support.hpp"
#include "support.hpp"

using namespace loft;
using namespace loft::init;

namespace {

const quant::Spec nf2 = quant::parse("nf2");

// ||(W - Q - sBA) S||_F with S S^T = H, from scratch in double.
double act_residual(const Matrix& w, const Result& r, const MatrixD& h) {
  const MatrixD e =
      w.cast<double>() - r.Q.cast<double>() - r.scale * (r.B.cast<double>() * r.A.cast<double>());
  return std::sqrt((e * h * e.transpose()).trace());
}

// The optimum over every rank-r X of ||(R - X) S||_F: the tail of R S's spectrum (Eckart-Young
// on the whitened problem), with S the symmetric square root of H (a different factor from the
// Cholesky one the method uses).
double act_optimum(const MatrixD& r, const MatrixD& h, int rank) {
  Eigen::SelfAdjointEigenSolver<MatrixD> eig(h);
  const MatrixD s = eig.eigenvectors() * eig.eigenvalues().cwiseSqrt().asDiagonal() *
                    eig.eigenvectors().transpose();
  const Eigen::VectorXd sv = Eigen::JacobiSVD<MatrixD>(r * s).singularValues();
  return std::sqrt(sv.tail(sv.size() - rank).squaredNorm());
}

Options weighted(Weight weight, const MatrixD* h, int steps = 1) {
  Options o;
  o.steps = steps;
  o.weight = weight;
  o.damping = 0;
  o.stats.h = h;
  return o;
}

double rel_diff(const Matrix& a, const Matrix& b) {
  return (a.cast<double>() - b.cast<double>()).norm() / std::max(1e-30, b.cast<double>().norm());
}

}  // namespace

TEST_CASE("qera's closed form is the rank-r optimum of the weighted residual", "[init][weighted]") {
  for (auto [m, n, rank] : {std::tuple{24, 16, 3}, {16, 24, 5}, {32, 32, 1}}) {
    INFO(m << "x" << n << " rank " << rank);
    const Matrix w = test::gaussian(m, n, 5, 1.0f);
    const MatrixD h = test::random_spd(n, 6);
    const Result r = initialize("qera", w, nf2, rank, weighted(Weight::act, &h));
    CHECK(r.Q == quant::fake_quantize(nf2, w));
    const double best = act_optimum((w - r.Q).cast<double>(), h, rank);
    const double got = act_residual(w, r, h);
    CHECK(got == Approx(best).epsilon(1e-5));
    CHECK(r.trace.residual_act.back() == Approx(got).epsilon(1e-5));
    CHECK(r.trace.residual_act_vs_qlora.back() < 1);
    CHECK(r.damping == 0);
    // No random rank-r perturbation of B A does better.
    for (int k = 0; k < 20; ++k) {
      Result p = r;
      p.B += test::gaussian(m, rank, 100 + k, 1e-3f);
      p.A += test::gaussian(rank, n, 200 + k, 1e-3f);
      CHECK(act_residual(w, p, h) >= got * (1 - 1e-6));
    }
  }
}

TEST_CASE("diag scale: the optimum of the diagonally weighted problem", "[init][weighted]") {
  const Matrix w = test::gaussian(20, 16, 7, 1.0f);
  const MatrixD h = test::random_spd(16, 8);
  Options o = weighted(Weight::act, &h);
  o.scale = Scale::diag;
  const Result r = initialize("qera", w, nf2, 4, o);
  const MatrixD hd = MatrixD(h.diagonal().asDiagonal());
  CHECK(act_residual(w, r, hd) ==
        Approx(act_optimum((w - r.Q).cast<double>(), hd, 4)).epsilon(1e-5));
  // It is not the exact-H optimum (H is not diagonal), so exact does at least as well on H.
  const Result exact = initialize("qera", w, nf2, 4, weighted(Weight::act, &h));
  CHECK(act_residual(w, exact, h) <= act_residual(w, r, h) * (1 + 1e-9));
}

TEST_CASE("H = I: qera is loftq T = 1, and weight = act is weight = none", "[init][weighted]") {
  const Matrix w = test::gaussian(48, 40, 9, 0.05f);
  const MatrixD eye = MatrixD::Identity(40, 40);
  Options plain1;
  plain1.steps = 1;
  const Result loftq = initialize("loftq", w, nf2, 6, plain1);
  const Result qera = initialize("qera", w, nf2, 6, weighted(Weight::act, &eye));
  CHECK(rel_diff(qera.Q, loftq.Q) < 1e-6);
  CHECK(rel_diff(qera.B * qera.A, loftq.B * loftq.A) < 1e-6);
  for (const char* method : {"loftq", "qpissa"}) {
    INFO(method);
    Options plain;
    plain.steps = 3;
    const Options act = weighted(Weight::act, &eye, 3);
    const Result a = initialize(method, w, nf2, 6, plain);
    const Result b = initialize(method, w, nf2, 6, act);
    CHECK(rel_diff(b.Q, a.Q) < 1e-6);
    CHECK(rel_diff(b.B * b.A, a.B * a.A) < 1e-6);
    for (size_t t = 0; t < a.trace.size(); ++t)
      CHECK(b.trace.residual_fro[t] == Approx(a.trace.residual_fro[t]).epsilon(1e-6));
    // With H = I the output error is the weight error.
    CHECK(b.trace.residual_act.back() == Approx(b.trace.residual_fro.back()).epsilon(1e-5));
  }
}

TEST_CASE("fisher: the optimum under LQ-LoRA's rank-1 row/column weighting", "[init][weighted]") {
  const int m = 16, n = 12, rank = 3;
  const Matrix w = test::gaussian(m, n, 10, 1.0f);
  // F = u c^T exactly, so the rank-1 approximation is exact: the objective is ||sqrt(F) o E||.
  const Eigen::VectorXd u = test::gaussian(m, 1, 11, 1.0f).cast<double>().cwiseAbs().array() + 0.1;
  const Eigen::VectorXd c = test::gaussian(n, 1, 12, 1.0f).cast<double>().cwiseAbs().array() + 0.1;
  const MatrixD f = u * c.transpose();
  Options o;
  o.steps = 1;
  o.weight = Weight::fisher;
  o.damping = 0;
  o.stats.fisher = &f;
  const Result r = initialize("loftq", w, nf2, rank, o);
  auto objective = [&](const Result& x) {
    const MatrixD e =
        w.cast<double>() - x.Q.cast<double>() - x.B.cast<double>() * x.A.cast<double>();
    return (f.cwiseSqrt().cwiseProduct(e)).norm();
  };
  const MatrixD dl = u.cwiseSqrt().asDiagonal(), dr = c.cwiseSqrt().asDiagonal();
  const Eigen::VectorXd sv =
      Eigen::JacobiSVD<MatrixD>(dl * (w - r.Q).cast<double>() * dr).singularValues();
  CHECK(objective(r) == Approx(std::sqrt(sv.tail(n - rank).squaredNorm())).epsilon(1e-5));
  for (int k = 0; k < 10; ++k) {
    Result p = r;
    p.B += test::gaussian(m, rank, 300 + k, 1e-3f);
    CHECK(objective(p) >= objective(r) * (1 - 1e-6));
  }
}

TEST_CASE("singular H, NaN statistics and the wrong width", "[init][weighted]") {
  const Matrix w = test::gaussian(16, 32, 13, 1.0f);
  // Fewer calibration tokens (5) than input features (32): H has rank 5.
  const MatrixD x = test::gaussian(5, 32, 14, 1.0f).cast<double>();
  const MatrixD singular = x.transpose() * x;
  const Result raised = initialize("qera", w, nf2, 4, weighted(Weight::act, &singular));
  CHECK(raised.damping >= 1e-6);  // lambda = 0 was raised, as documented
  CHECK(raised.B.allFinite());
  CHECK(raised.A.allFinite());
  Options damped = weighted(Weight::act, &singular);
  damped.damping = 0.01;
  CHECK(initialize("qera", w, nf2, 4, damped).damping == 0.01);

  MatrixD bad = test::random_spd(32, 15);
  bad(3, 4) = std::nan("");
  CHECK_THROWS_WITH(initialize("qera", w, nf2, 4, weighted(Weight::act, &bad)),
                    Catch::Contains("NaN"));
  const MatrixD narrow = test::random_spd(16, 16);
  CHECK_THROWS_WITH(initialize("qera", w, nf2, 4, weighted(Weight::act, &narrow)),
                    Catch::Contains("16x16") && Catch::Contains("32 input features"));
  CHECK_THROWS_WITH(initialize("qera", w, nf2, 4), Catch::Contains("calibration statistics"));
  Options fisher;
  fisher.weight = Weight::fisher;
  CHECK_THROWS_WITH(initialize("loftq", w, nf2, 4, fisher), Catch::Contains("Fisher"));
  CHECK_THROWS_WITH(parse_weight("actt"), Catch::Contains("none, act, fisher"));
}
