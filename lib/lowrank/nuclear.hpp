#pragma once
// The nuclear norm ||A||_* (sum of singular values) of a float32 m x n matrix, by the cheapest
// route that stays exact to float32 working precision.
//
// Fast route: the Gram matrix on the short side, G = A A^T (m <= n) or A^T A, by float32 ssyrk,
// then its eigenvalues without vectors (LAPACK ssyevd_2stage, jobz 'N'), and ||A||_* = sum of
// sqrt(max(lambda_i, 0)), accumulated in double. It skips the bidiagonalisation's two-sided
// Householder sweeps of sgesdd (half the flops, and ssyrk runs at GEMM speed).
//
// Squaring loses the small singular values: the float Gram and the eigensolver perturb each
// lambda by up to about delta = eps sqrt(K) lambda_max (K the long side; ||E||_2 measured at
// 0.05-0.1 of that on Gaussian matrices), so sigma_i is uncertain by min(sqrt(delta),
// delta / (2 sigma_i)). The route adds those up as an error bound and, when the bound exceeds
// kGramTolerance of the result (rank-deficient or sharply decaying spectra, where many sigma_i
// sit at the noise floor), falls back to the reference: every singular value by sgesdd.
// Residuals of quantisation and LoftQ are noise-like and full rank, so they take the fast route.
#include "common/matrix.hpp"

namespace loft::lowrank {

// Relative error bound above which nuclear_norm() uses sgesdd instead of the Gram route.
inline constexpr double kGramTolerance = 1e-4;

struct GramNuclear {
  double value = 0;        // sum of sqrt(max(lambda_i, 0))
  double error_bound = 0;  // the bound above, absolute
};

// The fast route alone (for tests and benchmarks); inputs as nuclear_norm.
GramNuclear nuclear_norm_gram(ConstMatrixRef a);

// The reference: the sum of every singular value from sgesdd, in double.
double nuclear_norm_gesdd(ConstMatrixRef a);

// The Gram route when its bound holds, else the reference. 0 for an empty matrix; throws for
// NaN or Inf entries.
double nuclear_norm(ConstMatrixRef a);

}  // namespace loft::lowrank
