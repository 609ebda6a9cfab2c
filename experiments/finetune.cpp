// The finetune experiment (documented in finetune.hpp).
#include "experiments/finetune.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>

#include "alloc/budget.hpp"
#include "common/error.hpp"
#include "experiments/allocation.hpp"
#include "experiments/calibration.hpp"
#include "init/init.hpp"
#include "init/patterns.hpp"
#include "io/source.hpp"
#include "model/adapters.hpp"
#include "model/token_data.hpp"
#include "model/train.hpp"
#include "text/corpus.hpp"
#include "text/tokenizer.hpp"

namespace loft::exp {
namespace {

using Raw = std::map<std::string, std::string>;

const std::string& text(const Params& p, const char* key) {
  return text_param(p, key);
}
int64_t num(const Params& p, const char* key) {
  return int_param(p, key);
}

// Loading a model and checking its tokenizer once per (model, tokenizer) pair: every grid point
// repeats them, and a missing file should fail the dry run.
void check_model(const std::string& model, const std::string& tokenizer) {
  check_once(model + '\n' + tokenizer, fmt::format("model '{}'", model), [&] {
    const auto cfg = io::open_source(model)->config();
    if (!cfg) fail("'{}' is not a Llama checkpoint (valid: {})", model, io::source_forms(true));
    const int vocab = text::open_tokenizer(tokenizer)->vocab_size();
    if (vocab > cfg->vocab_size)
      fail("tokenizer '{}' has {} tokens, the model only {}", tokenizer, vocab, cfg->vocab_size);
  });
}

// The init registry's methods, and full training.
std::string finetune_methods() {
  std::string out;
  for (const auto& m : init::methods()) out += std::string(m.name) + ", ";
  return out + "full";
}

const std::vector<Key>& finetune_keys();

Params normalise(const Raw& raw) {
  const KeyValues in(finetune_keys(), raw);
  Params p = normalise_training(in);
  p["corpus"] = in.text("corpus");
  p["eval_tokens"] = in.integer("eval_tokens");
  // A PEFT adapter folder brings its own factors, rank and alpha: nothing of the init applies.
  if (const auto& adapter = in.text("adapter"); adapter != "none") {
    p["adapter"] = adapter;
    if (!std::filesystem::exists(std::filesystem::path(adapter) / "adapter_config.json"))
      fail(
          "adapter '{}': no adapter_config.json (a PEFT LoRA adapter folder, such as "
          "DIR/loftq_init written by loftlab init-model)",
          adapter);
    return p;
  }
  // Calibration on the training text itself unless another corpus is named: its training split,
  // never the validation split that measures the perplexities.
  const auto& calib = in.text("calib_corpus");
  normalise_adapters(in, p, calib == "corpus" ? in.text("corpus") : calib);
  return p;
}

// With quant = budget:..., the allocation over the target layers for the point's method
// (experiments/allocation.hpp) replaces the budget by per-tensor rules.
void apply_budget(model::Llama<float>& m, model::AdapterSpec& spec, const Context& ctx,
                  Record& rec) {
  if (!alloc::is_budget(spec.quant)) return;
  BudgetSettings s;
  s.budget = spec.quant;
  s.method = spec.method;
  s.rank = init::parse_rank_rules(spec.rank);
  s.options.steps = spec.steps;
  s.options.weight = spec.weight;
  s.options.scale = spec.scale;
  s.options.damping = spec.damping;
  if (spec.stats) {
    s.stats = [stats = spec.stats](const std::string& n) { return stats->layer(n); };
    s.stats_id = calib_text(calib_key(rec.params));
  }
  s.source_id = source_identity(text(rec.params, "model"));
  s.threads = ctx.threads;
  std::vector<alloc::TensorInfo> infos;
  std::map<std::string, const Matrix*> weights;
  for (const auto* l : model::select_linears(m, spec.targets)) {
    infos.push_back({l->weight.name, l->weight.value.rows(), l->weight.value.cols()});
    weights[l->weight.name] = &l->weight.value;
  }
  const auto r = allocate_budget(s, infos, [&](const std::string& n) { return *weights.at(n); });
  spec.quant = init::format(r.allocation.rules);
  record_allocation(rec, r);
}

std::string value_text(const Value& v) {
  if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&v)) return fmt::format("{}", *d);
  return std::get<std::string>(v);
}

