#pragma once
// synthetic:KIND[:opt=v...] - seeded random matrices, so experiments run with no data at all.
// Tensors are named "synthetic.{i}.weight" (i = 0..count-1) and each is drawn from its own
// generator, derive_seed(seed, name): a tensor does not depend on count or on load order.
// Normal draws use Box-Muller over mt19937_64 bits, so files are identical across standard
// libraries. Kinds (one registry row each) and options:
//   all kinds   shape=ROWSxCOLS (256x256), count=N (4), seed=S (0), std=X (0.02)
//   gaussian    i.i.d. N(0, std^2)
//   student-t   heavy tails: std * t_df, rescaled to standard deviation std when df > 2; df=3
//   lowrank     U diag(k^-decay) V^T (k = 1..rank, U, V random orthonormal) scaled to RMS std,
//               plus Gaussian noise of standard deviation noise*std; rank=16, decay=1.0,
//               noise=0.1
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "io/source.hpp"

namespace loft::io {

struct SyntheticKind {
  const char* name;
  const char* description;
  std::map<std::string, std::string> defaults;  // kind-specific options and default values
};

std::span<const SyntheticKind> synthetic_kinds();

// "KIND[:opt=v...]" (the part after "synthetic:").
std::unique_ptr<TensorSource> open_synthetic(std::string_view spec);

}  // namespace loft::io
