// The classification head's backward (head, and A, B through the pooled state) against central
// finite differences in double, for both poolings and padded sequences; B = 0 leaves the base.
#include <fmt/format.h>

#include "finite_differences.hpp"
#include "model/class_train.hpp"
#include "model/classifier.hpp"
#include "support.hpp"
#include "tiny.hpp"

using namespace loft;
using namespace loft::model;

namespace {

// Three sequences padded to 6 tokens; real lengths 6, 3 and 1 (padding is token 0).
ClassBatch tiny_class_batch(int vocab) {
  ClassBatch b;
  b.batch = 3;
  b.seq = 6;
  b.lengths = {6, 3, 1};
  b.labels = {2, 0, 1};
  Rng rng = make_rng(11, "class-batch");
  std::uniform_int_distribution<int32_t> tok(1, vocab - 1);
  for (int i = 0; i < b.batch; ++i)
    for (int t = 0; t < b.seq; ++t) b.tokens.push_back(t < b.lengths[i] ? tok(rng) : 0);
  return b;
}

// Largest relative |analytic - numeric| over the head and the model's trainable parameters.
double max_fd_error(Llama<double>& m, ClassHead<double>& head, const ClassBatch& b, int* checked) {
  ClassWorkspace<double> cw;
  zero_grads(m);
  for (auto* p : head.params()) p->grad.setZero(p->value.rows(), p->value.cols());
  classify_forward(m, head, cw, b);
  classify_backward(m, head, cw);
  std::vector<Param<double>*> params = head.params();
  for (auto* p : m.params())
    if (p->trainable) params.push_back(p);
  return test::max_fd_error(
      params, [&] { return classify_forward(m, head, cw, b); }, checked);
}

}  // namespace

TEST_CASE("classifier: head and adapter gradients through the pooled state match FD") {
  for (Pooling pool : {Pooling::last, Pooling::mean}) {
    auto m = test::tiny_model<double>(test::tiny_config(), 3, 2);
    set_trainable(m, TrainMode::adapters);
    auto head = make_head<double>(3, m.cfg.dim, pool, 5);
    head.weight.value *= 20.0;  // large enough that the adapter gradients are far from zero
    int checked = 0;
    const double err = max_fd_error(m, head, tiny_class_batch(m.cfg.vocab_size), &checked);
    size_t expect = head.weight.value.size() + head.bias.value.size();
    for (auto* l : m.linears()) expect += l->A.value.size() + l->B.value.size();
    INFO("pooling " << (pool == Pooling::last ? "last" : "mean"));
    CHECK(checked == static_cast<int>(expect));
    CHECK(err < 1e-7);
  }
}

TEST_CASE("classifier: full training and a frozen model (head only) differentiate correctly") {
  auto m = test::tiny_model<double>(test::tiny_config(true, false), 4, 0);
  set_trainable(m, TrainMode::full);
  auto head = make_head<double>(3, m.cfg.dim, Pooling::mean, 6);
  head.weight.value *= 20.0;
  int checked = 0;
  CHECK(max_fd_error(m, head, tiny_class_batch(m.cfg.vocab_size), &checked) < 1e-7);
  for (auto* p : m.params()) p->trainable = false;
  CHECK(max_fd_error(m, head, tiny_class_batch(m.cfg.vocab_size), &checked) < 1e-7);
  CHECK(checked == static_cast<int>(head.weight.value.size() + head.bias.value.size()));
}