Record run(const Params& p, const Context& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  auto say = [&](double f, const std::string& s) {
    if (ctx.progress) ctx.progress(f, s);
  };
  say(0, "loading");
  const auto data = model::corpus_tokens(text(p, "corpus"), text(p, "tokenizer"));
  model::Llama<float> m = model::load_llama(text(p, "model"));
  const int seq = static_cast<int>(num(p, "seq_len")), batch = static_cast<int>(num(p, "batch"));
  const int eval_tokens = static_cast<int>(num(p, "eval_tokens"));
  auto eval = [&] { return model::evaluate(m, data->validation, seq, batch, eval_tokens); };

  Record rec;
  rec.params = p;
  const double nll_fp = eval();
  rec.metrics["ppl_fp"] = std::exp(nll_fp);
  const std::string method = p.count("adapter") ? "adapter" : text(p, "method");
  if (method == "adapter") {
    model::load_peft_adapter(m, text(p, "adapter"));
    model::set_trainable(m, model::TrainMode::adapters);
    rec.metrics["bits_per_weight"] = NAN;  // the base is used as stored
    rec.metrics["residual_rel"] = NAN;
  } else {
    prepare_model(m, p, ctx, rec, [&](double f, const std::string& st) { say(0.05 * f, st); });
  }
  const double nll_init = method == "full" ? nll_fp : eval();
  rec.metrics["ppl_init"] = std::exp(nll_init);

  const model::TrainConfig tc = train_config(p);
  model::TrainCurves c;
  if (tc.steps > 0) {
    model::AdamW opt(m, tc.opt);
    model::TrainHooks hooks;
    hooks.on_step = [&](int step, double loss) {
      say(0.05 + 0.95 * step / tc.steps,
          fmt::format("step {}/{} loss {:.3f}", step, tc.steps, loss));
    };
    c = model::train(m, opt, data->train, data->validation, tc, hooks);
  }
  const double nll_final = c.eval_loss.empty() ? (c.diverged ? NAN : nll_init) : c.eval_loss.back();
  rec.metrics["ppl_final"] = std::exp(nll_final);
  const bool diverged = c.diverged || !std::isfinite(nll_final) || !(nll_final < nll_init);
  rec.metrics["diverged"] = diverged ? 1 : 0;
  rec.metrics["tokens_per_s"] = c.tokens_per_s;
  rec.metrics["loss_final"] = c.loss.empty() ? NAN : c.loss.back();
  record_curves(rec, c);
  rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rec.metrics["seconds"] = rec.seconds;
  return rec;
}

}  // namespace

Params normalise_training(const KeyValues& in) {
  Params p;
  p["model"] = in.text("model");
  const std::string tok = model::resolve_tokenizer(in.text("model"), in.text("tokenizer"));
  p["tokenizer"] = tok;
  check_model(in.text("model"), tok);
  for (const char* k : {"train_steps", "batch", "seq_len"}) p[k] = in.integer(k);
  p["lr"] = in.number("lr");
  for (const char* k : {"eval_every", "warmup", "seed"}) p[k] = in.integer(k);
  return p;
}

