#pragma once
// A sequence-classification head on the Llama's final hidden state (after the final RMSNorm),
// trained in full precision beside the adapters, as PEFT's modules_to_save trains a head:
//   logits = pool(xnf) W^T + b,  loss = mean cross-entropy over the batch.
// Sequences are right-padded to a common length; the model is causal, so padding never changes
// the states of the real tokens, and pooling reads the real tokens only: the last one (`last`, as
// Hugging Face's LlamaForSequenceClassification) or their mean (`mean`).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model/forward.hpp"

namespace loft::model {

enum class Pooling { last, mean };
Pooling parse_pooling(const std::string& key);  // "last" | "mean"; throws naming the value

template <typename T>
struct ClassHead {
  Param<T> weight;  // classes x dim
  Param<T> bias;    // 1 x classes
  Pooling pooling = Pooling::last;
  int classes() const { return static_cast<int>(weight.value.rows()); }
  std::vector<Param<T>*> params() { return {&weight, &bias}; }
};

// N(0, 0.02) weight (the Hugging Face initializer_range), zero bias, both trainable.
template <typename T>
ClassHead<T> make_head(int classes, int dim, Pooling pooling, uint64_t seed);

// B sequences of T token ids, right-padded; lengths[b] >= 1 real tokens each.
struct ClassBatch {
  std::vector<int32_t> tokens;  // batch x seq
  std::vector<int> lengths;
  std::vector<int> labels;  // one per sequence; empty to predict only
  int batch = 0, seq = 0;
};

template <typename T>
struct ClassWorkspace {
  Workspace<T> ws;
  Mat<T> pooled;  // batch x dim
  Mat<T> logits;  // batch x classes; after a forward with labels, the softmax for backward
  std::vector<int> labels, lengths;  // of the last forward
};

// Logits of every sequence in cw.logits; with labels the mean cross-entropy (else 0).
template <typename T>
T classify_forward(Llama<T>& m, ClassHead<T>& head, ClassWorkspace<T>& cw, const ClassBatch& b);

// Gradients of the last forward's loss, accumulated (+=) into the head and, when the model has a
// trainable parameter, through the pooled state into the model's trainable parameters.
template <typename T>
void classify_backward(Llama<T>& m, ClassHead<T>& head, ClassWorkspace<T>& cw);

}  // namespace loft::model
