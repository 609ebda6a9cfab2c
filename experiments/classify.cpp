// The classify experiment (documented in classify.hpp).
#include "experiments/classify.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <mutex>

#include "common/error.hpp"
#include "experiments/calibration.hpp"
#include "experiments/finetune.hpp"
#include "model/class_train.hpp"
#include "model/llama.hpp"
#include "text/tasks.hpp"
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

struct TaskTokens {
  text::Task task;
  model::LabelledTokens train, validation, test;
};

// Loading and encoding a task once per (task, tokenizer, seq_len, per_class): every point of a
// sweep uses the same data.
std::shared_ptr<const TaskTokens> task_tokens(const std::string& spec, const std::string& tok,
                                              int seq_len, int per_class) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const TaskTokens>> cache;
  const std::string key = fmt::format("{}\n{}\n{}\n{}", spec, tok, seq_len, per_class);
  std::lock_guard lock(mu);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  auto out = std::make_shared<TaskTokens>();
  text::TaskOptions opt;
  opt.max_per_class = per_class;
  out->task = text::load_task(spec, opt);
  const auto tokenizer = text::open_tokenizer(tok);
  auto encode = [&](const std::vector<text::Example>& split, model::LabelledTokens& dst) {
    for (const auto& e : split) {
      auto ids = tokenizer->encode(e.text, true, false);
      if (static_cast<int>(ids.size()) > seq_len) ids.resize(seq_len);
      dst.seqs.emplace_back(ids.begin(), ids.end());
      dst.labels.push_back(e.label);
    }
  };
  encode(out->task.train, out->train);
  encode(out->task.validation, out->validation);
  encode(out->task.test, out->test);
  cache[key] = out;
  return out;
}

const std::vector<Key>& classify_keys();

Params normalise(const Raw& raw) {
  const KeyValues in(classify_keys(), raw);
  Params p = normalise_training(in);
  p["task"] = in.text("task");
  model::parse_pooling(in.text("pooling"));
  p["pooling"] = in.text("pooling");
  p["per_class"] = in.integer("per_class");
  // The task is read here so a missing package or a one-class task fails the dry run.
  task_tokens(in.text("task"), std::get<std::string>(p.at("tokenizer")),
              static_cast<int>(std::get<int64_t>(p.at("seq_len"))),
              static_cast<int>(std::get<int64_t>(p.at("per_class"))));
  normalise_adapters(in, p, in.text("calib_corpus"));
  return p;
}

