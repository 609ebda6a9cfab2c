// The pretrain experiment (documented in finetune.hpp).
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "common/error.hpp"
#include "experiments/finetune.hpp"
#include "io/llama2c.hpp"
#include "model/checkpoint.hpp"
#include "model/token_data.hpp"
#include "model/train.hpp"
#include "text/byte_tokenizer.hpp"

namespace loft::exp {
namespace {

using Raw = std::map<std::string, std::string>;
namespace fs = std::filesystem;

// pretrain builds small models from scratch; larger ones come from checkpoints.
constexpr int64_t kMaxPretrainParams = 1'000'000'000;

const std::vector<const char*> kIntKeys = {
    "dim",   "hidden_dim",  "n_layers", "n_heads", "n_kv_heads",  "seq_len",
    "batch", "train_steps", "warmup",   "seed",    "eval_tokens", "checkpoint_every"};

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

Params normalise(const Raw& raw) {
  Params p;
  const std::string& name = raw.at("model");
  if (name.empty() || name.find('/') != std::string::npos || name.starts_with("."))
    fail("model: '{}' must be a plain folder name (the model becomes pretrained:NAME)", name);
  p["model"] = name;
  p["corpus"] = raw.at("corpus");
  const std::set<std::string> zero_ok = {"seed", "warmup", "eval_tokens", "checkpoint_every"};
  const std::map<std::string, int64_t> max = {
      {"dim", 1 << 14},      {"hidden_dim", 1 << 16},    {"n_layers", 1024},
      {"n_heads", 1 << 14},  {"n_kv_heads", 1 << 14},    {"seq_len", 1 << 16},
      {"batch", kMaxBatch},  {"seed", INT64_MAX},        {"train_steps", kMaxSteps},
      {"warmup", kMaxSteps}, {"eval_tokens", INT32_MAX}, {"checkpoint_every", kMaxSteps}};
  for (const char* k : kIntKeys)
    p[k] = parse_integer_key(raw, k, zero_ok.count(k) ? 0 : 1, max.at(k));
  p["lr"] = parse_number_key(raw, "lr", false);
  p["weight_decay"] = parse_number_key(raw, "weight_decay", true);
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
  const fs::path out = io::pretrained_checkpoint(name);
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

}  // namespace

Experiment pretrain_experiment() {
  Experiment e;
  e.name = "pretrain";
  e.description =
      "train a byte-level Llama from scratch on a corpus; saved as results/models/NAME "
      "(pretrained:NAME)";
  e.keys = {
      {"model", "", "model NAME: written to results/models/NAME/model.bin (llama2.c format)"},
      {"corpus", "fortunes", "training text: fortunes, jargon, kjv, file:PATH"},
      {"dim", "128", "model width"},
      {"hidden_dim", "384", "SwiGLU hidden width"},
      {"n_layers", "4", "transformer blocks"},
      {"n_heads", "4", "attention heads"},
      {"n_kv_heads", "2", "key/value heads (grouped-query attention)"},
      {"seq_len", "128", "context length in bytes"},
      {"batch", "16", "sequences per step"},
      {"train_steps", "300", "AdamW steps"},
      {"lr", "0.002", "peak learning rate (warmup, then cosine to lr/10)"},
      {"weight_decay", "0.1", "decoupled weight decay of the matrices"},
      {"warmup", "20", "warmup steps"},
      {"seed", "0", "seed of the initial weights and the data order"},
      {"eval_tokens", "16384", "validation bytes per perplexity (0: the whole split)"},
      {"checkpoint_every", "50", "steps between saved training states (0: never)"},
  };
  e.normalise = normalise;
  e.run = run;
  return e;
}

}  // namespace loft::exp
