// Truncated SVD: every registry row against Eigen's JacobiSVD (the reference), the shared
// conventions (descending values, orthonormal factors, signs), spec strings, and determinism.
#include <omp.h>

#include <Eigen/SVD>
#include <random>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "lowrank/randomized.hpp"
#include "lowrank/svd.hpp"
#include "runtime/blas_core.hpp"
#include "support.hpp"

using namespace loft;
using namespace loft::lowrank;

namespace {

// Orthonormal factors with chosen singular values, so vectors are well defined (distinct values).
Matrix with_spectrum(Eigen::Index m, Eigen::Index n, const Eigen::VectorXd& s, uint64_t seed) {
  const Eigen::Index k = s.size();
  Eigen::MatrixXd u =
      test::gaussian(m, k, seed, 1.0f).cast<double>().householderQr().householderQ() *
      Eigen::MatrixXd::Identity(m, k);
  Eigen::MatrixXd v =
      test::gaussian(n, k, seed + 1, 1.0f).cast<double>().householderQr().householderQ() *
      Eigen::MatrixXd::Identity(n, k);
  return (u * s.asDiagonal() * v.transpose()).cast<float>();
}

// Low rank plus noise: the case the randomized method is meant for. The signal's smallest value
// (10 * 0.95^(true_rank - 1)) stays above the noise's largest (~noise * (sqrt(m) + sqrt(n))).
Matrix low_rank_plus_noise(Eigen::Index m, Eigen::Index n, int true_rank, float noise,
                           uint64_t seed) {
  Eigen::VectorXd s(true_rank);
  for (int i = 0; i < true_rank; ++i) s(i) = 10.0 * std::pow(0.95, i);
  return with_spectrum(m, n, s, seed) + test::gaussian(m, n, seed + 7, noise);
}

struct Reference {
  Eigen::VectorXd S;
  Eigen::MatrixXd U, V;
};

Reference jacobi(const Matrix& a, int rank) {
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(a.cast<double>(),
                                        Eigen::ComputeThinU | Eigen::ComputeThinV);
  Matrix u = svd.matrixU().leftCols(rank).cast<float>();
  Matrix v = svd.matrixV().leftCols(rank).cast<float>();
  normalise_signs(u, v);
  return {svd.singularValues(), u.cast<double>(), v.cast<double>()};
}

bool identical(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::equal(a.data(), a.data() + a.size(), b.data());
}

double residual(const Matrix& a, const TruncatedSvd& t) {
  return (a.cast<double>() -
          t.U.cast<double>() * t.S.cast<double>().asDiagonal() * t.V.cast<double>().transpose())
      .norm();
}

void check_conventions(const TruncatedSvd& t, Eigen::Index m, Eigen::Index n, int rank) {
  REQUIRE(t.U.rows() == m);
  REQUIRE(t.U.cols() == rank);
  REQUIRE(t.V.rows() == n);
  REQUIRE(t.V.cols() == rank);
  REQUIRE(t.S.size() == rank);
  for (int j = 0; j < rank; ++j) {
    CHECK(t.S(j) >= 0);
    if (j > 0) CHECK(t.S(j) <= t.S(j - 1));
    Eigen::Index imax;
    t.U.col(j).cwiseAbs().maxCoeff(&imax);
    CHECK(t.U(imax, j) > 0);
  }
  const Eigen::MatrixXd I = Eigen::MatrixXd::Identity(rank, rank);
  CHECK((t.U.cast<double>().transpose() * t.U.cast<double>() - I).cwiseAbs().maxCoeff() < 1e-4);
  CHECK((t.V.cast<double>().transpose() * t.V.cast<double>() - I).cwiseAbs().maxCoeff() < 1e-4);
}

}  // namespace

TEST_CASE("svd spec strings round-trip for every registry row", "[lowrank]") {
  REQUIRE(svd_methods().size() >= 2);
  for (const auto& m : svd_methods()) {
    INFO(m.name);
    const SvdSpec defaults = parse_svd(m.name);
    const std::string canonical = format(defaults);
    CHECK(format(parse_svd(canonical)) == canonical);
    CHECK(parse_svd(canonical).name == m.name);
    for (const auto& o : m.options) CHECK(defaults.*o.field == o.default_value);
  }
  const SvdSpec r = parse_svd("randomized:q=5:p=3");
  CHECK(r.oversample == 3);
  CHECK(r.power_iters == 5);
  CHECK(format(r) == "randomized:p=3:q=5");
  CHECK(format(parse_svd("randomized")) == "randomized:p=10:q=2");
  CHECK(format(parse_svd("exact")) == "exact");
  CHECK(format(parse_svd("exact-gesdd")) == "exact-gesdd");
}

