// The residual experiment (documented in residual.hpp).
#include "experiments/residual.hpp"

#include <optional>

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>

#include "alloc/budget.hpp"
#include "common/error.hpp"
#include "common/rng.hpp"
#include "experiments/allocation.hpp"
#include "init/init.hpp"
#include "init/patterns.hpp"
#include "init/rank.hpp"
#include "io/select.hpp"
#include "io/source.hpp"
#include "lowrank/nuclear.hpp"
#include "lowrank/svd.hpp"
#include "model/calibrate.hpp"
#include "model/token_data.hpp"
#include "quant/quantizer.hpp"
#include "sweep/point.hpp"

namespace loft::exp {
namespace {

using Raw = std::map<std::string, std::string>;
using Clock = std::chrono::steady_clock;

// The methods of the init registry that quantise (lora's residual is 0 by construction).
std::string residual_methods() {
  std::string out;
  for (const auto& m : init::methods())
    if (m.quantizes) out += fmt::format("{}{}", out.empty() ? "" : ", ", m.name);
  return out;
}
int64_t parse_int(const Raw& raw, const std::string& key, int64_t min, int64_t max) {
  const auto& s = raw.at(key);
  int64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < min || v > max)
    fail("{}: '{}' is not an integer in {}..{}", key, s, min, max);
  return v;
}

double parse_positive_or_zero(const Raw& raw, const std::string& key) {
  const auto& s = raw.at(key);
  double v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !(v >= 0) || !std::isfinite(v))
    fail("{}: '{}' is not a number >= 0", key, s);
  return v;
}

double parse_positive(const Raw& raw, const std::string& key) {
  const auto& s = raw.at(key);
  double v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !(v > 0) || !std::isfinite(v))
    fail("{}: '{}' is not a positive number", key, s);
  return v;
}

// "a ,b" -> "a, b": the canonical text of a glob list (order kept; it is the user's).
std::string canonical_globs(const std::string& s) {
  std::string out, item;
  auto flush = [&] {
    const auto b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out += (out.empty() ? "" : ", ") + item.substr(b, e - b + 1);
    item.clear();
  };
  for (char c : s) c == ',' ? flush() : void(item += c);
  flush();
  return out.empty() ? "*" : out;
}

// Opening a source and matching its globs once per (source, layers) pair: every grid point
// repeats them, and a missing file should fail the dry run, not each point.
void check_source(const std::string& source, const std::string& layers) {
  static std::mutex mu;
  static std::map<std::string, std::string> seen;  // key -> error ("" = fine)
  const auto key = source + '\n' + layers;
  std::lock_guard lock(mu);
  auto it = seen.find(key);
  if (it == seen.end()) {
    std::string error;
    try {
      io::select_tensors(*io::open_source(source), layers);
    } catch (const Error& e) {
      error = e.what();
    }
    it = seen.emplace(key, error).first;
  }
  if (!it->second.empty()) fail("source '{}', layers '{}': {}", source, layers, it->second);
}

// ---- calibration statistics of the data-aware methods ----

bool data_aware(const init::Method& m, init::Weight w) {
  return m.needs != init::Needs::nothing || (m.uses_steps && w != init::Weight::none);
}

// The parameters a data-aware point adds: its weighting and the calibration key.
// A point that is not data-aware gets the key too when calib_corpus is set: its output error
// on the calibration inputs is then measured, for comparison.
void add_calibration(const Raw& raw, const init::Method& m, init::Weight weight, bool aware,
                     Params& p) {
  if (aware) {
    if (m.uses_steps) p["weight"] = std::string(init::name(weight));
    const bool act = m.needs == init::Needs::calibration || weight == init::Weight::act;
    if (act) p["scale"] = std::string(init::name(init::parse_scale(raw.at("scale"))));
    p["damping"] = parse_positive_or_zero(raw, "damping");
  }
  if (raw.at("calib_corpus") == "none")
    fail(
        "method '{}'{} needs calibration statistics: set calib_corpus (fortunes, jargon, kjv, "
        "file:PATH) and, unless source is a model, calib_model",
        m.name, m.uses_steps ? fmt::format(" with weight = {}", init::name(weight)) : "");
  const auto& model = raw.at("calib_model") == "source" ? raw.at("source") : raw.at("calib_model");
  if (model.rfind("llama2c:", 0) != 0 && model.rfind("hf:", 0) != 0 &&
      model.rfind("pretrained:", 0) != 0)
    fail(
        "calib_model: '{}' is not a model (valid: llama2c:FILE, hf:DIR, pretrained:NAME); the "
        "calibration statistics need a forward pass",
        model);
  p["calib_model"] = model;
  p["calib_corpus"] = raw.at("calib_corpus");
  p["calib_tokenizer"] = model::resolve_tokenizer(model, raw.at("calib_tokenizer"));
  p["calib_tokens"] = parse_int(raw, "calib_tokens", 1, INT64_MAX);
  p["calib_seq_len"] = parse_int(raw, "calib_seq_len", 1, 1 << 20);
  if (weight == init::Weight::fisher) p["calib_fisher"] = int64_t{1};
}