void normalise_adapters(const KeyValues& in, Params& p, const std::string& calib_corpus) {
  std::string method = in.text("method");
  const bool full = method == "full";
  const init::Method* m = nullptr;
  if (!full) {
    try {
      m = &init::find_method(method);
    } catch (const Error&) {
      fail("method: '{}' is not a finetune method (valid: {})", method, finetune_methods());
    }
  }
  const int64_t steps = in.integer("steps");
  if (m) method = (m = &init::canonical(*m, steps))->name;  // loftq with 0 steps is qlora
  p["method"] = method;
  const double alpha = in.number("lora_alpha");
  const Params quant = normalised_quant(in.text("quant"));
  init::PerTensor<init::RankSpec> rank;
  try {
    rank = init::parse_rank_rules(in.text("rank"));
  } catch (const Error& e) {
    fail("rank: '{}': {}", in.text("rank"), e.what());
  }
  if (full) return;  // every weight trains, in full precision
  init::Weight weight = init::Weight::none;
  try {
    weight = init::parse_weight(in.text("weight"));
  } catch (const Error& e) {
    fail("weight: {}", e.what());
  }
  // Only the data-aware points take the calibration key, so the others keep their ids.
  if (data_aware(*m, weight))
    add_calibration(in, *m, weight, true,
                    {std::get<std::string>(p.at("model")), std::get<std::string>(p.at("tokenizer")),
                     calib_corpus},
                    p);
  if (quantized_inputs(p) && alloc::is_budget(in.text("quant")))
    fail(
        "calib_inputs = quantized with quant = {}: the allocation needs the statistics before "
        "the initialisation that quantized inputs come from; use calib_inputs = float",
        in.text("quant"));
  p["targets"] = in.text("targets");
  p["lora_alpha"] = alpha;
  p["rank"] = init::format(rank);
  if (const auto* r = rank.single(); r && r->fixed > 0) p["rank"] = int64_t{r->fixed};
  if (m->quantizes) p.insert(quant.begin(), quant.end());
  if (m->uses_steps) p["steps"] = steps;
}

model::TrainConfig train_config(const Params& p) {
  model::TrainConfig tc;
  tc.steps = static_cast<int>(num(p, "train_steps"));
  tc.batch = static_cast<int>(num(p, "batch"));
  tc.seq_len = static_cast<int>(num(p, "seq_len"));
  tc.seed = static_cast<uint64_t>(num(p, "seed"));
  if (p.count("eval_tokens")) tc.eval_tokens = static_cast<int>(num(p, "eval_tokens"));
  if (p.count("eval_every")) tc.eval_every = static_cast<int>(num(p, "eval_every"));
  if (tc.eval_every == 0) tc.eval_every = std::max(1, tc.steps / 10);
  tc.opt.lr = std::get<double>(p.at("lr"));
  if (p.count("weight_decay")) tc.opt.weight_decay = std::get<double>(p.at("weight_decay"));
  tc.opt.warmup = static_cast<int>(num(p, "warmup"));
  return tc;
}

void prepare_model(model::Llama<float>& m, const Params& p, const Context& ctx, Record& rec,
                   const std::function<void(double, const std::string&)>& say) {
  const std::string method = text(p, "method");
  if (method == "full") {
    model::set_trainable(m, model::TrainMode::full);
    rec.metrics["bits_per_weight"] = 32;
    rec.metrics["residual_rel"] = 0;
    return;
  }
  model::AdapterSpec spec;
  spec.method = method;
  spec.quant = p.count("quant") ? text(p, "quant") : "nf4";
  spec.rank = value_text(p.at("rank"));
  spec.steps = p.count("steps") ? static_cast<int>(num(p, "steps")) : 0;
  spec.seed = static_cast<uint64_t>(num(p, "seed"));
  spec.lora_alpha = std::get<double>(p.at("lora_alpha"));
  spec.targets = text(p, "targets");
  std::shared_ptr<const model::CalibStats> stats;
  if (p.count("calib_model")) {
    if (!quantized_inputs(p)) stats = calibration(p, ctx);
    spec.stats = stats.get();
    init::Options o;
    weighting_options(p, o);
    spec.weight = o.weight;
    spec.scale = o.scale;
    spec.damping = o.damping;
  }
  apply_budget(m, spec, ctx, rec);
  model::AdapterSummary s;
  if (quantized_inputs(p)) {
    const auto key = calib_key(p);
    const auto data = model::corpus_tokens(key.corpus, key.tokenizer);
    model::CalibStats own;
    s = model::attach_adapters_on_quantized_inputs(
        m, spec, data->train, key, own, [&](int i, int n) {
          if (say) say(double(i) / n, fmt::format("calibrate + init block {}/{}", i, n));
        });
    rec.metrics["calib_seconds"] = own.seconds;
  } else {
    s = model::attach_adapters(m, spec, [&](int i, int n) {
      if (say) say(double(i) / n, fmt::format("init {}/{}", i, n));
    });
  }
  model::set_trainable(m, model::TrainMode::adapters);
  rec.metrics["bits_per_weight"] = method == "lora" ? 32 : s.bits_per_weight;
  rec.metrics["residual_rel"] = s.residual_rel;
  if (p.count("calib_model")) {
    rec.metrics["mean_residual_act"] = s.residual_act;
    rec.metrics["err_reduction_act"] = s.err_reduction_act;
  }
}

