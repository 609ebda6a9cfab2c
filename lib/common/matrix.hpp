#pragma once
// The one matrix type of loftlab: float32, row-major (out x in), the memory order of PyTorch
// and safetensors, so a quantisation block over the flattened matrix is contiguous memory.
#include <Eigen/Dense>
#include <cstdint>

namespace loft {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXf;
using MatrixRef = Eigen::Ref<Matrix>;
using ConstMatrixRef = Eigen::Ref<const Matrix>;

}  // namespace loft