TEST_CASE("bad svd specs name the fault and the valid choices", "[lowrank]") {
  auto message = [](const char* s) {
    try {
      parse_svd(s);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(message("lanczos"), Catch::Contains("lanczos") && Catch::Contains("randomized"));
  CHECK_THAT(message("randomized:p=-1"), Catch::Contains("p='-1'") && Catch::Contains(">= 0"));
  CHECK_THAT(message("randomized:x=3"), Catch::Contains("'x=3'") && Catch::Contains("p=INT"));
  CHECK_THAT(message("randomized:p=1.5"), Catch::Contains("integer"));
  CHECK_THAT(message("exact:p=3"), Catch::Contains("none"));
  CHECK_THAT(message("exact:gesdd"), Catch::Contains("'gesdd'") && Catch::Contains("none"));
}

TEST_CASE("both exact drivers match Eigen JacobiSVD on tall, wide and square matrices",
          "[lowrank]") {
  struct Shape {
    Eigen::Index m, n;
    int rank;
  };
  for (const char* driver : {"exact", "exact-gesdd"}) {
    for (const Shape sh : {Shape{60, 40, 10}, Shape{40, 60, 10}, Shape{50, 50, 50}, Shape{33, 7, 7},
                           Shape{7, 33, 3}, Shape{45, 30, 1}, Shape{30, 45, 30}}) {
      INFO(driver << " " << sh.m << "x" << sh.n << " rank " << sh.rank);
      const Eigen::Index k = std::min(sh.m, sh.n);
      Eigen::VectorXd s(k);
      for (Eigen::Index i = 0; i < k; ++i) s(i) = 5.0 / (1.0 + 0.3 * double(i));  // distinct
      const Matrix a = with_spectrum(sh.m, sh.n, s, 11 + sh.m);
      const TruncatedSvd t = truncated_svd(parse_svd(driver), a, sh.rank);
      const Reference ref = jacobi(a, sh.rank);
      check_conventions(t, sh.m, sh.n, sh.rank);
      CHECK((t.S.cast<double>() - ref.S.head(sh.rank)).cwiseAbs().maxCoeff() < 1e-5 * ref.S(0));
      CHECK((t.U.cast<double>() - ref.U).cwiseAbs().maxCoeff() < 1e-4);
      CHECK((t.V.cast<double>() - ref.V).cwiseAbs().maxCoeff() < 1e-4);
      CHECK(t.all_values.size() == (find_svd_method(driver).all_values ? k : 0));
      if (t.all_values.size() > 0)
        CHECK((t.all_values.cast<double>() - ref.S).cwiseAbs().maxCoeff() < 1e-5 * ref.S(0));
      CHECK((singular_values(a).cast<double>() - ref.S).cwiseAbs().maxCoeff() < 1e-5 * ref.S(0));
      // Eckart-Young: the truncation error is the tail of the spectrum.
      CHECK(residual(a, t) == Approx(ref.S.tail(k - sh.rank).norm()).margin(1e-5 * ref.S(0)));
    }
  }
}

// sgesvdx (exact) against sgesdd (exact-gesdd) on Gaussian matrices, whose values are distinct
// but close (a flat spectrum, like LoftQ's quantisation error): same values, the same vectors up
// to rounding (|u_j . u'_j| ~ 1 and, with the sign convention, u_j ~ u'_j), same reconstruction.
TEST_CASE("exact (sgesvdx) agrees with exact-gesdd (sgesdd), r = 1 .. min(m, n)", "[lowrank]") {
  struct Shape {
    int m, n;
  };
  for (const Shape sh : {Shape{120, 80}, Shape{80, 120}, Shape{100, 100}, Shape{400, 90}}) {
    const int k = std::min(sh.m, sh.n);
    const Matrix a = test::gaussian(sh.m, sh.n, 17 + sh.m, 0.02f);
    for (int rank : {1, 8, k / 2, k}) {
      INFO(sh.m << "x" << sh.n << " rank " << rank);
      const TruncatedSvd fast = truncated_svd(parse_svd("exact"), a, rank);
      const TruncatedSvd ref = truncated_svd(parse_svd("exact-gesdd"), a, rank);
      check_conventions(fast, sh.m, sh.n, rank);
      CHECK((fast.S - ref.S).cwiseAbs().maxCoeff() < 1e-5 * ref.S(0));
      const Eigen::VectorXd dots_u =
          (fast.U.cast<double>().transpose() * ref.U.cast<double>()).diagonal();
      const Eigen::VectorXd dots_v =
          (fast.V.cast<double>().transpose() * ref.V.cast<double>()).diagonal();
      CHECK((dots_u.array() - 1).abs().maxCoeff() < 1e-3);
      CHECK((dots_v.array() - 1).abs().maxCoeff() < 1e-3);
      // The rank-r approximation is determined only to about u sigma_1^2 / gap (u = 2^-24, gap =
      // sigma_r - sigma_{r+1}; Davis-Kahan), so the bound grows with sigma_1 / gap: measured up to
      // 1.1e-5 ||A|| at 100x100 r = 8 (sigma_1 / gap = 277) across OpenBLAS's Prescott, Haswell,
      // SkylakeX and SandyBridge kernels, against a bound of 6.6e-5 ||A|| there. A wrong
      // triplet would be off by about sigma_r, ~0.1 ||A||.
      const double gap = rank < k ? ref.all_values(rank - 1) - ref.all_values(rank) : 0.0;
      const double subspace = gap > 0 ? 20 * 0x1p-24 * ref.S(0) * ref.S(0) / gap : 0.0;
      CHECK((fast.reconstruct() - ref.reconstruct()).norm() < 1e-5 * a.norm() + subspace);
      // At r = k both residuals are pure float32 rounding, a few ulps of ||A|| times sqrt(k)
      // that depend on the BLAS kernels: 400x90 at r = 90 measured 2.3e-6 ||A|| (sgesvdx) vs
      // 1.2e-6 ||A|| (sgesdd) with OpenBLAS's AVX-512 kernels. Hence the margin, as in the
      // reconstruction check above; below full rank the relative epsilon decides.
      CHECK(residual(a, fast) == Approx(residual(a, ref)).epsilon(1e-5).margin(1e-5 * a.norm()));
    }
  }
}

// With repeated values the vectors inside the repeated block are not unique: compare what is
// (the values, the spanned subspaces through the projector U U^T, and the rank-r approximation).
// The cut r = 6 falls inside a block of four equal values, so only the values and orthonormality
// are defined there; r = 4 and r = 8 cut between blocks.
TEST_CASE("exact handles repeated singular values", "[lowrank]") {
  for (auto [m, n] : {std::pair<int, int>{50, 30}, {30, 50}}) {
    const int k = std::min(m, n);
    Eigen::VectorXd s(k);
    for (int i = 0; i < k; ++i) s(i) = i < 4 ? 3.0 : i < 8 ? 2.0 : 1.0 / (1 + i);
    const Matrix a = with_spectrum(m, n, s, 23);
    for (int rank : {4, 6, 8, k}) {
      INFO(m << "x" << n << " rank " << rank);
      const TruncatedSvd fast = truncated_svd(parse_svd("exact"), a, rank);
      const TruncatedSvd ref = truncated_svd(parse_svd("exact-gesdd"), a, rank);
      check_conventions(fast, m, n, rank);
      CHECK((fast.S.cast<double>() - s.head(rank)).cwiseAbs().maxCoeff() < 1e-5 * s(0));
      if (rank == 6) continue;
      const Eigen::MatrixXd pu = fast.U.cast<double>() * fast.U.cast<double>().transpose();
      const Eigen::MatrixXd pu_ref = ref.U.cast<double>() * ref.U.cast<double>().transpose();
      CHECK((pu - pu_ref).cwiseAbs().maxCoeff() < 1e-4);
      CHECK((fast.reconstruct() - ref.reconstruct()).norm() < 1e-5 * a.norm());
    }
  }
}

TEST_CASE("every method keeps the conventions and reaches ~0 error at full rank", "[lowrank]") {
  for (const auto& m : svd_methods()) {
    for (auto [rows, cols] : {std::pair<int, int>{30, 20}, {20, 30}}) {
      INFO(m.name << " " << rows << "x" << cols);
      const Matrix a = test::gaussian(rows, cols, 3, 1.0f);
      const int k = std::min(rows, cols);
      const SvdSpec spec = parse_svd(m.name);
      const TruncatedSvd partial = truncated_svd(spec, a, 5, 1);
      check_conventions(partial, rows, cols, 5);
      CHECK(partial.all_values.size() == (m.all_values ? k : 0));
      const TruncatedSvd full = truncated_svd(spec, a, k, 1);
      check_conventions(full, rows, cols, k);
      CHECK(residual(a, full) < 1e-5 * a.norm());
    }
  }
}

TEST_CASE("randomized is within 1% of exact on low-rank-plus-noise matrices", "[lowrank]") {
  for (auto [m, n] : {std::pair<int, int>{240, 160}, {160, 240}}) {
    const Matrix a = low_rank_plus_noise(m, n, 30, 0.02f, 5);
    for (int rank : {5, 15, 30}) {
      INFO(m << "x" << n << " rank " << rank);
      const TruncatedSvd ex = truncated_svd(parse_svd("exact"), a, rank);
      const TruncatedSvd rnd = truncated_svd(parse_svd("randomized:p=10:q=2"), a, rank, 42);
      check_conventions(rnd, m, n, rank);
      CHECK(residual(a, rnd) <= 1.01 * residual(a, ex));
      CHECK(residual(a, rnd) >= residual(a, ex) * (1 - 1e-5));  // exact is optimal
      for (int j = 0; j < rank; ++j) CHECK(rnd.S(j) == Approx(ex.S(j)).epsilon(0.01));
    }
  }
}

TEST_CASE("power iterations matter: q=0 is measurably worse than q=2 on a flat tail", "[lowrank]") {
  const Matrix a = low_rank_plus_noise(200, 200, 30, 0.3f, 9);
  const double ex = residual(a, truncated_svd(parse_svd("exact"), a, 30));
  const double q0 = residual(a, truncated_svd(parse_svd("randomized:p=5:q=0"), a, 30, 1));
  const double q2 = residual(a, truncated_svd(parse_svd("randomized:p=5:q=2"), a, 30, 1));
  CHECK(q2 < q0);
  CHECK(q2 - ex < 0.5 * (q0 - ex));
}

// OpenBLAS's threaded LAPACK rounds differently for 1 and 2 threads, so `exact` on a large
// matrix agrees only to rounding; the randomized path controls every product and is bitwise
// reproducible.
TEST_CASE("randomized SVD is a function of its seed, not of the thread count", "[lowrank]") {
  const Matrix a = low_rank_plus_noise(700, 300, 20, 0.1f, 2);
  const SvdSpec spec = parse_svd("randomized");
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const TruncatedSvd one = truncated_svd(spec, a, 16, 7);
  const TruncatedSvd ex1 = truncated_svd(parse_svd("exact"), a, 16);
  omp_set_num_threads(2);
  const TruncatedSvd two = truncated_svd(spec, a, 16, 7);
  const TruncatedSvd ex2 = truncated_svd(parse_svd("exact"), a, 16);
  omp_set_num_threads(saved);
  CHECK(identical(one.U, two.U));
  CHECK(one.S == two.S);
  CHECK(identical(one.V, two.V));
  CHECK((ex1.U - ex2.U).cwiseAbs().maxCoeff() < 1e-5);
  CHECK((ex1.S - ex2.S).cwiseAbs().maxCoeff() < 1e-5 * ex1.S(0));
  const TruncatedSvd other = truncated_svd(spec, a, 16, 8);
  CHECK(!identical(other.U, one.U));  // the seed is used
}

TEST_CASE("bad inputs are errors naming the shape and the valid range", "[lowrank]") {
  const Matrix a = test::gaussian(8, 5, 1, 1.0f);
  for (const auto& m : svd_methods()) {
    const SvdSpec spec = parse_svd(m.name);
    CHECK_THROWS_WITH(truncated_svd(spec, a, 0), Catch::Contains("8x5") && Catch::Contains("1..5"));
    CHECK_THROWS_WITH(truncated_svd(spec, a, 6), Catch::Contains("rank 6"));
    Matrix bad = a;
    bad(3, 2) = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_WITH(truncated_svd(spec, bad, 2), Catch::Contains("NaN"));
    CHECK_THROWS_AS(truncated_svd(spec, Matrix(0, 3), 1), Error);
  }
}

// Debian's libopenblas0-openmp runs BLAS on OpenMP's own pool: inside an OpenMP parallel region
// it runs serially instead of spawning a second set of threads. If a pthreads OpenBLAS were
// linked, OpenMP callers (the sweep's parallel points) would oversubscribe the cores.
TEST_CASE("BLAS shares OpenMP's thread pool, so nested calls do not oversubscribe", "[lowrank]") {
  INFO(runtime::blas_description());
  CHECK(runtime::blas_uses_openmp_pool());
  const Matrix a = test::gaussian(120, 80, 4, 1.0f), b = test::gaussian(120, 80, 5, 1.0f);
  const SvdSpec spec = parse_svd("randomized");
  const TruncatedSvd sa = truncated_svd(spec, a, 10, 1), sb = truncated_svd(spec, b, 10, 1);
  TruncatedSvd pa, pb;
#pragma omp parallel sections num_threads(2)
  {
#pragma omp section
    pa = truncated_svd(spec, a, 10, 1);
#pragma omp section
    pb = truncated_svd(spec, b, 10, 1);
  }
  CHECK(identical(pa.U, sa.U));
  CHECK(identical(pb.U, sb.U));
}

TEST_CASE("the thread-independent products match Eigen's", "[lowrank]") {
  const Matrix a = test::gaussian(300, 200, 1, 1.0f);
  const ColMatrix x = test::gaussian(200, 9, 2, 1.0f), y = test::gaussian(300, 9, 3, 1.0f);
  ColMatrix out;
  a_times(a, x, out);
  CHECK((out.cast<double>() - a.cast<double>() * x.cast<double>()).cwiseAbs().maxCoeff() < 1e-4);
  at_times(a, y, out);
  CHECK(
      (out.cast<double>() - a.cast<double>().transpose() * y.cast<double>()).cwiseAbs().maxCoeff() <
      1e-4);
  const Matrix b = test::gaussian(300, 7, 4, 1.0f), c = test::gaussian(7, 200, 5, 1.0f);
  Matrix diff;
  subtract_product(a, 0.5f, b, c, diff);
  const Eigen::MatrixXd ref = a.cast<double>() - 0.5 * b.cast<double>() * c.cast<double>();
  CHECK((diff.cast<double>() - ref).cwiseAbs().maxCoeff() < 1e-4);
  subtract_product(a, 0.5f, Matrix(300, 0), Matrix(0, 200), diff);  // rank 0: a copy
  CHECK(identical(diff, a));
}

TEST_CASE("orthonormalise_columns spans the same space", "[lowrank]") {
  ColMatrix y = test::gaussian(50, 6, 12, 1.0f);
  const ColMatrix before = y;
  orthonormalise_columns(y);
  CHECK((y.transpose() * y - Eigen::MatrixXf::Identity(6, 6)).cwiseAbs().maxCoeff() < 1e-5);
  CHECK((y * (y.transpose() * before) - before).norm() < 1e-4 * before.norm());
}

TEST_CASE("randomized-warm: cold it is randomized; warm from a nearby matrix it stays accurate",
          "[lowrank]") {
  const Matrix a = low_rank_plus_noise(300, 200, 30, 0.05f, 21);
  const TruncatedSvd cold = truncated_svd(parse_svd("randomized-warm"), a, 12, 5);
  const TruncatedSvd plain = truncated_svd(parse_svd("randomized"), a, 12, 5);
  CHECK(cold.S == plain.S);  // no start: the same sketch and iterations
  REQUIRE(cold.basis.rows() == 200);
  REQUIRE(cold.basis.cols() == 22);  // r + p
  CHECK((cold.basis.transpose() * cold.basis - Eigen::MatrixXf::Identity(22, 22))
            .cwiseAbs()
            .maxCoeff() < 1e-4f);
  // A nearby matrix (as LoftQ's next residual is), started from the basis with w = 0: two
  // products only, and the truncation error within 1% of exact's.
  const Matrix b = a + test::gaussian(300, 200, 22, 0.01f);
  const TruncatedSvd warm = truncated_svd(parse_svd("randomized-warm"), b, 12, 6, &cold.basis);
  const TruncatedSvd exact = truncated_svd(parse_svd("exact"), b, 12);
  const double err_warm = (b - warm.reconstruct()).norm(),
               err_exact = (b - exact.reconstruct()).norm();
  CHECK(err_warm <= err_exact * 1.01);
  // A start of the wrong shape is ignored (a cold start).
  const Eigen::MatrixXf wrong = Eigen::MatrixXf::Identity(200, 5);
  CHECK(truncated_svd(parse_svd("randomized-warm"), a, 12, 5, &wrong).S == plain.S);
}
