// The chunked row products against plain Eigen products, with more rows than one chunk so the
// parallel paths and the ordered reduction run, and the same result for any thread count.
#include <omp.h>

#include "model/row_products.hpp"
#include "support.hpp"

using namespace loft::model;

TEST_CASE("chunked row products equal the plain products, for any thread count") {
  const Eigen::Index n = 3 * rows::kChunk + 17;
  Mat<double> a = Mat<double>::Random(n, 9), b = Mat<double>::Random(n, 5);
  Mat<double> w = Mat<double>::Random(7, 9), v = Mat<double>::Random(9, 4);
  Mat<double> out;
  rows::mul_bt(out, a, w);
  CHECK((out - a * w.transpose()).norm() < 1e-12);
  Mat<double> acc = out;
  rows::mul_bt(acc, a, w, true);
  CHECK((acc - 2 * a * w.transpose()).norm() < 1e-12);
  rows::mul(out, a, v);
  CHECK((out - a * v).norm() < 1e-12);
  rows::mul(out, a, v, true);
  CHECK((out - 2 * a * v).norm() < 1e-12);

  Mat<double> g = Mat<double>::Ones(9, 5);
  rows::add_at_b(g, a, b, 0.5);
  CHECK((g - (Mat<double>::Ones(9, 5) + 0.5 * a.transpose() * b)).norm() < 1e-11);

  // The reduction sums chunk partials in chunk order: bitwise the same on 1 or 2 threads.
  Mat<float> af = a.cast<float>(), bf = b.cast<float>();
  Mat<float> g1 = Mat<float>::Zero(9, 5), g2 = Mat<float>::Zero(9, 5);
  const int keep = omp_get_max_threads();
  omp_set_num_threads(1);
  rows::add_at_b(g1, af, bf);
  omp_set_num_threads(2);
  rows::add_at_b(g2, af, bf);
  omp_set_num_threads(keep);
  CHECK(g1 == g2);
}