// The frozen model with a trained head: test accuracy, once per (model, task, training) tuple.
double head_baseline(const Params& p, const TaskTokens& d, const model::TrainConfig& tc) {
  static std::mutex mu;
  static std::map<std::string, double> cache;
  const std::string key = fmt::format("{}\n{}\n{}\n{}\n{}\n{}", text(p, "model"), text(p, "task"),
                                      text(p, "pooling"), tc.steps, tc.opt.lr, tc.seed);
  {
    std::lock_guard lock(mu);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  model::Llama<float> m = model::load_llama(text(p, "model"));
  auto head = model::make_head<float>(static_cast<int>(d.task.labels.size()), m.cfg.dim,
                                      model::parse_pooling(text(p, "pooling")), tc.seed);
  model::train_classifier(m, head, d.train, d.validation, tc);
  const double acc = model::evaluate_classifier(m, head, d.test, tc.batch).acc;
  std::lock_guard lock(mu);
  cache[key] = acc;
  return acc;
}

double majority_accuracy(const TaskTokens& d) {
  std::vector<int> count(d.task.labels.size(), 0);
  for (int l : d.train.labels) ++count[l];
  const int major = static_cast<int>(std::max_element(count.begin(), count.end()) - count.begin());
  int hit = 0;
  for (int l : d.test.labels) hit += l == major;
  return d.test.labels.empty() ? 0 : static_cast<double>(hit) / d.test.labels.size();
}

void record_task(Record& rec, const TaskTokens& d) {
  const auto& t = d.task;
  const auto a = t.counts(t.train), b = t.counts(t.validation), c = t.counts(t.test);
  for (size_t i = 0; i < t.labels.size(); ++i)
    rec.layers[t.labels[i]]["split_counts"] = {double(a[i]), double(b[i]), double(c[i])};
  rec.metrics["classes"] = static_cast<double>(t.labels.size());
}

Record run(const Params& p, const Context& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  auto say = [&](double f, const std::string& s) {
    if (ctx.progress) ctx.progress(f, s);
  };
  say(0, "loading");
  const model::TrainConfig tc = train_config(p);
  const auto data = task_tokens(text(p, "task"), text(p, "tokenizer"), tc.seq_len,
                                static_cast<int>(num(p, "per_class")));
  Record rec;
  rec.params = p;
  record_task(rec, *data);
  const double majority = majority_accuracy(*data);
  rec.metrics["majority_acc"] = majority;
  say(0.01, "frozen model + head baseline");
  rec.metrics["head_acc"] = head_baseline(p, *data, tc);

  model::Llama<float> m = model::load_llama(text(p, "model"));
  prepare_model(m, p, ctx, rec, [&](double f, const std::string& st) { say(0.05 + 0.05 * f, st); });
  if (text(p, "method") == "full") m.lm_head.trainable = false;  // the head replaces it
  auto head = model::make_head<float>(static_cast<int>(data->task.labels.size()), m.cfg.dim,
                                      model::parse_pooling(text(p, "pooling")), tc.seed);
  model::TrainHooks hooks;
  hooks.on_step = [&](int step, double loss) {
    say(0.1 + 0.9 * step / std::max(1, tc.steps),
        fmt::format("step {}/{} loss {:.3f}", step, tc.steps, loss));
  };
  const auto c = model::train_classifier(m, head, data->train, data->validation, tc, hooks);
  const auto test = model::evaluate_classifier(m, head, data->test, tc.batch);
  rec.metrics["acc"] = test.acc;
  rec.metrics["macro_f1"] = test.macro_f1;
  rec.metrics["val_acc"] = c.best_acc;
  const size_t best = static_cast<size_t>(
      std::find(c.train.eval_step.begin(), c.train.eval_step.end(), c.best_step) -
      c.train.eval_step.begin());
  rec.metrics["val_f1"] = best < c.eval_f1.size() ? c.eval_f1[best] : NAN;
  rec.metrics["best_step"] = c.best_step;
  // A model that collapsed to one answer scores the largest class share of validation: only
  // above that has it learnt anything (the test-set majority would be the wrong bar here).
  const auto vc = data->task.counts(data->task.validation);
  const double val_majority = static_cast<double>(*std::max_element(vc.begin(), vc.end())) /
                              static_cast<double>(data->validation.labels.size());
  rec.metrics["majority_val_acc"] = val_majority;
  rec.metrics["diverged"] = (c.train.diverged || !(c.best_acc > val_majority)) ? 1 : 0;
  rec.metrics["tokens_per_s"] = c.train.tokens_per_s;
  rec.metrics["loss_final"] = c.train.loss.empty() ? NAN : c.train.loss.back();
  record_curves(rec, c.train);
  rec.train["eval_acc"] = c.eval_acc;
  rec.train["eval_f1"] = c.eval_f1;
  rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rec.metrics["seconds"] = rec.seconds;
  return rec;
}

const std::vector<Key>& classify_keys() {
  static const std::vector<Key> keys = [] {
    std::vector<Key> k = training_keys();
    k.insert(k.begin() + 2,
             {"task", "fortunes:computers+love", "labelled task:" + text::task_help()});
    k.push_back({"pooling", "mean",
                 "the head reads the mean of the tokens' states, or the last token's (as HF)"});
    k.push_back(integer_key("per_class", "300", 2, 10'000'000,
                            "examples kept per class (all splits), balanced"));
    for (auto& a : adapter_keys()) k.push_back(a);
    for (auto& c : calibration_keys("none")) k.push_back(c);
    return k;
  }();
  return keys;
}

}  // namespace

Experiment classify_experiment() {
  Experiment e;
  e.name = "classify";
  e.description =
      "quantise + initialise a Llama's linear layers, LoRA fine-tune it with a classification "
      "head on a labelled task, measure test accuracy";
  e.keys = classify_keys();
  e.normalise = normalise;
  e.run = run;
  return e;
}

}  // namespace loft::exp