model::CalibKey calib_key(const Params& p) {
  auto text = [&](const char* k) { return std::get<std::string>(p.at(k)); };
  model::CalibKey key;
  key.model = text("calib_model");
  key.corpus = text("calib_corpus");
  key.tokenizer = text("calib_tokenizer");
  key.tokens = std::get<int64_t>(p.at("calib_tokens"));
  key.seq_len = static_cast<int>(std::get<int64_t>(p.at("calib_seq_len")));
  key.fisher = p.count("calib_fisher") > 0;
  return key;
}

// One computation per key per process, and one per key per cache folder: the file is named by
// a hash of the key, and load_or_calibrate refuses a file whose key differs.
std::shared_ptr<const model::CalibStats> calibration(const Params& p, const Context& ctx) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const model::CalibStats>> cache;
  const auto key = calib_key(p);
  const std::string text = fmt::format("{}\n{}\n{}\n{}\n{}\n{}", key.model, key.corpus,
                                       key.tokenizer, key.tokens, key.seq_len, key.fisher);
  std::lock_guard lock(mu);
  if (auto it = cache.find(text); it != cache.end()) return it->second;
  std::shared_ptr<const model::CalibStats> stats;
  if (ctx.cache_dir.empty()) {
    stats = std::make_shared<model::CalibStats>(model::calibrate(key));
  } else {
    std::filesystem::create_directories(ctx.cache_dir);
    const auto path = std::filesystem::path(ctx.cache_dir) /
                      fmt::format("calib-{:016x}.h5", derive_seed(0, text));
    bool computed = false;
    stats = std::make_shared<model::CalibStats>(model::load_or_calibrate(key, path, {}, &computed));
    fmt::print(stderr, "calibration: {} {}\n", computed ? "computed" : "reused", path.string());
  }
  cache.emplace(text, stats);
  return stats;
}

