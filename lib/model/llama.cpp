// Building, loading and copying Llama models; which parameters train.
#include "model/llama.hpp"

#include <fmt/format.h>

#include <cmath>
#include <random>

#include "common/error.hpp"
#include "common/rng.hpp"

namespace loft::model {

namespace {

template <typename T>
Param<T> zeros(std::string name, int rows, int cols) {
  Param<T> p;
  p.name = std::move(name);
  p.value = Mat<T>::Zero(rows, cols);
  return p;
}

std::string layer_name(int i, const char* rest) {
  return fmt::format("model.layers.{}.{}", i, rest);
}

}  // namespace

void validate(const LlamaConfig& c) {
  auto positive = [](const char* key, int v) {
    if (v <= 0) fail("model config: {} = {} must be positive", key, v);
  };
  positive("dim", c.dim);
  positive("hidden_dim", c.hidden_dim);
  positive("n_layers", c.n_layers);
  positive("n_heads", c.n_heads);
  positive("n_kv_heads", c.n_kv_heads);
  positive("vocab_size", c.vocab_size);
  if (c.dim % c.n_heads != 0)
    fail("model config: dim = {} is not a multiple of n_heads = {}", c.dim, c.n_heads);
  if ((c.dim / c.n_heads) % 2 != 0)
    fail("model config: head size dim/n_heads = {} must be even for RoPE", c.dim / c.n_heads);
  if (c.n_heads % c.n_kv_heads != 0)
    fail("model config: n_heads = {} is not a multiple of n_kv_heads = {}", c.n_heads,
         c.n_kv_heads);
}

template <typename T>
std::vector<Param<T>*> Llama<T>::params() {
  std::vector<Param<T>*> out{&embed};
  for (auto& b : layers) {
    out.push_back(&b.attn_norm);
    out.push_back(&b.ffn_norm);
    for (auto* l : b.linears()) {
      out.push_back(&l->weight);
      if (l->has_adapter()) {
        out.push_back(&l->A);
        out.push_back(&l->B);
      }
    }
  }
  out.push_back(&norm);
  if (lm_head.value.size() > 0) out.push_back(&lm_head);
  return out;
}

template <typename T>
std::vector<Linear<T>*> Llama<T>::linears() {
  std::vector<Linear<T>*> out;
  for (auto& b : layers)
    for (auto* l : b.linears()) out.push_back(l);
  return out;
}

template <typename T>
Llama<T> make_llama(const LlamaConfig& cfg) {
  validate(cfg);
  Llama<T> m;
  m.cfg = cfg;
  const int d = cfg.dim, h = cfg.hidden_dim, kv = cfg.n_kv_heads * (cfg.dim / cfg.n_heads);
  m.embed = zeros<T>("model.embed_tokens.weight", cfg.vocab_size, d);
  m.layers.resize(cfg.n_layers);
  for (int i = 0; i < cfg.n_layers; ++i) {
    auto& b = m.layers[i];
    b.attn_norm = zeros<T>(layer_name(i, "input_layernorm.weight"), 1, d);
    b.ffn_norm = zeros<T>(layer_name(i, "post_attention_layernorm.weight"), 1, d);
    b.q.weight = zeros<T>(layer_name(i, "self_attn.q_proj.weight"), d, d);
    b.k.weight = zeros<T>(layer_name(i, "self_attn.k_proj.weight"), kv, d);
    b.v.weight = zeros<T>(layer_name(i, "self_attn.v_proj.weight"), kv, d);
    b.o.weight = zeros<T>(layer_name(i, "self_attn.o_proj.weight"), d, d);
    b.gate.weight = zeros<T>(layer_name(i, "mlp.gate_proj.weight"), h, d);
    b.up.weight = zeros<T>(layer_name(i, "mlp.up_proj.weight"), h, d);
    b.down.weight = zeros<T>(layer_name(i, "mlp.down_proj.weight"), d, h);
  }
  m.norm = zeros<T>("model.norm.weight", 1, d);
  if (!cfg.tied_embeddings) m.lm_head = zeros<T>("lm_head.weight", cfg.vocab_size, d);
  return m;
}

template <typename T>
Llama<T> init_random(const LlamaConfig& cfg, uint64_t seed) {
  Llama<T> m = make_llama<T>(cfg);
  const double out_std = 0.02 / std::sqrt(2.0 * cfg.n_layers);
  for (auto* p : m.params()) {
    if (p->value.rows() == 1) {  // norms
      p->value.setOnes();
      continue;
    }
    const bool out_proj = p->name.find("o_proj") != std::string::npos ||
                          p->name.find("down_proj") != std::string::npos;
    Rng rng = make_rng(seed, p->name);
    std::normal_distribution<double> nd(0.0, out_proj ? out_std : 0.02);
    for (Eigen::Index i = 0; i < p->value.size(); ++i) p->value.data()[i] = T(nd(rng));
  }
  return m;
}

template <typename T>
void set_trainable(Llama<T>& m, TrainMode mode) {
  for (auto* p : m.params()) p->trainable = (mode == TrainMode::full);
  if (mode == TrainMode::adapters)
    for (auto* l : m.linears())
      if (l->has_adapter()) l->A.trainable = l->B.trainable = true;
}

template <typename To, typename From>
Llama<To> cast_llama(const Llama<From>& src) {
  auto& m = const_cast<Llama<From>&>(src);
  Llama<To> out = make_llama<To>(m.cfg);
  auto cast_param = [](const Param<From>& a, Param<To>& b) {
    b.name = a.name;
    b.value = a.value.template cast<To>();
    b.trainable = a.trainable;
  };
  cast_param(m.embed, out.embed);
  cast_param(m.norm, out.norm);
  if (m.lm_head.value.size() > 0) cast_param(m.lm_head, out.lm_head);
  for (size_t i = 0; i < m.layers.size(); ++i) {
    cast_param(m.layers[i].attn_norm, out.layers[i].attn_norm);
    cast_param(m.layers[i].ffn_norm, out.layers[i].ffn_norm);
    auto src_l = m.layers[i].linears();
    auto dst_l = out.layers[i].linears();
    for (size_t j = 0; j < src_l.size(); ++j) {
      cast_param(src_l[j]->weight, dst_l[j]->weight);
      if (src_l[j]->has_adapter()) {
        cast_param(src_l[j]->A, dst_l[j]->A);
        cast_param(src_l[j]->B, dst_l[j]->B);
      }
      dst_l[j]->scale = To(src_l[j]->scale);
    }
  }
  return out;
}

template struct Llama<float>;
template struct Llama<double>;
template Llama<float> make_llama<float>(const LlamaConfig&);
template Llama<double> make_llama<double>(const LlamaConfig&);
template Llama<float> init_random<float>(const LlamaConfig&, uint64_t);
template Llama<double> init_random<double>(const LlamaConfig&, uint64_t);
template Llama<double> cast_llama<double, float>(const Llama<float>&);
template Llama<float> cast_llama<float, double>(const Llama<double>&);
template Llama<float> cast_llama<float, float>(const Llama<float>&);
template void set_trainable<float>(Llama<float>&, TrainMode);
template void set_trainable<double>(Llama<double>&, TrainMode);

}  // namespace loft::model
