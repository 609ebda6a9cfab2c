// The residual experiment (documented in residual.hpp).
#include "experiments/residual.hpp"

#include <optional>

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>

#include "alloc/budget.hpp"
#include "common/error.hpp"
#include "common/rng.hpp"
#include "common/text.hpp"
#include "experiments/allocation.hpp"
#include "experiments/calibration.hpp"
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
#include "text/corpus.hpp"

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
// "a ,b" -> "a, b": the canonical text of a glob list (order kept; it is the user's).
std::string canonical_globs(const std::string& s) {
  const auto items = split_list(s);
  return items.empty() ? "*" : join(items, ", ");
}

// Opening a source and matching its globs once per (source, layers) pair: every grid point
// repeats them, and a missing file should fail the dry run, not each point.
void check_source(const std::string& source, const std::string& layers) {
  check_once(source + '\n' + layers, fmt::format("source '{}', layers '{}'", source, layers),
             [&] { io::select_tensors(*io::open_source(source), layers); });
}

const std::vector<Key>& residual_keys();

Params normalise(const Raw& raw) {
  const KeyValues in(residual_keys(), raw);
  Params p;
  p["source"] = in.text("source");
  p["layers"] = canonical_globs(in.text("layers"));
  check_source(in.text("source"), std::get<std::string>(p["layers"]));

  // quant: one value, per-tensor rules ("model.layers.{0..3}.*=nf4; *=nf2") or a budget.
  for (auto& [k, v] : normalised_quant(in.text("quant"))) p[k] = v;

  const init::Method* method = nullptr;
  try {
    method = &init::find_method(in.text("method"));
  } catch (const Error& e) {
    fail("method: {}", e.what());
  }
  if (!method->quantizes)
    fail("method: '{}' does not quantise, so its residual is 0 by construction (valid here: {})",
         method->name, residual_methods());
  const auto steps = in.integer("steps");
  method = &init::canonical(*method, steps);  // loftq with 0 steps is qlora
  p["method"] = std::string(method->name);
  // Validated for every method, so a typo fails whichever method meets it first.
  init::PerTensor<init::RankSpec> rank;
  try {
    rank = init::parse_rank_rules(in.text("rank"));
  } catch (const Error& e) {
    fail("rank: '{}': {}", in.text("rank"), e.what());
  }
  const auto seed = in.integer("seed");
  in.number("alpha");
  lowrank::SvdSpec svd;
  try {
    svd = lowrank::parse_svd(in.text("svd"));
  } catch (const Error& e) {
    fail("svd: {}", e.what());
  }
  const auto& stop = in.text("stop");
  if (stop != "none" && stop != "rise")
    fail("stop: '{}' is not a stopping rule (valid: none, rise)", stop);
  init::Nuclear nuclear{};
  try {
    nuclear = init::parse_nuclear(in.text("nuclear"));
  } catch (const Error& e) {
    fail("{}", e.what());
  }
  // Written only when not the default, so points stored before the key existed keep their ids.
  if (nuclear != init::Nuclear::ends) p["nuclear"] = std::string(init::format(nuclear));
  init::Weight weight = init::Weight::none;
  try {
    weight = init::parse_weight(in.text("weight"));
  } catch (const Error& e) {
    fail("weight: {}", e.what());
  }
  const bool aware = data_aware(*method, weight);
  // A point that is not data-aware gets the calibration key too when calib_corpus is set: its
  // output error on the calibration inputs is then measured, for comparison.
  if (aware || in.text("calib_corpus") != "none") {
    const CalibSource from{
        in.text("calib_model") == "source" ? in.text("source") : in.text("calib_model"),
        in.text("calib_tokenizer"), in.text("calib_corpus")};
    add_calibration(in, *method, weight, aware, from, p);
    if (quantized_inputs(p))
      fail(
          "calib_inputs = quantized takes each block's statistics from the model whose earlier "
          "blocks hold their initialisation: an option of the finetune and classify experiments, "
          "which initialise a model; the residual experiment initialises tensors one by one");
  }
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
  weighting_options(p, plan.options);
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
  Matrix e = quant::fake_quantize(q, w);
  e = w - e;  // in place: one matrix the size of W beside it, not two
  const double v = lowrank::nuclear_norm(e);
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
                         [&](int, const init::Result& res) {
                           TensorResult r;
                           r.qlora_nuclear = ref;
                           r.bits = res.bits_per_weight;
                           r.elements = static_cast<double>(w.size());
                           r.trace = res.trace;
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
  if (plan.stats) {
    s.stats = [stats = plan.stats](const std::string& n) { return stats->layer(n); };
    s.stats_id = calib_text(calib_key(p));
  }
  s.threads = ctx.threads;
  if (ctx.progress)
    s.progress = [&](double f, const std::string& t) { ctx.progress(0, "costs " + t); };
  std::vector<alloc::TensorInfo> infos;
  for (const auto& t : tensors) infos.push_back({t.name, t.shape.at(0), t.shape.at(1)});
  auto r = allocate_budget(s, infos, [&](const std::string& n) { return source.take(n); });
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
        w = source->take(tensors[k].name);  // mapped pages dropped: RSS does not grow with depth
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

const std::vector<Key>& residual_keys() {
  static const std::vector<Key> keys = [] {
    std::vector<Key> k = {
        {"source", "", "where the tensors come from: " + io::source_forms()},
        {"layers", "*",
         "comma-separated globs over tensor names; * = every linear weight, all-linear = all but "
         "the output head"},
        {"method", "loftq", "init method: " + residual_methods()},
        {"quant", "nf4",
         "quantizer (loftlab quantizers), per-tensor rules: model.layers.{0..3}.*=nf4; *=nf2, or a "
         "storage budget: budget:3.0[:candidates=nf2+nf3+nf4][:blocks=64+128][:adapter]"},
        {"rank", "16", "rank r of B A, energy:F, or per-tensor rules GLOB=R; ..."},
        integer_key("steps", "1", 0, kMaxInitSteps,
                    "alternating steps T (loftq, qpissa); loftq with 0 steps is qlora"),
        integer_key("seed", "0", 0, INT64_MAX, "seed of the randomized SVD"),
        {"svd", "exact",
         "truncated SVD: exact, randomized[:p=10:q=2] or randomized-warm[:p=10:q=2:w=0]"},
        number_key("alpha", "16", false,
                   "LoRA alpha (s = alpha / rank); the residual does not depend on it"),
        {"stop", "none", "none, or rise: keep the best step once the residual rises"},
        {"nuclear", "ends",
         "where the nuclear norm is computed: none, ends (t = 0 and the result: what "
         "err_reduction_nuclear needs), every (each step)"},
    };
    for (auto& c : calibration_keys("none")) {
      k.push_back(c);
      if (c.name != "calib_corpus") continue;
      k.push_back({"calib_model", "source",
                   "model whose forward gives the statistics (source: the source): " +
                       io::source_forms(true)});
      k.push_back({"calib_tokenizer", "auto",
                   "its tokenizer: llama2c:FILE or byte (auto: byte for pretrained:)"});
    }
    return k;
  }();
  return keys;
}

}  // namespace

Experiment residual_experiment() {
  Experiment e;
  e.name = "residual";
  e.description = "weight-space residual ||W - Q - sBA|| of an init method on each selected tensor";
  e.keys = residual_keys();
  e.normalise = normalise;
  e.run = run;
  e.chain_key = chain_key;
  e.run_chain = run_chain;
  return e;
}

}  // namespace loft::exp
