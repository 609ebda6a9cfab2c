// The classification head: pooling, logits, cross-entropy and their backward.
#include "model/classifier.hpp"

#include <cmath>
#include <random>

#include "common/error.hpp"
#include "common/rng.hpp"

namespace loft::model {

Pooling parse_pooling(const std::string& key) {
  if (key == "last") return Pooling::last;
  if (key == "mean") return Pooling::mean;
  fail("pooling: '{}' is not a pooling (valid: last, mean)", key);
}

template <typename T>
ClassHead<T> make_head(int classes, int dim, Pooling pooling, uint64_t seed) {
  if (classes < 2 || dim < 1) fail("classification head: {} classes, dim {}", classes, dim);
  ClassHead<T> h;
  h.pooling = pooling;
  h.weight.name = "score.weight";
  h.bias.name = "score.bias";
  h.weight.value.resize(classes, dim);
  h.bias.value = Mat<T>::Zero(1, classes);
  Rng rng = make_rng(seed, "score.weight");
  std::normal_distribution<double> nd(0.0, 0.02);
  for (Eigen::Index i = 0; i < h.weight.value.size(); ++i) h.weight.value.data()[i] = T(nd(rng));
  h.weight.trainable = h.bias.trainable = true;
  return h;
}

namespace {

void check_batch(const ClassBatch& b, int classes) {
  if (b.batch < 1 || b.seq < 1 || b.tokens.size() != size_t(b.batch) * b.seq ||
      b.lengths.size() != size_t(b.batch))
    fail("classify: batch {} x seq {} with {} tokens and {} lengths", b.batch, b.seq,
         b.tokens.size(), b.lengths.size());
  for (int len : b.lengths)
    if (len < 1 || len > b.seq) fail("classify: sequence length {} outside 1..{}", len, b.seq);
  if (!b.labels.empty() && b.labels.size() != size_t(b.batch))
    fail("classify: {} labels for {} sequences", b.labels.size(), b.batch);
  for (int l : b.labels)
    if (l < 0 || l >= classes) fail("classify: label {} outside 0..{}", l, classes - 1);
}

// The first row of xnf a sequence's pooled state reads and how many (their mean is pooled).
std::pair<int, int> pooled_rows(Pooling p, int b, int seq, int len) {
  return p == Pooling::last ? std::pair{b * seq + len - 1, 1} : std::pair{b * seq, len};
}

}  // namespace

template <typename T>
T classify_forward(Llama<T>& m, ClassHead<T>& head, ClassWorkspace<T>& cw, const ClassBatch& b) {
  check_batch(b, head.classes());
  if (head.weight.value.cols() != m.cfg.dim)
    fail("classify: head of width {} on a model of dim {}", head.weight.value.cols(), m.cfg.dim);
  forward_hidden(m, cw.ws, b.tokens, b.batch, b.seq);
  cw.pooled.resize(b.batch, m.cfg.dim);
  for (int i = 0; i < b.batch; ++i) {
    const auto [first, count] = pooled_rows(head.pooling, i, b.seq, b.lengths[i]);
    cw.pooled.row(i) = cw.ws.xnf.middleRows(first, count).colwise().sum() / T(count);
  }
  cw.logits = cw.pooled * head.weight.value.transpose();
  cw.logits.rowwise() += head.bias.value.row(0);
  cw.labels = b.labels;
  cw.lengths = b.lengths;
  if (b.labels.empty()) return T(0);
  double loss = 0;
  for (int i = 0; i < b.batch; ++i) {
    auto row = cw.logits.row(i);
    const T mx = row.maxCoeff();
    row = (row.array() - mx).exp();
    row /= row.sum();
    loss -= std::log(double(row(b.labels[i])));
  }
  return T(loss / b.batch);
}

template <typename T>
void classify_backward(Llama<T>& m, ClassHead<T>& head, ClassWorkspace<T>& cw) {
  if (cw.labels.empty()) fail("classify backward: the last forward had no labels");
  const int B = static_cast<int>(cw.labels.size()), seq = cw.ws.seq;
  Mat<T> dlog = cw.logits;  // softmax
  for (int i = 0; i < B; ++i) dlog(i, cw.labels[i]) -= T(1);
  dlog /= T(B);
  for (auto* p : head.params())
    if (p->grad.rows() != p->value.rows() || p->grad.cols() != p->value.cols())
      p->grad = Mat<T>::Zero(p->value.rows(), p->value.cols());
  head.weight.grad.noalias() += dlog.transpose() * cw.pooled;
  head.bias.grad.row(0) += dlog.colwise().sum();
  bool model_trains = false;
  for (auto* p : m.params()) model_trains = model_trains || p->trainable;
  if (!model_trains) return;
  const Mat<T> dpooled = dlog * head.weight.value;  // B x dim
  cw.ws.dxn = Mat<T>::Zero(static_cast<Eigen::Index>(B) * seq, m.cfg.dim);
  for (int i = 0; i < B; ++i) {
    const auto [first, count] = pooled_rows(head.pooling, i, seq, cw.lengths[i]);
    for (int r = first; r < first + count; ++r) cw.ws.dxn.row(r) += dpooled.row(i) / T(count);
  }
  backward_hidden(m, cw.ws);
}

template ClassHead<float> make_head<float>(int, int, Pooling, uint64_t);
template ClassHead<double> make_head<double>(int, int, Pooling, uint64_t);
template float classify_forward<float>(Llama<float>&, ClassHead<float>&, ClassWorkspace<float>&,
                                       const ClassBatch&);
template double classify_forward<double>(Llama<double>&, ClassHead<double>&,
                                         ClassWorkspace<double>&, const ClassBatch&);
template void classify_backward<float>(Llama<float>&, ClassHead<float>&, ClassWorkspace<float>&);
template void classify_backward<double>(Llama<double>&, ClassHead<double>&,
                                        ClassWorkspace<double>&);

}  // namespace loft::model
