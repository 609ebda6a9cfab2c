#pragma once
// A tiny random Llama for the model tests: small enough for finite differences and per-token
// reference loops, with every structural feature (GQA, several layers, untied or tied head).
#include <random>

#include "common/rng.hpp"
#include "model/llama.hpp"

namespace loft::test {

inline io::LlamaConfig tiny_config(bool half_split = false, bool tied = true) {
  io::LlamaConfig c;
  c.dim = 8;
  c.hidden_dim = 12;
  c.n_layers = 2;
  c.n_heads = 2;  // head size 4: the two RoPE conventions pair different entries
  c.n_kv_heads = 1;
  c.vocab_size = 11;
  c.seq_len = 16;
  c.rope_half_split = half_split;
  c.tied_embeddings = tied;
  return c;
}

// Weights of standard deviation `std` (large enough that every path carries gradient), norms
// around 1, and rank-r adapters with nonzero A and B on every linear layer when rank > 0.
template <typename T>
model::Llama<T> tiny_model(const io::LlamaConfig& cfg, uint64_t seed, int rank, double std = 0.4) {
  auto m = model::make_llama<T>(cfg);
  Rng rng = make_rng(seed, "tiny");
  std::normal_distribution<double> nd(0.0, std);
  auto fill = [&](model::Mat<T>& x, double mean, double s) {
    for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = T(mean + s * nd(rng) / std);
  };
  for (auto* p : m.params()) fill(p->value, p->value.rows() == 1 ? 1.0 : 0.0, std);
  if (rank > 0)
    for (auto* l : m.linears()) {
      l->A.name = l->weight.name + ".lora_A";
      l->B.name = l->weight.name + ".lora_B";
      l->A.value.resize(rank, l->weight.value.cols());
      l->B.value.resize(l->weight.value.rows(), rank);
      fill(l->A.value, 0.0, std);
      fill(l->B.value, 0.0, std);
      l->scale = T(2.0 / rank);
    }
  return m;
}

}  // namespace loft::test
