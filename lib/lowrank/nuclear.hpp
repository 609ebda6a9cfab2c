#pragma once
// The nuclear norm ||A||_* (sum of singular values) of a float32 m x n matrix, by the cheapest
// route that stays exact to float32 working precision.
//
// Fast route: the Gram matrix on the short side, G = A A^T (m <= n) or A^T A, by float32 ssyrk,
// then its eigenvalues without vectors (LAPACK ssyevd_2stage, jobz 'N'), and ||A||_* = sum of
// sqrt(max(lambda_i, 0)), accumulated in double. It skips the bidiagonalisation's two-sided
// Householder sweeps of sgesdd (half the flops, and ssyrk runs at GEMM speed).
//
// Squaring loses the small singular values: the Gram and the eigensolver perturb each lambda by
// up to about delta = eps sqrt(K) lambda_max (K the long side, eps the unit roundoff; ||E||_2
// measured at 0.05-0.1 of that on Gaussian matrices), so sigma_i is uncertain by
// min(sqrt(delta), delta / (2 sigma_i)). The route adds those up as an error bound. When the
// float32 bound exceeds kGramTolerance of the result (rank-deficient or sharply decaying
// spectra; a rank-r fit's residual at the 4096 scale unless its directions are given), the route
// runs in double (dsyrk over panels of A widened one at a time, dsyevd_2stage: twice the float32
// cost, eps 2^-53), which still costs about half of sgesdd's float32 bidiagonalisation; only when
// the double bound fails too (a spectrum spanning more than about 8 decades) does it take the
// reference, every singular value by sgesdd.
//
// The residual of a rank-r fit, A = M - U S V^T with U^T M = S V^T (LoftQ's and QPiSSA's
// W - Q - s B A, U spanning B), is (I - U U^T) M: u^T A = 0 for every u in span(U), so r of the
// short side's singular values are zero when the rows are the short side (square and wide
// matrices). There the float32 Gram reads sqrt(noise) for each, and the bound charges sqrt(delta)
// for each: at 4096x4096, r = 64, they are 60% of the bound, enough to send the residual to the
// double route. A caller that knows such directions passes them (nuclear_norm(a, left)): by
// Cauchy interlacing, for any orthonormal m x r U the k = min(m, n) - (m - r) smallest singular
// values of A are each at most sigma_1(U^T A) <= ||U^T A||_F =: s. U is an orthonormal basis of
// the directions (Householder QR in double) and U^T A is formed in double from the exact float
// products, so s bounds them for whatever directions are passed; the route then takes
// min(sqrt(lambda_i), s) for the k smallest, each uncertain by s instead of sqrt(delta), wherever
// s is the smaller. Directions that A does not annihilate only give a large s, and the route is
// what it is without them.
#include <span>
#include <vector>

#include "common/matrix.hpp"

namespace loft::lowrank {

// The Gram route's eigensolver: the eigenvalues, ascending, of the symmetric n x n matrix whose
// lower triangle `a` holds (column-major, overwritten), without vectors. LAPACK's two-stage
// reduction (dense to a band of width `band`, band to tridiagonal) and ?sterf; band 0 leaves the
// width to ?syevd_2stage, which picks 32 for any n. The float32 route passes kWideBand from n =
// kWideBandFrom: the first stage runs at GEMM speed and gains more from the wider band than the
// memory-bound second stage loses (n = 4096, one thread: median 1.83 s against 2.25 s at 32, in
// bench/README.md; no gain at n = 2048). In double the second stage moves twice the bytes and
// the two widths measured within their noise of each other, so the double route keeps 32.
// Both widths give the eigenvalues to working precision: they differ in rounding only.
std::vector<float> symmetric_eigenvalues(std::span<float> a, int n, int band);
std::vector<double> symmetric_eigenvalues(std::span<double> a, int n, int band);
inline constexpr int kWideBand = 64;
inline constexpr int kWideBandFrom = 3072;

// Relative error bound a route must meet for nuclear_norm() to take its value.
inline constexpr double kGramTolerance = 1e-4;

// What a caller knows of the smallest singular values: the `count` smallest are each at most
// `at_most` (none by default).
struct SmallValues {
  int count = 0;
  double at_most = 0;
};

// The bound that directions u with u^T a ~ 0 (the columns of `left`, m x r, any r) give, as
// above; {} when they force none (k <= 0). Throws for a row count other than a's.
SmallValues left_null_bound(ConstMatrixRef a, ConstMatrixRef left);

struct GramNuclear {
  double value = 0;        // sum of sqrt(max(lambda_i, 0))
  double error_bound = 0;  // the bound above, absolute
};

enum class NuclearRoute { gram_f32, gram_f64, gesdd };

struct RoutedNuclear {
  double value = 0;
  NuclearRoute route = NuclearRoute::gram_f32;
};

// The Gram route alone in float32 or double (for tests and benchmarks); inputs as nuclear_norm.
GramNuclear nuclear_norm_gram(ConstMatrixRef a, SmallValues known = {});
GramNuclear nuclear_norm_gram_f64(ConstMatrixRef a, SmallValues known = {});

// The reference: the sum of every singular value from sgesdd, in double.
double nuclear_norm_gesdd(ConstMatrixRef a);

// The first route, in the order above, whose bound is within `tolerance` of its value.
RoutedNuclear nuclear_norm_routed(ConstMatrixRef a, double tolerance = kGramTolerance,
                                  SmallValues known = {});

// nuclear_norm_routed(a).value. 0 for an empty matrix; throws for NaN or Inf entries.
double nuclear_norm(ConstMatrixRef a);
// The same with the bound of left_null_bound(a, left): the residual (I - U U^T) M of a rank-r fit
// with U spanning `left`.
double nuclear_norm(ConstMatrixRef a, ConstMatrixRef left);

}  // namespace loft::lowrank