TEST_CASE("classifier: padding does not change a sequence's logits; B = 0 gives the base's") {
  auto base = test::tiny_model<double>(test::tiny_config(), 8, 0);
  auto adapted = test::tiny_model<double>(test::tiny_config(), 8, 2);
  for (auto* l : adapted.linears()) l->B.value.setZero();
  auto head = make_head<double>(3, base.cfg.dim, Pooling::last, 1);
  ClassBatch b = tiny_class_batch(base.cfg.vocab_size);
  b.labels.clear();  // raw logits (with labels the forward leaves their softmax)
  ClassWorkspace<double> w1, w2;
  classify_forward(base, head, w1, b);
  classify_forward(adapted, head, w2, b);
  CHECK((w1.logits - w2.logits).cwiseAbs().maxCoeff() < 1e-14);
  // The second sequence alone, unpadded, has the logits it had padded inside the batch.
  ClassBatch one;
  one.batch = 1;
  one.seq = 3;
  one.lengths = {3};
  one.tokens.assign(b.tokens.begin() + 6, b.tokens.begin() + 9);
  classify_forward(base, head, w2, one);
  CHECK((w1.logits.row(1) - w2.logits.row(0)).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("classifier: bad batches and poolings are errors naming the value") {
  auto m = test::tiny_model<double>(test::tiny_config(), 8, 0);
  auto head = make_head<double>(3, m.cfg.dim, Pooling::last, 1);
  ClassWorkspace<double> cw;
  ClassBatch b = tiny_class_batch(m.cfg.vocab_size);
  b.labels[0] = 3;
  REQUIRE_THROWS_WITH(classify_forward(m, head, cw, b), Catch::Contains("label 3"));
  b = tiny_class_batch(m.cfg.vocab_size);
  b.lengths[1] = 0;
  REQUIRE_THROWS_WITH(classify_forward(m, head, cw, b), Catch::Contains("length 0"));
  REQUIRE_THROWS_WITH(parse_pooling("first"), Catch::Contains("'first'"));
}

TEST_CASE("classifier: accuracy and macro-F1 by hand") {
  // labels 0 0 1 1 2, predicted 0 1 1 1 0: class 0 F1 = 2*1/(2+2) = 0.5, class 1 2*2/(3+2) = 0.8,
  // class 2 never right: 0; class 3 neither predicted nor present, left out.
  const ClassMetrics s = score({0, 1, 1, 1, 0}, {0, 0, 1, 1, 2}, 4);
  CHECK(s.acc == Approx(3.0 / 5));
  CHECK(s.macro_f1 == Approx((0.5 + 0.8 + 0.0) / 3));
}

TEST_CASE("classifier: training separates two token patterns and keeps the best checkpoint") {
  auto m = cast_llama<float>(test::tiny_model<double>(test::tiny_config(), 9, 2, 0.2));
  for (auto* l : m.linears()) l->B.value.setZero();
  set_trainable(m, TrainMode::adapters);
  auto head = make_head<float>(2, m.cfg.dim, Pooling::mean, 3);
  // Class 0: sequences of tokens 1..5, class 1: tokens 6..10, lengths 2..6.
  LabelledTokens train, val;
  Rng rng = make_rng(4, "class-data");
  std::uniform_int_distribution<int> len(2, 6), off(0, 4);
  for (int i = 0; i < 120; ++i) {
    LabelledTokens& d = i < 80 ? train : val;
    const int label = i % 2;
    std::vector<int32_t> s(len(rng));
    for (auto& t : s) t = 1 + 5 * label + off(rng);
    d.seqs.push_back(s);
    d.labels.push_back(label);
  }
  TrainConfig tc;
  tc.steps = 60;
  tc.batch = 8;
  tc.eval_every = 10;
  tc.opt.lr = 0.02;
  const ClassCurves c = train_classifier(m, head, train, val, tc);
  REQUIRE(c.eval_acc.size() == 7);  // steps 0, 10, ..., 60
  CHECK(c.eval_acc.front() < 0.8);
  CHECK(c.best_acc > 0.95);
  CHECK(c.best_acc == *std::max_element(c.eval_acc.begin(), c.eval_acc.end()));
  // The parameters restored are those of the best validation accuracy.
  CHECK(evaluate_classifier(m, head, val, 16).acc == Approx(c.best_acc));
  CHECK(c.train.loss.back() < c.train.loss.front());
  CHECK(c.train.tokens_per_s > 0);
}
