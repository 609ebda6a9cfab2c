#pragma once
// Data-aware weighting of the low-rank step: instead of ||R - BA||_F the step minimises
//     ||D_out (R - BA) S||_F
// where S (in x in) and D_out (out x out, diagonal) come from calibration statistics:
//   act     S S^T = H = sum x^T x, the layer's input second moment, so that the objective is the
//           layer's output error on the calibration inputs, ||X (R - BA)^T||_F (QERA). With
//           scale = exact S is the Cholesky factor of H (any S with S S^T = H gives the same
//           minimiser); with scale = diag S = diag(sqrt(H_ii)) (QERA's approximation).
//   fisher  LQ-LoRA's rank-1 approximation of the diagonal Fisher F (out x in): F ~ u c^T with u
//           the row means and c the column means, so D_out = diag(sqrt(u)), S = diag(sqrt(c)).
// The minimiser is closed-form: with U Sigma V^T = SVD_r(D_out R S),
//     B = D_out^{-1} U sqrt(Sigma),  A = sqrt(Sigma) V^T S^{-1}.
//
// Damping: the statistics are used as H + lambda * mean(diag H) * I (and likewise F's row and
// column means plus lambda times their mean), which makes S invertible when fewer calibration
// tokens than input features leave H singular. When the Cholesky factorisation still fails,
// lambda is raised tenfold (from at least 1e-6) until it succeeds or exceeds 1; the lambda that
// was used is `damping` (the methods return it in Result::damping).
#include <string_view>

#include "common/matrix.hpp"

namespace loft::init {

enum class Weight { none, act, fisher };
enum class Scale { exact, diag };

Weight parse_weight(std::string_view s);  // none | act | fisher, throws listing them
Scale parse_scale(std::string_view s);    // exact | diag
std::string_view name(Weight w);
std::string_view name(Scale s);

// Statistics of one linear layer; null pointers mean "not available".
struct LayerStats {
  const MatrixD* h = nullptr;       // in x in, H = sum x^T x over the calibration tokens
  const MatrixD* fisher = nullptr;  // out x in, mean squared gradient of the loss w.r.t. W
};

class Weighting {
 public:
  // Throws when the statistics the weight needs are missing, of the wrong shape for an
  // out x in matrix, or hold NaN/Inf.
  Weighting(Weight weight, Scale scale, double lambda, const LayerStats& stats, Eigen::Index out,
            Eigen::Index in);

  bool active() const { return weight_ != Weight::none; }
  double damping() const { return damping_; }  // the relative lambda used (NaN when inactive)
  // D_out R S (rounded to float32 for the SVD).
  Matrix apply(ConstMatrixRef r) const;
  // Turns factors of the weighted problem into factors of the original one (in place):
  // B <- D_out^{-1} B, A <- A S^{-1}.
  void unapply(Matrix& b, Matrix& a) const;

 private:
  Weight weight_;
  double damping_;
  Eigen::VectorXd left_;  // diagonal of D_out (fisher); empty = identity
  Eigen::VectorXd diag_;  // diagonal S (scale = diag, or fisher)
  MatrixD chol_;          // lower-triangular S (act with scale = exact)
};

// ||E S||_F with S S^T = h, i.e. sqrt(trace(E h E^T)), accumulated in double: the layer's
// output error on the calibration inputs (undamped h).
double weighted_norm(ConstMatrixRef e, const MatrixD& h);

// Throws unless h is a finite square matrix of the given width.
void check_input_stats(const MatrixD& h, Eigen::Index in, std::string_view what);

}  // namespace loft::init