Params normalise(const Raw& raw) {
  Params p;
  p["source"] = raw.at("source");
  p["layers"] = canonical_globs(raw.at("layers"));
  check_source(raw.at("source"), std::get<std::string>(p["layers"]));

  // quant: one value, per-tensor rules ("model.layers.{0..3}.*=nf4; *=nf2") or a budget.
  for (auto& [k, v] : normalised_quant(raw.at("quant"))) p[k] = v;

  const init::Method* method = nullptr;
  try {
    method = &init::find_method(raw.at("method"));
  } catch (const Error& e) {
    fail("method: {}", e.what());
  }
  if (!method->quantizes)
    fail("method: '{}' does not quantise, so its residual is 0 by construction (valid here: {})",
         method->name, residual_methods());
  const auto steps = parse_int(raw, "steps", 0, kMaxInitSteps);
  method = &init::canonical(*method, steps);  // loftq with 0 steps is qlora
  p["method"] = std::string(method->name);
  // Validated for every method, so a typo fails whichever method meets it first.
  init::PerTensor<init::RankSpec> rank;
  try {
    rank = init::parse_rank_rules(raw.at("rank"));
  } catch (const Error& e) {
    fail("rank: '{}': {}", raw.at("rank"), e.what());
  }
  const auto seed = parse_int(raw, "seed", 0, INT64_MAX);
  parse_positive(raw, "alpha");
  lowrank::SvdSpec svd;
  try {
    svd = lowrank::parse_svd(raw.at("svd"));
  } catch (const Error& e) {
    fail("svd: {}", e.what());
  }
  const auto& stop = raw.at("stop");
  if (stop != "none" && stop != "rise")
    fail("stop: '{}' is not a stopping rule (valid: none, rise)", stop);
  init::Nuclear nuclear{};
  try {
    nuclear = init::parse_nuclear(raw.at("nuclear"));
  } catch (const Error& e) {
    fail("{}", e.what());
  }
  // Written only when not the default, so points stored before the key existed keep their ids.
  if (nuclear != init::Nuclear::ends) p["nuclear"] = std::string(init::format(nuclear));
  init::Weight weight = init::Weight::none;
  try {
    weight = init::parse_weight(raw.at("weight"));
  } catch (const Error& e) {
    fail("weight: {}", e.what());
  }
  const bool aware = data_aware(*method, weight);
  if (aware || raw.at("calib_corpus") != "none") add_calibration(raw, *method, weight, aware, p);
  // qlora: B = 0, the residual is ||W - q(W)||
  if (!method->uses_steps && !aware) return p;

  p["rank"] = init::format(rank);
  if (const auto* r = rank.single(); r && r->fixed > 0)
    p["rank"] = int64_t{r->fixed};  // a plain rank stays a number
  if (method->uses_steps) p["steps"] = steps;
  p["svd"] = lowrank::format(svd);
  if (svd.name != "exact") p["seed"] = seed;  // the only random draw that reaches the residual
  if (method->uses_steps && steps >= 2) p["stop"] = stop;
  return p;
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// What the point's parameters say about every tensor.
struct Plan {
  const init::Method* method;
  init::PerTensor<quant::Spec> quant;
  init::PerTensor<init::RankSpec> rank;
  init::Options options;
  std::shared_ptr<const model::CalibStats> stats;  // data-aware points
};

Plan make_plan(const Params& p) {
  auto text = [&](const char* k) { return std::get<std::string>(p.at(k)); };
  Plan plan;
  plan.method = &init::find_method(text("method"));
  if (!alloc::is_budget(text("quant"))) plan.quant = init::parse_quant_rules(text("quant"));
  if (p.count("rank")) {
    const auto& r = p.at("rank");
    plan.rank = init::parse_rank_rules(std::holds_alternative<int64_t>(r)
                                           ? std::to_string(std::get<int64_t>(r))
                                           : std::get<std::string>(r));
    if (p.count("steps")) plan.options.steps = static_cast<int>(std::get<int64_t>(p.at("steps")));
    plan.options.svd = lowrank::parse_svd(text("svd"));
    if (p.count("seed")) plan.options.seed = static_cast<uint64_t>(std::get<int64_t>(p.at("seed")));
    plan.options.stop_on_rise = p.count("stop") && text("stop") == "rise";
  } else {
    plan.rank = init::parse_rank_rules("1");  // qlora's A is never used here
  }
  plan.options.nuclear =
      p.count("nuclear") ? init::parse_nuclear(text("nuclear")) : init::Nuclear::ends;
  if (p.count("weight")) plan.options.weight = init::parse_weight(text("weight"));
  if (p.count("scale")) plan.options.scale = init::parse_scale(text("scale"));
  if (p.count("damping")) plan.options.damping = std::get<double>(p.at("damping"));
  return plan;
}

// ||W - q(W)||_* per (source, tensor, quantizer): it depends on nothing else, so every point of
// a sweep over ranks, methods or steps shares it. Only the value is kept (a double a key).
double qlora_nuclear(const std::string& source, const std::string& name, const quant::Spec& q,
                     const Matrix& w) {
  static std::mutex mu;
  static std::map<std::string, double> cache;
  const std::string key = source + '\n' + name + '\n' + quant::format(q);
  {
    std::lock_guard lock(mu);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  const double v = lowrank::nuclear_norm(w - quant::fake_quantize(q, w));
  std::lock_guard lock(mu);
  cache.emplace(key, v);
  return v;
}

struct TensorResult {
  init::Trace trace;
  double qlora_nuclear = 0, bits = 0, elements = 0;
};

// Runs one tensor for every step count in `steps` (one chain) and returns a result per count.
std::vector<TensorResult> run_tensor(const Plan& plan, const std::string& source,
                                     const std::string& name, const Matrix& w,
                                     const std::vector<int>& steps) {
  const auto& q = plan.quant.at(name);
  const int rank = init::resolve_rank(plan.rank.at(name), w, q);
  init::Options options = plan.options;
  if (plan.stats) options.stats = plan.stats->layer(name);
  const bool wants_nuclear = options.nuclear != init::Nuclear::none;
  // The QLoRA reference in nuclear norm: also the t = 0 value of qlora's and loftq's traces.
  const double ref = wants_nuclear ? qlora_nuclear(source, name, q, w) : kNaN;
  options.qlora_nuclear = ref;
  std::vector<TensorResult> out;
  init::initialize_chain(plan.method->name, w, q, rank, options, steps,
                         [&](int, init::Result&& res) {
                           TensorResult r;
                           r.qlora_nuclear = ref;
                           r.bits = res.bits_per_weight;
                           r.elements = static_cast<double>(w.size());
                           r.trace = std::move(res.trace);
                           out.push_back(std::move(r));
                         });
  return out;
}

// With quant = budget:..., the allocation over the selected tensors for the point's method
// becomes the plan's per-tensor rules.
std::optional<BudgetResult> apply_budget(Plan& plan, const Params& p,
                                         const io::TensorSource& source,
                                         const std::vector<io::TensorInfo>& tensors,
                                         const Context& ctx) {
  const auto& quant = std::get<std::string>(p.at("quant"));
  if (!alloc::is_budget(quant)) return std::nullopt;
  BudgetSettings s;
  s.budget = quant;
  s.method = plan.method->name;
  s.rank = plan.rank;
  s.options = plan.options;
  s.options.nuclear = init::Nuclear::none;
  s.source_id = source_identity(std::get<std::string>(p.at("source")));
  s.threads = ctx.threads;
  if (ctx.progress)
    s.progress = [&](double f, const std::string& t) { ctx.progress(0, "costs " + t); };
  std::vector<alloc::TensorInfo> infos;
  for (const auto& t : tensors) infos.push_back({t.name, t.shape.at(0), t.shape.at(1)});
  auto r = allocate_budget(s, infos, [&](const std::string& n) { return source.load(n); });
  plan.quant = r.allocation.rules;
  return r;
}

Record make_record(const Params& p, const std::vector<io::TensorInfo>& tensors,
                   const std::vector<const TensorResult*>& results, double seconds,
                   const std::optional<BudgetResult>& budget, bool has_stats) {
  Record rec;
  rec.params = p;
  double rel = 0, red_fro = 0, red_nuc = 0, bits = 0, elements = 0, act = 0, red_act = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& r = *results[i];
    const auto& t = r.trace;
    rel += t.residual_rel.back();
    red_fro += 1 - t.residual_vs_qlora.back();
    red_nuc += 1 - t.residual_nuclear.back() / r.qlora_nuclear;
    act += t.residual_act.back();
    red_act += 1 - t.residual_act_vs_qlora.back();
    bits += r.bits * r.elements;
    elements += r.elements;
    auto& layer = rec.layers[tensors[i].name];
    for (const auto& f : init::trace_fields())
      if (has_stats || f.name.find("_act") == std::string_view::npos)
        layer[std::string(f.name)] = t.*f.values;
  }
  if (budget) record_allocation(rec, *budget);
  const double count = static_cast<double>(tensors.size());
  rec.metrics["mean_residual_rel"] = rel / count;
  rec.metrics["err_reduction_fro"] = red_fro / count;
  rec.metrics["err_reduction_nuclear"] = red_nuc / count;
  rec.metrics["bits_per_weight"] = bits / elements;
  if (has_stats) {
    rec.metrics["mean_residual_act"] = act / count;
    rec.metrics["err_reduction_act"] = red_act / count;
  }
  rec.metrics["tensors"] = count;
  rec.seconds = seconds;
  rec.metrics["seconds"] = seconds;
  return rec;
}

int point_steps(const Params& p) {
  return p.count("steps") ? static_cast<int>(std::get<int64_t>(p.at("steps"))) : 0;
}

// Points that differ only in steps (already grouped by chain_key) run as one chain per tensor.
// Each record's seconds is the shared run's.
std::vector<Record> run_chain(const std::vector<Params>& points, const Context& ctx) {
  const auto t0 = Clock::now();
  const Params& p = points.front();
  const std::string source_spec = std::get<std::string>(p.at("source"));
  const auto source = io::open_source(source_spec);
  const auto tensors = io::select_tensors(*source, std::get<std::string>(p.at("layers")));
  auto plan = make_plan(p);
  if (p.count("calib_model")) plan.stats = calibration(p, ctx);
  const auto budget = apply_budget(plan, p, *source, tensors, ctx);
  std::vector<int> steps;
  for (const auto& q : points) steps.push_back(point_steps(q));
  std::vector<int> sorted = steps;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::vector<std::vector<TensorResult>> results(tensors.size());
  std::vector<std::string> errors(tensors.size());
  std::mutex load_mu, progress_mu;
  size_t done = 0;
  // Tensors in parallel, each on one thread: small matrices gain more from this than from
  // threads inside one, and large ones keep both cores busy without the fork/join of threaded
  // BLAS. One tensor in flight per thread, read from the source one at a time. Every tensor's
  // result depends only on its own data and the point's seed, so the thread count does not
  // change them. A lone tensor keeps every thread for itself (the region is then inactive).
  const int n = static_cast<int>(tensors.size());
  const int threads =
      std::min(n, std::max(1, ctx.threads > 0 ? ctx.threads : omp_get_max_threads()));
#pragma omp parallel for schedule(dynamic) num_threads(threads) if (threads > 1)
  for (int i = 0; i < n; ++i) {
    const auto k = static_cast<size_t>(i);
    try {
      Matrix w;
      {
        std::lock_guard lock(load_mu);
        w = source->load(tensors[k].name);
      }
      results[k] = run_tensor(plan, source_spec, tensors[k].name, w, sorted);
    } catch (const std::exception& e) {
      errors[k] = fmt::format("tensor '{}': {}", tensors[k].name, e.what());
    }
    std::lock_guard lock(progress_mu);
    ++done;
    if (ctx.progress)
      ctx.progress(static_cast<double>(done) / static_cast<double>(tensors.size()),
                   tensors[k].name);
  }
  for (const auto& e : errors)
    if (!e.empty()) throw Error(e);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<Record> out;
  for (size_t j = 0; j < points.size(); ++j) {
    const size_t at = static_cast<size_t>(std::lower_bound(sorted.begin(), sorted.end(), steps[j]) -
                                          sorted.begin());
    std::vector<const TensorResult*> mine;
    for (const auto& r : results) mine.push_back(&r[at]);
    out.push_back(make_record(points[j], tensors, mine, seconds, budget, plan.stats != nullptr));
  }
  return out;
}

// Points with the same key share a chain: everything but steps. A one-step point has no stop
// key and runs without stopping, as do points with stop = none; stop = rise chains apart.
std::string chain_key(const Params& p) {
  Params rest = p;
  rest.erase("steps");
  if (auto it = rest.find("stop"); it != rest.end() && std::get<std::string>(it->second) == "none")
    rest.erase(it);
  return sweep::canonical(rest);
}

Record run(const Params& p, const Context& ctx) {
  return run_chain({p}, ctx).front();
}

}  // namespace

