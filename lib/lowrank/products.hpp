#pragma once
// The large matrix products of the low-rank code, computed so that the result does not depend
// on the thread count: the output is cut into fixed blocks of rows, each block is one serial
// BLAS call (OpenBLAS runs serially inside an OpenMP region), and the blocks are spread over
// OpenMP threads. OpenBLAS's own threading splits tall-skinny products differently for 1 and 2
// threads and so rounds differently; this does not. Each has a plain Eigen reference in the tests.
#include "common/matrix.hpp"

namespace loft::lowrank {

// Column-major: sketches are tall and skinny and LAPACK's QR wants them so.
using ColMatrix = Eigen::MatrixXf;

// out (m x l) = A x, with A row-major m x n and x n x l.
void a_times(ConstMatrixRef a, const ColMatrix& x, ColMatrix& out);
// out (n x l) = A^T y, with A row-major m x n and y m x l.
void at_times(ConstMatrixRef a, const ColMatrix& y, ColMatrix& out);
// out = w - s * b * a, all row-major: w m x n, b m x r, a r x n. out may not alias w.
void subtract_product(ConstMatrixRef w, float s, ConstMatrixRef b, ConstMatrixRef a, Matrix& out);

// While alive, BLAS/LAPACK calls made by this thread run serially (omp_set_num_threads(1)),
// for small factorisations whose threaded rounding would depend on the thread count.
class SerialBlas {
 public:
  SerialBlas();
  ~SerialBlas();
  SerialBlas(const SerialBlas&) = delete;
  SerialBlas& operator=(const SerialBlas&) = delete;

 private:
  int saved_;
};

}  // namespace loft::lowrank
