// Rank-deficient inputs (zero, constant, rank 1, rank below r): every SVD method must return a
// valid rank-r factorisation there too, i.e. r orthonormal pairs with the zero singular values
// completing the spectrum, and the best rank-r approximation (Eckart-Young) as reconstruction.
// LAPACK's sgesvdx writes past its documented outputs on such matrices, so this also runs in
// `make test-sanitize`.
#include <Eigen/SVD>

#include "lowrank/svd.hpp"
#include "support.hpp"

using namespace loft;
using namespace loft::lowrank;

namespace {

struct Case {
  const char* name;
  Matrix a;
};

std::vector<Case> rank_deficient(Eigen::Index m, Eigen::Index n) {
  return {{"zero", Matrix::Zero(m, n)},
          {"constant", Matrix::Constant(m, n, 1.0f)},
          {"rank 1", test::integer_rank(m, n, 1)},
          {"rank 3", test::integer_rank(m, n, 3)}};
}

}  // namespace

TEST_CASE("every SVD method gives a valid rank-r factorisation of rank-deficient matrices",
          "[lowrank]") {
  for (auto [m, n] : {std::pair<int, int>{64, 128}, {128, 64}, {64, 64}, {300, 100}}) {
    for (const auto& c : rank_deficient(m, n)) {
      const Eigen::JacobiSVD<Eigen::MatrixXd> ref(c.a.cast<double>());
      const Eigen::VectorXd sv = ref.singularValues();
      const double scale = std::max(1.0, sv(0));
      const int k = std::min(m, n);
      for (const auto& method : svd_methods()) {
        for (int rank : {1, 2, 5, 16, k}) {
          INFO(method.name << " on " << c.name << " " << m << "x" << n << ", rank " << rank);
          const TruncatedSvd t = truncated_svd(parse_svd(method.name), c.a, rank, 7);
          REQUIRE(t.U.rows() == m);
          REQUIRE(t.U.cols() == rank);
          REQUIRE(t.V.rows() == n);
          REQUIRE(t.V.cols() == rank);
          REQUIRE(t.S.size() == rank);
          REQUIRE(t.U.allFinite());
          REQUIRE(t.V.allFinite());
          const Eigen::MatrixXd I = Eigen::MatrixXd::Identity(rank, rank);
          CHECK((t.U.cast<double>().transpose() * t.U.cast<double>() - I).cwiseAbs().maxCoeff() <
                1e-4);
          CHECK((t.V.cast<double>().transpose() * t.V.cast<double>() - I).cwiseAbs().maxCoeff() <
                1e-4);
          for (int j = 0; j < rank; ++j) {
            CHECK(t.S(j) >= 0);
            if (j > 0) CHECK(t.S(j) <= t.S(j - 1));
            CHECK(std::abs(t.S(j) - sv(j)) < 1e-4 * scale);
          }
          const double err = (c.a.cast<double>() - t.reconstruct().cast<double>()).norm();
          CHECK(err == Approx(sv.tail(k - rank).norm()).margin(1e-4 * scale));
          if (t.all_values.size() > 0)
            CHECK((t.all_values.cast<double>() - sv).cwiseAbs().maxCoeff() < 1e-4 * scale);
        }
      }
    }
  }
}

TEST_CASE("exact (sgesvdx) is still used, and exact, when only the tail is rank-deficient",
          "[lowrank]") {
  // Rank 3 with r = 2: the top pairs exist and are distinct, so sgesvdx's own result is taken;
  // it must match the full SVD (sgesdd).
  const Matrix a = test::integer_rank(80, 120, 3);
  const TruncatedSvd fast = truncated_svd(parse_svd("exact"), a, 2);
  const TruncatedSvd ref = truncated_svd(parse_svd("exact-gesdd"), a, 2);
  CHECK((fast.S - ref.S).cwiseAbs().maxCoeff() < 1e-5 * ref.S(0));
  CHECK((fast.reconstruct() - ref.reconstruct()).norm() < 1e-5 * a.norm());
}
