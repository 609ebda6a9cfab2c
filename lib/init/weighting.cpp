// The data-aware weighting of the low-rank step (weighting.hpp).
#include "init/weighting.hpp"

#include <cmath>
#include <limits>

#include "common/error.hpp"

namespace loft::init {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kMinDamping = 1e-6, kMaxDamping = 1.0;

bool finite(const MatrixD& m) {
  return m.allFinite();
}

// v + lambda * mean(v); refused when a damped entry is still not positive.
Eigen::VectorXd damped(const Eigen::VectorXd& v, double lambda, std::string_view what) {
  const double mean = v.mean();
  const Eigen::VectorXd out = (v.array() + lambda * mean).matrix();
  if (!(out.minCoeff() > 0))
    fail(
        "{}: the statistics have a zero or negative entry ({:.3g}) even with damping lambda = "
        "{:.3g} relative to their mean {:.3g}: raise the damping or calibrate on more tokens",
        what, out.minCoeff(), lambda, mean);
  return out;
}

}  // namespace

Weight parse_weight(std::string_view s) {
  if (s == "none") return Weight::none;
  if (s == "act") return Weight::act;
  if (s == "fisher") return Weight::fisher;
  fail("weight '{}' is not valid (valid: none, act, fisher)", s);
}

Scale parse_scale(std::string_view s) {
  if (s == "exact") return Scale::exact;
  if (s == "diag") return Scale::diag;
  fail("scale '{}' is not valid (valid: exact, diag)", s);
}

std::string_view name(Weight w) {
  return w == Weight::none ? "none" : w == Weight::act ? "act" : "fisher";
}
std::string_view name(Scale s) {
  return s == Scale::exact ? "exact" : "diag";
}

void check_input_stats(const MatrixD& h, Eigen::Index in, std::string_view what) {
  if (h.rows() != h.cols() || h.cols() != in)
    fail(
        "{}: calibration statistics H are {}x{}, but the matrix has {} input features (is the "
        "calibration file from another model?)",
        what, h.rows(), h.cols(), in);
  if (!finite(h)) fail("{}: calibration statistics H hold NaN or Inf (recompute them)", what);
}

Weighting::Weighting(Weight weight, Scale scale, double lambda, const LayerStats& stats,
                     Eigen::Index out, Eigen::Index in)
    : weight_(weight), damping_(kNaN) {
  if (weight == Weight::none) return;
  if (!(lambda >= 0) || !std::isfinite(lambda))
    fail("damping {} is not valid (a finite number >= 0, relative to the mean diagonal)", lambda);
  if (weight == Weight::fisher) {
    if (!stats.fisher) fail("weight = fisher needs Fisher statistics (calibrate with --fisher)");
    const MatrixD& f = *stats.fisher;
    if (f.rows() != out || f.cols() != in)
      fail("Fisher statistics are {}x{}, but the matrix is {}x{}", f.rows(), f.cols(), out, in);
    if (!finite(f)) fail("Fisher statistics hold NaN or Inf (recompute them)");
    left_ = damped(f.rowwise().mean(), lambda, "Fisher row means").cwiseSqrt();
    diag_ = damped(f.colwise().mean().transpose(), lambda, "Fisher column means").cwiseSqrt();
    damping_ = lambda;
    return;
  }
  if (!stats.h) fail("weight = act needs calibration statistics H (calibrate first, or --calib)");
  const MatrixD& h = *stats.h;
  check_input_stats(h, in, "weight = act");
  const double mean = h.diagonal().mean();
  if (!(mean > 0)) fail("calibration statistics H are zero (no calibration tokens reached them?)");
  if (scale == Scale::diag) {
    diag_ = damped(h.diagonal(), lambda, "diagonal of H").cwiseSqrt();
    damping_ = lambda;
    return;
  }
  // H is PSD; damping makes it definite. A failing factorisation means the damping was too small
  // for rounding in H: raise it as documented rather than fail a sweep on a borderline layer.
  for (double l = lambda;; l = std::max(l * 10, kMinDamping)) {
    MatrixD hd = h;
    hd.diagonal().array() += l * mean;
    Eigen::LLT<MatrixD> llt(hd);
    if (llt.info() == Eigen::Success) {
      chol_ = llt.matrixL();
      damping_ = l;
      return;
    }
    if (l >= kMaxDamping)
      fail(
          "calibration statistics H ({}x{}) are not positive definite even with damping {}: "
          "are they from this layer?",
          in, in, l);
  }
}

Matrix Weighting::apply(ConstMatrixRef r) const {
  MatrixD m = r.cast<double>();
  if (left_.size()) m = left_.asDiagonal() * m;
  if (chol_.size()) {
    m = m * chol_.triangularView<Eigen::Lower>();
  } else {
    m = m * diag_.asDiagonal();
  }
  return m.cast<float>();
}

void Weighting::unapply(Matrix& b, Matrix& a) const {
  if (left_.size()) b = (left_.cwiseInverse().asDiagonal() * b.cast<double>()).cast<float>();
  MatrixD ad = a.cast<double>();
  if (chol_.size()) {
    // A S^{-1}: solve X L = A, i.e. L^T X^T = A^T.
    MatrixD xt = ad.transpose();
    chol_.transpose().triangularView<Eigen::Upper>().solveInPlace(xt);
    ad = xt.transpose();
  } else {
    ad = ad * diag_.cwiseInverse().asDiagonal();
  }
  a = ad.cast<float>();
}

double weighted_norm(ConstMatrixRef e, const MatrixD& h) {
  const MatrixD ed = e.cast<double>();
  const double s = (ed * h).cwiseProduct(ed).sum();
  return std::sqrt(std::max(s, 0.0));
}

}  // namespace loft::init
