#pragma once
// Streaming a function over the tensors of a source: `jobs` workers, each holding one tensor at
// a time. A worker loads its tensor, has the source drop the tensor's mapped pages at once (the
// float32 copy is all it needs), runs `work` and hands the result on through it, so the resident
// set is about `jobs` tensors and their working memory, whatever the depth of the model.
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "common/matrix.hpp"
#include "io/source.hpp"

namespace loft::engine {

struct StreamOptions {
  int jobs = 1;     // tensors in flight
  int threads = 0;  // OpenMP threads shared among the jobs; 0 = all
  // Called (serialised) after each finished tensor with the count done and its element count.
  std::function<void(size_t done, size_t elements)> on_done;
};

// Runs work(i, W) for every names[i], W loaded from the source (2-D as out x in). Work items
// are independent: the order in which they finish does not change what they produce. The first
// exception stops the workers from taking new tensors and is rethrown, prefixed with the tensor.
void stream_tensors(const io::TensorSource& source, const std::vector<std::string>& names,
                    const std::function<void(size_t, Matrix&&)>& work,
                    const StreamOptions& options = {});

}  // namespace loft::engine