Experiment residual_experiment() {
  Experiment e;
  e.name = "residual";
  e.description = "weight-space residual ||W - Q - sBA|| of an init method on each selected tensor";
  e.keys = {
      {"source", "",
       "where the tensors come from: " + std::string("llama2c:PATH, hf:DIR, "
                                                     "npy:PATH, synthetic:KIND")},
      {"layers", "*", "comma-separated globs over tensor names; * = every linear weight"},
      {"method", "loftq", "init method: " + residual_methods()},
      {"quant", "nf4",
       "quantizer (loftlab quantizers), per-tensor rules: model.layers.{0..3}.*=nf4; *=nf2, or a "
       "storage budget: budget:3.0[:candidates=nf2+nf3+nf4][:blocks=64+128][:adapter]"},
      {"rank", "16", "rank r of B A, energy:F, or per-tensor rules GLOB=R; ..."},
      {"steps", "1", "alternating steps T (loftq, qpissa); loftq with 0 steps is qlora"},
      {"seed", "0", "seed of the randomized SVD"},
      {"svd", "exact",
       "truncated SVD: exact, randomized[:p=10:q=2] or randomized-warm[:p=10:q=2:w=0]"},
      {"alpha", "16", "LoRA alpha (s = alpha / rank); the residual does not depend on it"},
      {"stop", "none", "none, or rise: keep the best step once the residual rises"},
      {"nuclear", "ends",
       "where the nuclear norm is computed: none, ends (t = 0 and the result: what "
       "err_reduction_nuclear needs), every (each step)"},
      {"weight", "none", "loftq/qpissa low-rank step weighting: none, act (H), fisher"},
      {"scale", "exact", "act weighting (qera, weight = act): exact (chol H) or diag"},
      {"damping", "0.01", "lambda added to H's diagonal relative to its mean (weighted methods)"},
      {"calib_corpus", "none",
       "calibration corpus of data-aware methods: fortunes, jargon, kjv, file:"},
      {"calib_model", "source", "model whose forward gives the statistics (source: the source)"},
      {"calib_tokenizer", "auto",
       "its tokenizer: llama2c:FILE or byte (auto: byte for pretrained:)"},
      {"calib_tokens", "16384", "calibration tokens"},
      {"calib_seq_len", "128", "calibration sequence length"},
  };
  e.normalise = normalise;
  e.run = run;
  e.chain_key = chain_key;
  e.run_chain = run_chain;
  return e;
}

}  // namespace loft::exp
