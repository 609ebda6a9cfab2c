// Norms and the LoRA A initialiser.
#include <cmath>
#include <vector>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "init/init.hpp"

namespace loft::init {

namespace {

// Sum of f(row) over rows: each row summed in double by one thread, the row sums added in order,
// so the result does not depend on the thread count.
template <typename RowSum>
double sum_rows(Eigen::Index rows, RowSum row_sum) {
  std::vector<double> partial(static_cast<size_t>(rows));
#pragma omp parallel for schedule(static) if (rows > 64)
  for (Eigen::Index i = 0; i < rows; ++i) partial[static_cast<size_t>(i)] = row_sum(i);
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

}  // namespace

double frobenius(ConstMatrixRef a) {
  return std::sqrt(sum_rows(a.rows(), [&](Eigen::Index i) {
    double s = 0;
    for (Eigen::Index j = 0; j < a.cols(); ++j) s += double(a(i, j)) * a(i, j);
    return s;
  }));
}

double frobenius_distance(ConstMatrixRef a, ConstMatrixRef b) {
  if (a.rows() != b.rows() || a.cols() != b.cols())
    fail("frobenius_distance of a {}x{} and a {}x{} matrix", a.rows(), a.cols(), b.rows(),
         b.cols());
  return std::sqrt(sum_rows(a.rows(), [&](Eigen::Index i) {
    double s = 0;
    for (Eigen::Index j = 0; j < a.cols(); ++j) {
      const double d = double(a(i, j)) - double(b(i, j));
      s += d * d;
    }
    return s;
  }));
}

double residual_reference(ConstMatrixRef w, ConstMatrixRef q, ConstMatrixRef b, ConstMatrixRef a,
                          double s) {
  const Eigen::MatrixXd e =
      w.cast<double>() - q.cast<double>() - s * (b.cast<double>() * a.cast<double>());
  return e.norm();
}

Matrix kaiming_uniform_a(int rank, int in, uint64_t seed) {
  Rng rng = make_rng(seed, "lora_A");
  const double bound = 1.0 / std::sqrt(double(in));
  Matrix a(rank, in);
  for (Eigen::Index i = 0; i < a.size(); ++i) {
    const double u = double(rng() >> 11) * 0x1.0p-53;  // [0, 1), 53 random bits
    a.data()[i] = static_cast<float>((2 * u - 1) * bound);
  }
  return a;
}

}  // namespace loft::init
