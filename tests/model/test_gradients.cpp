// The hand-written backward against central finite differences, in double precision, on a tiny
// random model: adapters (A, B) and full training (every weight, norm and embedding).
#include <fmt/format.h>

#include "finite_differences.hpp"
#include "model/forward.hpp"
#include "support.hpp"
#include "tiny.hpp"

using namespace loft;
using namespace loft::model;

namespace {

struct Batch {
  std::vector<int32_t> inputs, targets;
  int batch = 2, seq = 5;
};

Batch tiny_batch(int vocab, int batch = 2, int seq = 5) {
  Batch b;
  b.batch = batch;
  b.seq = seq;
  Rng rng = make_rng(7, "batch");
  std::uniform_int_distribution<int32_t> tok(0, vocab - 1);
  for (int i = 0; i < b.batch * b.seq; ++i) {
    b.inputs.push_back(tok(rng));
    b.targets.push_back(tok(rng));
  }
  b.targets[3] = -1;  // an ignored position must contribute nothing
  return b;
}

// Largest relative |analytic - numeric| over every `stride`-th entry of each trainable parameter.
double max_fd_error(Llama<double>& m, const Batch& b, int* checked, int stride = 1) {
  Workspace<double> ws;
  zero_grads(m);
  forward(m, ws, b.inputs, b.targets, b.batch, b.seq);
  backward(m, ws);
  std::vector<Param<double>*> params;
  for (auto* p : m.params())
    if (p->trainable) params.push_back(p);
  return test::max_fd_error(
      params, [&] { return forward(m, ws, b.inputs, b.targets, b.batch, b.seq); }, checked, stride);
}

}  // namespace

TEST_CASE("adapter gradients (A, B) match central finite differences") {
  for (bool half : {false, true}) {
    auto m = test::tiny_model<double>(test::tiny_config(half), 1, 3);
    set_trainable(m, TrainMode::adapters);
    int checked = 0;
    const double err = max_fd_error(m, tiny_batch(m.cfg.vocab_size), &checked);
    INFO("half_split " << half << ", entries checked " << checked);
    size_t adapter_entries = 0;
    for (auto* l : m.linears()) adapter_entries += l->A.value.size() + l->B.value.size();
    CHECK(checked == static_cast<int>(adapter_entries));
    CHECK(err < 1e-7);
  }
}

TEST_CASE("full-training gradients (weights, norms, embeddings, head) match finite differences") {
  for (bool tied : {true, false}) {
    auto m = test::tiny_model<double>(test::tiny_config(false, tied), 2, 0);
    set_trainable(m, TrainMode::full);
    int checked = 0;
    const double err = max_fd_error(m, tiny_batch(m.cfg.vocab_size), &checked);
    INFO("tied " << tied << ", entries checked " << checked);
    CHECK(checked == static_cast<int>([&] {
            size_t n = 0;
            for (auto* p : m.params()) n += p->value.size();
            return n;
          }()));
    CHECK(err < 1e-7);
  }
}

TEST_CASE("full training with adapters present differentiates the base weights too") {
  auto m = test::tiny_model<double>(test::tiny_config(true), 3, 2);
  set_trainable(m, TrainMode::full);
  int checked = 0;
  CHECK(max_fd_error(m, tiny_batch(m.cfg.vocab_size), &checked) < 1e-7);
}

TEST_CASE("gradients through long sequences (several causal attention blocks) match FD") {
  auto m = test::tiny_model<double>(test::tiny_config(), 5, 1);
  m.cfg.seq_len = 256;
  set_trainable(m, TrainMode::adapters);
  int checked = 0;
  CHECK(max_fd_error(m, tiny_batch(m.cfg.vocab_size, 1, 140), &checked, 9) < 1e-7);
  CHECK(checked > 20);
}

TEST_CASE("gradients accumulate across backward calls until zeroed") {
  auto m = test::tiny_model<double>(test::tiny_config(), 4, 2);
  set_trainable(m, TrainMode::adapters);
  auto b = tiny_batch(m.cfg.vocab_size);
  Workspace<double> ws;
  zero_grads(m);
  forward(m, ws, b.inputs, b.targets, b.batch, b.seq);
  backward(m, ws);
  const Mat<double> once = m.layers[0].q.A.grad;
  forward(m, ws, b.inputs, b.targets, b.batch, b.seq);
  backward(m, ws);
  CHECK((m.layers[0].q.A.grad - 2 * once).norm() <= 1e-12 * once.norm());
  CHECK(once.norm() > 0);
}
