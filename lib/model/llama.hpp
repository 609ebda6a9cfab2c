#pragma once
// A small Llama (RMSNorm, RoPE in both conventions, grouped-query attention, SwiGLU) with a
// hand-written backward pass, templated on the scalar so that tests can check gradients against
// finite differences in double precision while training runs in float.
//
// Every linear layer is y = x (W + s B A)^T: W is the frozen base (for adapted models the
// dequantised output of an init method, i.e. exactly what the quantised model computes with), A
// (r x in) and B (out x r) the trainable adapter. Full-parameter training marks W (and the
// embeddings and norms) trainable instead; the same forward and backward serve both.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "io/source.hpp"

namespace loft::model {

template <typename T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;

using io::LlamaConfig;

// One named tensor and its gradient; the optimiser updates the trainable ones.
template <typename T>
struct Param {
  std::string name;  // Hugging Face name, e.g. "model.layers.0.self_attn.q_proj.weight"
  Mat<T> value;
  Mat<T> grad;  // same shape as value once backward ran; untouched when not trainable
  bool trainable = false;
};

// y = x W^T + s (x A^T) B^T. W is frozen unless weight.trainable; A, B are empty without adapter.
template <typename T>
struct Linear {
  Param<T> weight;  // out x in
  Param<T> A;       // r x in
  Param<T> B;       // out x r
  T scale = 0;      // s = lora_alpha / r
  bool has_adapter() const { return A.value.size() > 0; }
  int rank() const { return static_cast<int>(A.value.rows()); }
};

// Position of each linear layer in Block::linears() and in per-layer arrays such as the
// workspace's effective weights.
enum LinearIndex : int { kQ, kK, kV, kO, kGate, kUp, kDown, kLinearsPerBlock };

template <typename T>
struct Block {
  Param<T> attn_norm, ffn_norm;  // 1 x dim
  Linear<T> q, k, v, o, gate, up, down;
  // The seven linear layers, in LinearIndex order.
  std::vector<Linear<T>*> linears() { return {&q, &k, &v, &o, &gate, &up, &down}; }
};

template <typename T>
struct Llama {
  LlamaConfig cfg;
  Param<T> embed;  // vocab x dim
  std::vector<Block<T>> layers;
  Param<T> norm;     // 1 x dim
  Param<T> lm_head;  // vocab x dim; empty when tied to embed
  int head_size() const { return cfg.dim / cfg.n_heads; }
  // Every parameter (base weights, adapters, norms, embeddings), in a fixed order.
  std::vector<Param<T>*> params();
  std::vector<Linear<T>*> linears();
};

// Checks the config (dims divisible, positive sizes) and throws loft::Error naming the field.
void validate(const LlamaConfig& cfg);

// A model with every tensor allocated (zeros) under Hugging Face names.
template <typename T>
Llama<T> make_llama(const LlamaConfig& cfg);

// A fresh model for pretraining: N(0, 0.02) weights (output projections scaled by
// 1/sqrt(2 n_layers) as in GPT-2/llama2.c), unit norms, seeded by seed.
template <typename T>
Llama<T> init_random(const LlamaConfig& cfg, uint64_t seed);

// Load every tensor of a checkpoint source (llama2c:, hf:) under its Hugging Face name; the
// RoPE convention comes from the source's config.
Llama<float> load_llama(const io::TensorSource& src);
Llama<float> load_llama(const std::string& spec);

// Copy with another scalar type (float -> double for gradient checks).
template <typename To, typename From>
Llama<To> cast_llama(const Llama<From>& m);

// Mark which tensors train: adapters only (LoRA), or everything (full training).
enum class TrainMode { adapters, full };
template <typename T>
void set_trainable(Llama<T>& m, TrainMode mode);

}  // namespace loft::model