void record_curves(Record& rec, const model::TrainCurves& c) {
  rec.train["loss"] = c.loss;
  rec.train["lr"] = c.lr;
  rec.train["grad_norm"] = c.grad_norm;
  rec.train["eval_step"] = c.eval_step;
  rec.train["eval_loss"] = c.eval_loss;
}

std::vector<Key> training_keys() {
  return {
      {"model", "", "base model: " + io::source_forms(true)},
      {"tokenizer", "auto",
       "llama2c:FILE (tok512.bin) or byte; auto = byte for pretrained:NAME, else required"},
      integer_key("train_steps", "100", 0, kMaxSteps, "AdamW steps"),
      integer_key("batch", "8", 1, kMaxBatch, "sequences per step"),
      integer_key("seq_len", "128", 2, kMaxSeqLen, "tokens per sequence (<= the model's context)"),
      number_key("lr", "0.001", false, "peak learning rate (warmup, then cosine to lr/10)"),
      integer_key("warmup", "10", 0, kMaxSteps, "warmup steps"),
      integer_key("eval_every", "0", 0, kMaxSteps,
                  "steps between evaluations (0: ten evaluations per run)"),
      integer_key("seed", "0", 0, INT64_MAX, "seed of the data order and of LoRA's random A"),
  };
}

std::vector<Key> adapter_keys() {
  return {
      number_key("lora_alpha", "16", false, "LoRA alpha: s = lora_alpha / rank"),
      {"targets", "*", "globs over linear weight names that get adapters, e.g. *proj*, *mlp*"},
      {"method", "qlora", finetune_methods() + " (full: every weight trains)"},
      {"quant", "nf4", "quantizer of the frozen base, or per-tensor rules GLOB=Q; ..."},
      {"rank", "8", "adapter rank, energy:F, or per-tensor rules"},
      integer_key("steps", "1", 0, kMaxInitSteps,
                  "alternating steps T of loftq/qpissa (loftq with 0 is qlora)"),
  };
}

namespace {

const std::vector<Key>& finetune_keys() {
  static const std::vector<Key> keys = [] {
    std::vector<Key> k = training_keys();
    k.insert(k.begin() + 2, {"corpus", "jargon", "training text: " + text::corpus_names()});
    k.push_back(integer_key("eval_tokens", "8192", 0, INT32_MAX,
                            "validation tokens per perplexity (0: the whole split)"));
    for (auto& a : adapter_keys()) k.push_back(a);
    for (auto& c : calibration_keys("corpus")) k.push_back(c);
    k.push_back({"adapter", "none",
                 "a PEFT LoRA adapter folder (e.g. DIR/loftq_init from loftlab init-model): the "
                 "model is used as stored, A, B, r and alpha come from the adapter; method, "
                 "quant, rank, steps, lora_alpha and targets are then ignored"});
    return k;
  }();
  return keys;
}

}  // namespace

Experiment finetune_experiment() {
  Experiment e;
  e.name = "finetune";
  e.description =
      "quantise + initialise a Llama's linear layers, LoRA fine-tune on a corpus, measure "
      "perplexity before/after";
  e.keys = finetune_keys();
  e.normalise = normalise;
  e.run = run;
  return e;
}

}  // namespace loft::exp
