// Every init method with every SVD method on rank-deficient weights (zero, constant, rank 1,
// rank below r): no crash, finite factors of the requested shapes, and a trace whose last
// Frobenius residual is what Q + s B A really leaves.
#include "init/init.hpp"
#include "init/stats_support.hpp"
#include "support.hpp"

using namespace loft;
using namespace loft::init;

TEST_CASE("every init method x every SVD method on rank-deficient matrices", "[init]") {
  const std::pair<const char*, Matrix> cases[] = {
      {"zero", Matrix::Zero(64, 128)},
      {"constant", Matrix::Constant(64, 128, 1.0f)},
      {"rank 1", test::integer_rank(128, 64, 1)},
      {"rank 3", test::integer_rank(64, 64, 3)},
  };
  const quant::Spec nf4 = quant::parse("nf4");
  for (const auto& [name, w] : cases) {
    for (const auto& method : methods()) {
      for (const auto& svd : lowrank::svd_methods()) {
        for (int rank : {1, 8}) {
          INFO(method.name << " / " << svd.name << " on " << name << ", rank " << rank);
          Options o;
          o.steps = 3;
          o.svd = lowrank::parse_svd(svd.name);
          o.nuclear = Nuclear::every;
          const auto h = test::stats_for(method, w, o);
          const Result r = initialize(method.name, w, nf4, rank, o);
          REQUIRE(r.Q.rows() == w.rows());
          REQUIRE(r.Q.cols() == w.cols());
          REQUIRE(r.A.rows() == rank);
          REQUIRE(r.B.cols() == rank);
          CHECK(r.Q.allFinite());
          CHECK(r.A.allFinite());
          CHECK(r.B.allFinite());
          REQUIRE(r.trace.size() >= 1);
          for (double f : r.trace.residual_fro) CHECK(std::isfinite(f));
          CHECK(r.trace.residual_fro.back() ==
                Approx(residual_reference(w, r.Q, r.B, r.A, r.scale)).margin(1e-3));
        }
      }
    }
  }
}
