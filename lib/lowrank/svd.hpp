#pragma once
// Truncated SVD of a float32 m x n matrix: A ~= U diag(S) V^T with the top r singular triplets.
//
// Methods live in one registry table (svd_methods()); a spec string names a row and its options:
//   "exact"                 the top r triplets from LAPACK sgesvdx (range 'I', OpenBLAS
//                           underneath), to working precision: the same bidiagonalisation as
//                           sgesdd, but only r vectors are computed and back-transformed. No
//                           tail values (a nuclear norm costs singular_values()).
//   "exact-gesdd"           the reference: LAPACK's full thin SVD (sgesdd, all min(m, n)
//                           vectors) truncated to r; also returns every singular value. About
//                           1.8x slower than "exact" at 2048-4096 (bench/README.md, LoftQ).
//   "randomized:p=10:q=2"   Halko-Martinsson-Tropp range finder: oversampling p, q power
//                           iterations re-orthonormalised between products, then an exact SVD
//                           of the small (r+p) x n projection. Seeded; no tail values.
//   "randomized-warm:p=10:q=2:w=0"
//                           the same range finder, but a caller that solves a sequence of
//                           nearby matrices (LoftQ's steps) passes the previous result's
//                           row-space basis as the start instead of a Gaussian sketch, and then
//                           w power iterations suffice; without a start (the first step) it is
//                           "randomized" with q iterations.
// format(parse_svd(s)) is the canonical form (every option written out).
//
// Conventions, whatever the method: S descending and >= 0; U (m x r) and V (n x r) have
// orthonormal columns; each pair (u_j, v_j) is signed so that the largest-magnitude entry of u_j
// is positive (the first such entry on ties), so results are deterministic across runs, thread
// counts and LAPACK drivers. rank may be anything in 1..min(m, n).
//
// Threads: BLAS/LAPACK calls run on OpenMP's pool (Debian's libopenblas0-openmp), so they use
// omp_get_max_threads() threads and run single-threaded when called inside an OpenMP parallel
// region: no oversubscription from nesting. runtime::blas_description() reports what is linked.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/matrix.hpp"

namespace loft::lowrank {

struct TruncatedSvd {
  Matrix U;           // m x r
  Eigen::VectorXf S;  // r, descending
  Matrix V;           // n x r (not V^T)
  // Every singular value of A (min(m, n), descending) when the method computes them anyway
  // (exact-gesdd); empty otherwise. The tail beyond r gives the truncation error's spectrum.
  Eigen::VectorXf all_values;
  // randomized-warm: an orthonormal basis (n x l) of the row space found, the start of the next
  // call on a nearby matrix; empty otherwise.
  Eigen::MatrixXf basis;

  int rank() const { return static_cast<int>(S.size()); }
  Matrix reconstruct() const;  // U diag(S) V^T
};

// A parsed spec string. Options that a method does not take keep their defaults.
struct SvdSpec {
  std::string name = "exact";  // registry row
  int oversample = 10;         // randomized: p, extra columns of the sketch
  int power_iters = 2;         // randomized: q, power iterations
  int warm_iters = 0;          // randomized-warm: w, power iterations from a warm start
};

// One option a method accepts, "key=value" in the spec string.
struct SvdOption {
  std::string_view key;
  int SvdSpec::*field;
  int default_value;
  int min_value;
  std::string_view help;
};

struct SvdMethod {
  std::string_view name;
  std::string_view description;
  std::vector<SvdOption> options;
  bool all_values;  // fills TruncatedSvd::all_values
  // start: a previous result's basis (n x l) or nullptr; only warm-starting rows read it.
  TruncatedSvd (*run)(const SvdSpec& spec, ConstMatrixRef a, int rank, uint64_t seed,
                      const Eigen::MatrixXf* start);
};

const std::vector<SvdMethod>& svd_methods();
const SvdMethod& find_svd_method(std::string_view name);  // throws listing the valid names

SvdSpec parse_svd(std::string_view spec);  // throws naming the bad part and what is valid
std::string format(const SvdSpec& spec);

// The top-`rank` triplets of a. seed feeds the randomized methods (derive_seed(seed, "svd")).
// Throws for rank outside 1..min(m, n), an empty matrix, or NaN/Inf entries.
// start: the basis of the previous call's result on a nearby matrix of the same shape (warm
// starts; ignored by other rows, and when its shape does not fit).
TruncatedSvd truncated_svd(const SvdSpec& spec, ConstMatrixRef a, int rank, uint64_t seed = 0,
                           const Eigen::MatrixXf* start = nullptr);

// Every singular value of a, descending (LAPACK sgesdd without vectors).
Eigen::VectorXf singular_values(ConstMatrixRef a);

// Make the sign convention above hold (flips u_j and v_j together).
void normalise_signs(Matrix& U, Matrix& V);

}  // namespace loft::lowrank
