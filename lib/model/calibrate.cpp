// Calibration statistics: accumulation over the forward (and backward) pass.
#include "model/calibrate.hpp"

#include <algorithm>
#include <chrono>

#include "common/error.hpp"
#include "model/forward.hpp"
#include "model/token_data.hpp"
#include "model/train.hpp"

namespace loft::model {

namespace {

std::string replace_part(const std::string& name, const std::string& from, const std::string& to) {
  const auto at = name.find(from);
  return at == std::string::npos ? name : name.substr(0, at) + to + name.substr(at + from.size());
}

// One linear layer's input in the forward's workspace, and the weight whose name keys it.
struct Input {
  const Mat<float>* x;
  const std::string* name;
};

std::vector<Input> layer_inputs(Block<float>& b, const LayerCache<float>& c) {
  return {{&c.xn1, &b.q.weight.name},
          {&c.att, &b.o.weight.name},
          {&c.xn2, &b.gate.weight.name},
          {&c.h, &b.down.weight.name}};
}

void add_gram(MatrixD& h, const Mat<float>& x) {
  const MatrixD xd = x.cast<double>();
  if (h.size() == 0) h = MatrixD::Zero(xd.cols(), xd.cols());
  h.selfadjointView<Eigen::Lower>().rankUpdate(xd.transpose());
}

}  // namespace

std::string input_group(const std::string& weight_name) {
  for (const char* p : {".k_proj.", ".v_proj."})
    if (weight_name.find(p) != std::string::npos) return replace_part(weight_name, p, ".q_proj.");
  if (weight_name.find(".up_proj.") != std::string::npos)
    return replace_part(weight_name, ".up_proj.", ".gate_proj.");
  return weight_name;
}

init::LayerStats CalibStats::layer(const std::string& weight_name) const {
  init::LayerStats s;
  if (auto it = h.find(input_group(weight_name)); it != h.end()) s.h = &it->second;
  if (auto it = fisher.find(weight_name); it != fisher.end()) s.fisher = &it->second;
  return s;
}

CalibStats calibrate_model(Llama<float>& m, const std::vector<int32_t>& tokens, const CalibKey& key,
                           const CalibOptions& options) {
  if (key.tokens < 1) fail("calibration tokens = {} (valid: 1 or more)", key.tokens);
  if (key.seq_len < 1) fail("calibration seq_len = {} (valid: 1 or more)", key.seq_len);
  if (options.batch < 1) fail("calibration batch = {} (valid: 1 or more)", options.batch);
  const auto start = std::chrono::steady_clock::now();
  CalibStats out;
  out.key = key;
  const int64_t sequences = (key.tokens + key.seq_len - 1) / key.seq_len;
  out.tokens_used = sequences * key.seq_len;
  const int64_t batches = (sequences + options.batch - 1) / options.batch;
  const int n_layers = static_cast<int>(m.layers.size());
  if (options.only_layer >= n_layers)
    fail("calibration of layer {}: the model has {} layers", options.only_layer, n_layers);
  // One layer's H: float64, the q/k/v and o inputs dim x dim, gate/up dim x dim, down hidden^2.
  const double dim = m.cfg.dim, hidden = m.cfg.hidden_dim;
  const double layer_bytes = 8 * (3 * dim * dim + hidden * hidden);
  const int fit = static_cast<int>(
      std::clamp(double(options.stats_bytes) / layer_bytes, 1.0, double(std::max(1, n_layers))));
  const int per_pass = options.only_layer >= 0       ? 1
                       : options.layers_per_pass > 0 ? options.layers_per_pass
                                                     : fit;
  const int passes = options.only_layer >= 0 ? 1 : (n_layers + per_pass - 1) / per_pass;
  if (key.fisher) set_trainable(m, TrainMode::full);
  Workspace<float> ws;
  std::vector<int32_t> in, tg;
  for (int pass = 0; pass < passes; ++pass) {
    const int first = options.only_layer >= 0 ? options.only_layer : pass * per_pass;
    const int last = std::min(n_layers, first + per_pass);
    std::map<std::string, MatrixD> h;
    for (int64_t b = 0; b < batches; ++b) {
      const int rows =
          static_cast<int>(std::min<int64_t>(options.batch, sequences - b * options.batch));
      sample_batch(tokens, rows, key.seq_len, key.seed, static_cast<int>(b), in, tg);
      if (options.on_windows && pass == 0) options.on_windows(in);
      // The Fisher comes once, with the first pass (the gradients cover every layer).
      const bool grad = key.fisher && pass == 0;
      if (grad) zero_grads(m);
      forward<float>(m, ws, in, grad ? std::span<const int32_t>(tg) : std::span<const int32_t>(),
                     rows, key.seq_len);
      for (int l = first; l < last; ++l)
        for (const Input& x :
             layer_inputs(m.layers[static_cast<size_t>(l)], ws.layers[static_cast<size_t>(l)])) {
          add_gram(h[*x.name], *x.x);
          if (options.on_input) options.on_input(*x.name, *x.x);
        }
      if (grad) {
        backward(m, ws);
        for (auto* lin : m.linears()) {
          MatrixD& f = out.fisher[lin->weight.name];
          if (f.size() == 0) f = MatrixD::Zero(lin->weight.value.rows(), lin->weight.value.cols());
          f += lin->weight.grad.cast<double>().cwiseAbs2() / double(batches);
        }
      }
      if (options.progress)
        options.progress((double(pass) + double(b + 1) / double(batches)) / double(passes));
    }
    for (auto& [name, g] : h) {
      g.triangularView<Eigen::StrictlyUpper>() = g.transpose();
      if (!g.allFinite())
        fail("calibration statistics of '{}' hold NaN or Inf: the model's activations overflow",
             name);
      out.h.emplace(name, std::move(g));
    }
  }
  if (key.fisher) set_trainable(m, TrainMode::adapters);
  out.passes = passes;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

CalibStats calibrate(const CalibKey& key, const CalibOptions& options) {
  const auto data = corpus_tokens(key.corpus, key.tokenizer);
  Llama<float> m = load_llama(key.model);
  if (data->vocab_size > m.cfg.vocab_size)
    fail("tokenizer '{}' has {} tokens but model '{}' only {}: they do not belong together",
         key.tokenizer, data->vocab_size, key.model, m.cfg.vocab_size);
  return calibrate_model(m, data->train, key, options);
}

}  // namespace loft::model
