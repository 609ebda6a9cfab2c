// The pretrain experiment (documented in finetune.hpp).
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>

#include "common/error.hpp"
#include "experiments/finetune.hpp"
#include "io/llama2c.hpp"
#include "io/results/models.hpp"
#include "model/checkpoint.hpp"
#include "model/token_data.hpp"
#include "model/train.hpp"
#include "text/byte_tokenizer.hpp"
#include "text/corpus.hpp"

namespace loft::exp {
namespace {

using Raw = std::map<std::string, std::string>;
namespace fs = std::filesystem;

// pretrain builds small models from scratch; larger ones come from checkpoints.
constexpr int64_t kMaxPretrainParams = 1'000'000'000;

int64_t num(const Params& p, const char* key) {
  return std::get<int64_t>(p.at(key));
}

io::LlamaConfig config_of(const Params& p) {
  io::LlamaConfig c;
  c.dim = static_cast<int>(num(p, "dim"));
  c.hidden_dim = static_cast<int>(num(p, "hidden_dim"));
  c.n_layers = static_cast<int>(num(p, "n_layers"));
  c.n_heads = static_cast<int>(num(p, "n_heads"));
  c.n_kv_heads = static_cast<int>(num(p, "n_kv_heads"));
  c.vocab_size = text::ByteTokenizer::kVocab;
  c.seq_len = static_cast<int>(num(p, "seq_len"));
  c.rope_half_split = false;  // llama2.c checkpoints pair adjacent entries
  c.tied_embeddings = true;
  return c;
}

const std::vector<Key>& pretrain_keys();

Params normalise(const Raw& raw) {
  const KeyValues in(pretrain_keys(), raw);
  Params p;
  const std::string& name = in.text("model");
  if (name.empty() || name.find('/') != std::string::npos || name.starts_with("."))
    fail("model: '{}' must be a plain folder name (the model becomes pretrained:NAME)", name);
  p["model"] = name;
  p["corpus"] = in.text("corpus");
  for (const auto& k : pretrain_keys())
    if (k.kind == Key::Kind::integer) p[k.name] = in.integer(k.name);
  p["lr"] = in.number("lr");
  p["weight_decay"] = in.number("weight_decay");
  const io::LlamaConfig c = config_of(p);
  model::validate(c);
  // The weights, their gradients and AdamW's two moments: 16 bytes a parameter.
  const double params =
      double(c.vocab_size) * c.dim +
      double(c.n_layers) * (2.0 * c.dim * c.dim + 2.0 * c.dim * (c.dim / c.n_heads) * c.n_kv_heads +
                            3.0 * c.dim * c.hidden_dim + 2.0 * c.dim);
  if (params > kMaxPretrainParams)
    fail(
        "dim {}, hidden_dim {}, n_layers {}: {:.3g} parameters, more than the {:.0e} pretrain "
        "trains (16 bytes each while training); make the model smaller",
        c.dim, c.hidden_dim, c.n_layers, params, double(kMaxPretrainParams));
  return p;
}

Record run(const Params& p, const Context& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  auto say = [&](double f, const std::string& s) {
    if (ctx.progress) ctx.progress(f, s);
  };
  const std::string name = std::get<std::string>(p.at("model"));
  const io::LlamaConfig cfg = config_of(p);
  const fs::path out = results::pretrained_checkpoint(name);
  const fs::path state = out.parent_path() / "resume.state";
  fs::create_directories(out.parent_path());
  say(0, "reading corpus");
  const auto data = model::corpus_tokens(std::get<std::string>(p.at("corpus")), "byte");
  const int seq = cfg.seq_len, batch = static_cast<int>(num(p, "batch"));
  const int eval_tokens = static_cast<int>(num(p, "eval_tokens"));

  Record rec;
  rec.params = p;
  const model::TrainConfig tc = train_config(p);

  model::Llama<float> m;
  model::TrainCurves c;
  int start = 0;
  if (fs::exists(out)) {
    // Already trained (by an earlier run of this point, or by hand): evaluate, do not retrain.
    m = model::load_llama("pretrained:" + name);
    const auto& h = m.cfg;
    if (h.dim != cfg.dim || h.hidden_dim != cfg.hidden_dim || h.n_layers != cfg.n_layers ||
        h.n_heads != cfg.n_heads || h.n_kv_heads != cfg.n_kv_heads ||
        h.vocab_size != cfg.vocab_size)
      fail(
          "{} exists with another shape (dim {}, hidden_dim {}, n_layers {}, n_heads {}, "
          "n_kv_heads {}, vocab {}); choose another name or delete it",
          out.string(), h.dim, h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads, h.vocab_size);
    start = tc.steps;
  } else {
    m = model::init_random<float>(cfg, tc.seed);
    model::set_trainable(m, model::TrainMode::full);
    model::AdamW opt(m, tc.opt);
    if (fs::exists(state)) {
      model::load_training_state(state, m, opt);
      start = opt.t;
    }
    const int every = static_cast<int>(num(p, "checkpoint_every"));
    model::TrainHooks hooks;
    hooks.on_step = [&](int step, double loss) {
      say(static_cast<double>(step) / tc.steps,
          fmt::format("step {}/{} loss {:.3f}", step, tc.steps, loss));
    };
    hooks.checkpoint = [&](int step) {
      if (every > 0 && step % every == 0 && step < tc.steps) save_training_state(state, m, opt);
    };
    c = model::train(m, opt, data->train, data->validation, tc, hooks);
    if (c.diverged)
      fail("pretraining '{}' diverged at step {} (loss {}); lower lr", name, opt.t,
           c.loss.empty() ? NAN : c.loss.back());
    std::map<std::string, model::Param<float>*> by_name;
    for (auto* prm : m.params()) by_name[prm->name] = prm;
    io::write_llama2c(out, cfg, [&](const std::string& n) -> Matrix {
      auto it = by_name.find(n);
      if (it == by_name.end())
        fail("pretrain: the checkpoint writer asked for unknown tensor '{}'", n);
      return it->second->value;
    });
    fs::remove(state);
  }
  const double nll = c.eval_loss.empty()
                         ? model::evaluate(m, data->validation, seq, batch, eval_tokens)
                         : c.eval_loss.back();
  rec.metrics["ppl_val"] = std::exp(nll);
  rec.metrics["loss_final"] = c.loss.empty() ? nll : c.loss.back();
  rec.metrics["tokens_per_s"] = c.tokens_per_s;
  rec.metrics["resumed_from"] = start;
  double params = 0;
  for (auto* prm : m.params()) params += static_cast<double>(prm->value.size());
  rec.metrics["params"] = params;
  record_curves(rec, c);
  rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rec.metrics["seconds"] = rec.seconds;
  return rec;
}

const std::vector<Key>& pretrain_keys() {
  static const std::vector<Key> keys = {
      {"model", "", "model NAME: written to results/models/NAME/model.bin (llama2.c format)"},
      {"corpus", "fortunes", "training text: " + text::corpus_names()},
      integer_key("dim", "128", 1, 1 << 14, "model width"),
      integer_key("hidden_dim", "384", 1, 1 << 16, "SwiGLU hidden width"),
      integer_key("n_layers", "4", 1, 1024, "transformer blocks"),
      integer_key("n_heads", "4", 1, 1 << 14, "attention heads"),
      integer_key("n_kv_heads", "2", 1, 1 << 14, "key/value heads (grouped-query attention)"),
      integer_key("seq_len", "128", 1, 1 << 16, "context length in bytes"),
      integer_key("batch", "16", 1, kMaxBatch, "sequences per step"),
      integer_key("train_steps", "300", 1, kMaxSteps, "AdamW steps"),
      number_key("lr", "0.002", false, "peak learning rate (warmup, then cosine to lr/10)"),
      number_key("weight_decay", "0.1", true, "decoupled weight decay of the matrices"),
      integer_key("warmup", "20", 0, kMaxSteps, "warmup steps"),
      integer_key("seed", "0", 0, INT64_MAX, "seed of the initial weights and the data order"),
      integer_key("eval_tokens", "16384", 0, INT32_MAX,
                  "validation bytes per perplexity (0: the whole split)"),
      integer_key("checkpoint_every", "50", 0, kMaxSteps,
                  "steps between saved training states (0: never)"),
  };
  return keys;
}

}  // namespace

Experiment pretrain_experiment() {
  Experiment e;
  e.name = "pretrain";
  e.description =
      "train a byte-level Llama from scratch on a corpus; saved as results/models/NAME "
      "(pretrained:NAME)";
  e.keys = pretrain_keys();
  e.normalise = normalise;
  e.run = run;
  return e;
}

}  // namespace loft::exp
