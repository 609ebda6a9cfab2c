// loftlab init-model SOURCE --out DIR: initialise every target tensor of a whole model, streamed
// tensor by tensor, and export the result for PEFT (layout: lib/engine/export.hpp).
//
// Who computes, who assembles (the same split as sweeps):
//   plain run         locks the staging folder, computes every target, assembles, publishes DIR.
//   --shard i/n       locks only its shard, computes the targets whose index mod n is i, and
//                     stops; `--assemble` (any process, once all shards are done) finishes.
//   mpirun -n K       rank 0 locks the staging folder; rank r computes the targets whose index
//                     mod K is r; after a barrier rank 0 assembles.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "alloc/budget.hpp"
#include "common/error.hpp"
#include "common/files.hpp"
#include "common/rng.hpp"
#include "engine/export.hpp"
#include "engine/hf_order.hpp"
#include "engine/plan.hpp"
#include "engine/stream.hpp"
#include "experiments/allocation.hpp"
#include "experiments/calibration.hpp"
#include "experiments/cli/commands.hpp"
#include "experiments/cli/options.hpp"
#include "experiments/cli/ranks.hpp"
#include "experiments/experiment.hpp"
#include "init/init.hpp"
#include "init/patterns.hpp"
#include "init/weighting.hpp"
#include "io/dtype.hpp"
#include "io/results/lock.hpp"
#include "io/source.hpp"
#include "lowrank/svd.hpp"
#include "model/calibrate.hpp"
#include "sweep/schedule.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace loft::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string source, out, targets, method, quant, rank, svd, alpha, seed, dtype;
  std::string calib, weight, scale, nuclear;
  double damping = 0.01;
  int steps = 1, jobs = 1, threads = 0;
  std::optional<sweep::Shard> shard;
  bool assemble = false, dry_run = false, force = false;
  std::string command;
};

// Single-quoted for a POSIX shell when it holds anything but safe characters.
std::string shell_quote(std::string_view s) {
  const bool safe = !s.empty() && s.find_first_not_of(
                                      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
                                      "OPQRSTUVWXYZ0123456789_-.,/:=+@%") == std::string_view::npos;
  if (safe) return std::string(s);
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::optional<Options> parse_options(int argc, char** argv) {
  Options o;
  std::string shard;
  po::options_description desc(
      "usage: loftlab init-model SOURCE --out DIR [options]\n\n"
      "Initialises every 2-D tensor of SOURCE matched by --targets (loftq, qpissa, qlora, lora;\n"
      "quantizer and rank per tensor, as in sweeps) and writes DIR: the backbone as a Hugging\n"
      "Face folder (targets hold Q, dequantised; every other tensor copied bit for bit), the\n"
      "PEFT LoRA adapter DIR/loftq_init (PEFT's W + (lora_alpha/r) B A is loftlab's\n"
      "initialisation), and the per-tensor traces in DIR/loftlab (loftlab inspect DIR/loftlab).\n"
      "Tensors stream one per job; a killed run resumes where it stopped; DIR appears only\n"
      "complete. Under `mpirun -n K` the ranks share the tensors and rank 0 assembles.\n\n"
      "SOURCE: hf:DIR (any architecture), llama2c:PATH or pretrained:NAME (a Llama config.json\n"
      "is written)\n\noptions");
  desc.add_options()("help,h", "show this help")("out", po::value(&o.out), "the output folder DIR")(
      "targets", po::value(&o.targets)->default_value("all-linear"),
      "comma-separated globs over tensor names; all-linear = every linear weight but the output "
      "head (as PEFT's), * = every linear weight")(
      "method", po::value(&o.method)->default_value("loftq"),
      "init method (lora, qlora, loftq, qpissa, qera: loftlab init-matrix --help lists them)")(
      "quant", po::value(&o.quant)->default_value("nf4"),
      "quantizer (loftlab quantizers), per-tensor rules: 'model.layers.{0..3}.*=nf4; *=nf2', or a "
      "storage budget budget:B[:candidates=...] (as loftlab allocate; costs cached in "
      "$LOFTLAB_COST_CACHE)")("rank", po::value(&o.rank)->default_value("16"),
                              "rank r, energy:F, or rules GLOB=R; ...")(
      "steps", po::value(&o.steps)->default_value(1), "alternating steps T (loftq, qpissa)")(
      "svd", po::value(&o.svd)->default_value("exact"), "exact | randomized[:p=10:q=2]")(
      "alpha", po::value(&o.alpha)->default_value("16"),
      "lora_alpha (s = alpha / r), or 'rank' for alpha = r (s = 1) per tensor")(
      "seed", po::value(&o.seed)->default_value("0"),
      "seed (each tensor draws from seed and its name)")(
      "calib", po::value(&o.calib),
      "calibration statistics of this model (loftlab calibrate SOURCE --corpus C --out FILE) "
      "for the data-aware methods: qera, or --weight act|fisher")(
      "weight", po::value(&o.weight)->default_value("none"),
      "loftq/qpissa low-rank step weighting: none | act (H) | fisher")(
      "scale", po::value(&o.scale)->default_value("exact"),
      "act weighting (qera, --weight act): exact (chol H) | diag")(
      "damping", po::value(&o.damping)->default_value(0.01),
      "lambda added to H's diagonal, relative to its mean (data-aware methods)")(
      "nuclear", po::value(&o.nuclear)->default_value("none"),
      "residual_nuclear in the traces: none | ends (t = 0 and the result; an eigensolve each, "
      "about as much as the LoftQ steps at the 7B shape) | every")(
      "dtype", po::value(&o.dtype)->default_value("source"),
      "dtype of the initialised tensors: source | f32 | bf16 | f16")(
      "jobs", po::value(&o.jobs)->default_value(1), "tensors in flight")(
      "threads", po::value(&o.threads)->default_value(0), "OpenMP threads in all (0 = all)")(
      "shard", po::value(&shard), "I/N: compute only targets with index mod N == I")(
      "assemble", "assemble DIR from the finished shards (after --shard runs)")(
      "dry-run",
      "print the plan (tensors, shapes, quantizer, rank, bits, output size), do nothing")(
      "force", "replace an existing DIR, and discard an unfinished export with other parameters");
  const auto parsed =
      parse_command_line(argc, argv, desc, "init-model", Positional{"SOURCE", &o.source});
  if (!parsed) return std::nullopt;
  const po::variables_map& vm = *parsed;
  if (o.out.empty()) fail("no --out DIR given (see loftlab init-model --help)");
  if (vm.count("shard")) o.shard = sweep::parse_shard(shard);
  o.assemble = vm.count("assemble") != 0;
  o.dry_run = vm.count("dry-run") != 0;
  o.force = vm.count("force") != 0;
  if (o.jobs < 1 || o.jobs > kMaxThreads) fail("--jobs {}: must be in 1..{}", o.jobs, kMaxThreads);
  if (o.threads < 0 || o.threads > kMaxThreads)
    fail("--threads {}: must be in 0..{}", o.threads, kMaxThreads);
  if (o.steps < 0 || o.steps > exp::kMaxInitSteps)
    fail("--steps {}: must be in 0..{}", o.steps, exp::kMaxInitSteps);
  if (o.shard && o.assemble) fail("--shard computes one part, --assemble joins them: use one");
  o.command = "loftlab";
  for (int i = 0; i < argc; ++i) o.command += " " + shell_quote(argv[i]);
  return o;
}

// What the options say about every target: parsed once, checked before any work.
struct Setup {
  const init::Method* method = nullptr;
  std::string budget;  // --quant budget:B, canonical; quant is then allocated
  init::PerTensor<quant::Spec> quant;
  init::PerTensor<init::RankSpec> rank;
  init::Options init;
  std::shared_ptr<const model::CalibStats> stats;  // data-aware methods
  std::string dtype;                               // "source", "F32", "BF16", "F16"
  bool alpha_is_rank = false;
  uint64_t seed = 0;
};

Setup make_setup(const Options& o) {
  Setup s;
  s.method = &init::find_method(o.method);
  try {
    if (alloc::is_budget(o.quant))
      s.budget = alloc::format(alloc::parse_budget(o.quant));
    else
      s.quant = init::parse_quant_rules(o.quant);
  } catch (const Error& e) {
    fail("--quant '{}': {}", o.quant, e.what());
  }
  if (!s.budget.empty() && !s.method->quantizes)
    fail("--quant {}: method {} does not quantise, so it has no storage to allocate", s.budget,
         s.method->name);
  try {
    s.rank = init::parse_rank_rules(o.rank);
  } catch (const Error& e) {
    fail("--rank '{}': {}", o.rank, e.what());
  }
  try {
    s.init.svd = lowrank::parse_svd(o.svd);
  } catch (const Error& e) {
    fail("--svd: {}", e.what());
  }
  s.init.steps = o.steps;
  try {
    s.init.nuclear = init::parse_nuclear(o.nuclear);
    s.init.weight = init::parse_weight(o.weight);
    s.init.scale = init::parse_scale(o.scale);
  } catch (const Error& e) {
    fail("{}", e.what());
  }
  if (!(o.damping >= 0) || !std::isfinite(o.damping))
    fail("--damping {}: a number >= 0", o.damping);
  s.init.damping = o.damping;
  const bool aware = exp::data_aware(*s.method, s.init.weight);
  if (aware && o.calib.empty())
    fail(
        "method {}{} needs calibration statistics: loftlab calibrate {} --corpus C --out FILE, "
        "then --calib FILE",
        s.method->name, s.method->uses_steps ? " --weight " + o.weight : "", o.source);
  if (!aware && !o.calib.empty())
    fail("--calib {}: method {} with --weight {} reads no statistics", o.calib, s.method->name,
         o.weight);
  if (aware) s.stats = std::make_shared<model::CalibStats>(model::read_calibration(o.calib));
  const std::map<std::string, std::string> dtypes = {
      {"source", "source"}, {"f32", "F32"}, {"bf16", "BF16"}, {"f16", "F16"}};
  if (!dtypes.count(o.dtype)) fail("--dtype '{}': valid are source, f32, bf16, f16", o.dtype);
  s.dtype = dtypes.at(o.dtype);
  s.alpha_is_rank = o.alpha == "rank";
  if (!s.alpha_is_rank) {
    try {
      s.init.lora_alpha = std::stod(o.alpha);
    } catch (const std::exception&) {
      s.init.lora_alpha = -1;
    }
    if (!(s.init.lora_alpha > 0) || !std::isfinite(s.init.lora_alpha) ||
        fmt::format("{}", s.init.lora_alpha).empty())
      fail("--alpha '{}': a positive number, or 'rank'", o.alpha);
  }
  size_t used = 0;
  try {
    s.seed = std::stoull(o.seed, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != o.seed.size() || o.seed.front() == '-')
    fail("--seed '{}': an integer in 0..2^64-1", o.seed);
  return s;
}

// The export's parameters, canonical: a resume must match them exactly.
results::Params export_params(const Options& o, const Setup& s) {
  results::Params p;
  p["source"] = o.source;
  p["targets"] = o.targets;
  p["method"] = std::string(s.method->name);
  p["quant"] = init::format(s.quant);
  if (!s.budget.empty()) p["budget"] = s.budget;
  p["rank"] = init::format(s.rank);
  p["steps"] = int64_t{o.steps};
  p["svd"] = lowrank::format(s.init.svd);
  p["alpha"] = s.alpha_is_rank ? std::string("rank") : fmt::format("{}", s.init.lora_alpha);
  p["seed"] = std::to_string(s.seed);
  p["dtype"] = o.dtype;
  if (o.nuclear != "none") p["nuclear"] = o.nuclear;
  if (s.stats) {
    p["weight"] = o.weight;
    p["scale"] = o.scale;
    p["damping"] = o.damping;
    p["calib"] = exp::calib_text(s.stats->key);  // what the statistics are, not where
  }
  return p;
}

std::string params_text(const results::Params& p) {
  nlohmann::json j = nlohmann::json::object();
  // No structured binding here: clang 14 cannot capture one in a lambda (C++20's P1091).
  for (const auto& kv : p) {
    const std::string& key = kv.first;
    std::visit([&](const auto& x) { j[key] = x; }, kv.second);
  }
  return j.dump(2) + "\n";
}

struct Model {
  std::unique_ptr<io::TensorSource> source;
  fs::path dir;  // hf: folder, else empty
};

Model open_model(const std::string& spec) {
  Model m;
  const bool hf = spec.starts_with("hf:");
  if (!hf && !spec.starts_with("llama2c:") && !spec.starts_with("pretrained:"))
    fail("SOURCE '{}': init-model exports a model; use hf:DIR, llama2c:PATH or pretrained:NAME",
         spec);
  if (hf) {
    fs::path p = spec.substr(3);
    m.dir = fs::is_directory(p) ? p : p.parent_path();
    if (!fs::exists(m.dir / "config.json"))
      fail(
          "SOURCE '{}': no config.json in {}; the export is a Hugging Face folder and copies the "
          "model's config.json: put it beside the weights",
          spec, m.dir.string());
  }
  m.source = engine::in_hf_order(io::open_source(spec));
  if (!hf && !m.source->config()) fail("SOURCE '{}' has no Llama config", spec);
  return m;
}

double peak_rss_gb() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / (1024.0 * 1024.0);
}

std::string human_bytes(double b) {
  const char* unit[] = {"B", "KB", "MB", "GB", "TB"};
  int i = 0;
  while (b >= 1000 && i < 4) b /= 1000, ++i;
  return fmt::format("{:.{}f} {}", b, i == 0 ? 0 : 2, unit[i]);
}

void print_plan(const engine::ModelPlan& plan, const Setup& s, const Options& o) {
  fmt::print("init-model {} -> {} ({} tensors: {} initialised by {}, {} copied)\n", o.source, o.out,
             plan.tensors.size(), plan.targets, s.method->name, plan.tensors.size() - plan.targets);
  fmt::print("{:<56} {:>14} {:<6} {:<12} {:>8} {:>6}\n", "tensor", "shape", "dtype", "quant",
             "rank", "bits");
  double bytes = 0, adapter = 0, qbits = 0, qn = 0;
  bool energy = false;
  for (const auto& t : plan.tensors) {
    const std::string shape = fmt::format("{}", fmt::join(t.info.shape, "x"));
    const double n = static_cast<double>(io::element_count(t.info.shape).n);
    if (!t.target) {
      fmt::print("{:<56} {:>14} {:<6} {:<12} {:>8} {:>6}\n", t.info.name, shape, t.info.dtype,
                 "copy", "-", "-");
      bytes += n * engine::dtype_bytes(t.info.dtype);
      continue;
    }
    const std::string dtype = s.dtype == "source" ? t.info.dtype : s.dtype;
    const double bits = t.quant ? quant::bits_per_weight(*t.quant) : 32;
    fmt::print("{:<56} {:>14} {:<6} {:<12} {:>8} {:>6.3f}\n", t.info.name, shape, dtype,
               t.quant ? quant::format(*t.quant) : std::string("none"), init::format(t.rank), bits);
    bytes += n * engine::dtype_bytes(dtype);
    qbits += bits * n;
    qn += n;
    energy = energy || t.rank.fixed == 0;
    if (t.rank.fixed > 0)
      adapter += 4.0 * t.rank.fixed * static_cast<double>(t.info.shape[0] + t.info.shape[1]);
  }
  fmt::print(
      "targets: {} ({} parameters), {:.3f} bits per weight as quantised; expected output: "
      "backbone {}, adapter {}{}\n",
      plan.targets, static_cast<int64_t>(qn), qn > 0 ? qbits / qn : 0, human_bytes(bytes),
      human_bytes(adapter), energy ? " (energy ranks not counted)" : "");
}

// A live line on a terminal: tensors done/total, parameters per second, ETA.
class Progress {
 public:
  Progress(size_t total, double params, bool on) : total_(total), params_(params), on_(on) {}
  void done(size_t n, size_t elements) {
    std::lock_guard lock(mu_);
    done_ = n;
    seen_ += static_cast<double>(elements);
    if (!on_) return;
    const double t = std::chrono::duration<double>(Clock::now() - t0_).count();
    const double rate = seen_ / std::max(t, 1e-9);
    fmt::print(stderr, "\rinit-model: {}/{} tensors, {:.1f} M params/s, ETA {}   ", done_, total_,
               rate / 1e6, sweep::format_duration((params_ - seen_) / rate));
    if (done_ == total_) fmt::print(stderr, "\n");
  }
  double seconds() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }
  double params() const { return seen_; }

 private:
  size_t total_, done_ = 0;
  double params_, seen_ = 0;
  bool on_;
  Clock::time_point t0_ = Clock::now();
  std::mutex mu_;
};

// Computes this process's targets that have no valid stage file yet; returns how many ran.
size_t compute(const Model& m, const engine::ModelPlan& plan, const Setup& s,
               const engine::Staging& st, sweep::Shard shard, const Options& o, bool lead,
               double& params) {
  std::vector<size_t> todo;
  size_t k = 0;
  for (size_t i = 0; i < plan.tensors.size(); ++i) {
    if (!plan.tensors[i].target) continue;
    if (static_cast<int>(k++ % static_cast<size_t>(shard.count)) != shard.index) continue;
    if (!engine::read_stage(st.stage_file(i), plan.tensors[i].info.name)) todo.push_back(i);
  }
  std::vector<std::string> names;
  double total = 0;
  for (size_t i : todo) {
    names.push_back(plan.tensors[i].info.name);
    total += static_cast<double>(io::element_count(plan.tensors[i].info.shape).n);
  }
  fs::create_directories(st.tensors());
  Progress progress(todo.size(), total, lead && ::isatty(STDERR_FILENO));
  engine::StreamOptions so;
  so.jobs = o.jobs;
  so.threads = o.threads;
  so.on_done = [&](size_t n, size_t e) { progress.done(n, e); };
  engine::stream_tensors(
      *m.source, names,
      [&](size_t j, Matrix&& w) {
        const auto& t = plan.tensors[todo[j]];
        init::Options opt = s.init;
        opt.seed = derive_seed(s.seed, t.info.name);  // as finetune's adapters: order-free
        if (s.stats) opt.stats = s.stats->layer(t.info.name);
        const int r = init::resolve_rank(t.rank, w, t.quant);
        if (s.alpha_is_rank) opt.lora_alpha = r;
        const auto res = init::initialize(s.method->name, w, t.quant, r, opt);
        w = Matrix();
        const std::string dtype = s.dtype == "source" ? t.info.dtype : s.dtype;
        engine::write_stage(st.stage_file(todo[j]), t.info.name, res, dtype);
      },
      so);
  params = progress.params();
  return todo.size();
}

// Stage files still missing, as "N of M targets (e.g. NAME)".
std::string missing_stages(const engine::ModelPlan& plan, const engine::Staging& st) {
  size_t missing = 0;
  std::string first;
  for (size_t i = 0; i < plan.tensors.size(); ++i)
    if (plan.tensors[i].target &&
        !engine::read_stage(st.stage_file(i), plan.tensors[i].info.name)) {
      if (missing++ == 0) first = plan.tensors[i].info.name;
    }
  return missing ? fmt::format("{} of {} targets (e.g. '{}')", missing, plan.targets, first) : "";
}

// Takes the staging folder's lock and checks (or records) the export's parameters.
results::SweepLock lock_staging(const engine::Staging& st, const Options& o,
                                const std::string& params) {
  fs::create_directories(st.root.parent_path());
  auto lock = o.shard ? results::SweepLock::shard(st.root, o.shard->index, o.shard->count)
                      : results::SweepLock::whole_folder(st.root, "init-model");
  if (fs::exists(st.params())) {
    const std::string old = read_regular_file(st.params(), "export parameters", 1 << 20);
    if (old != params) {
      if (!o.force)
        fail(
            "{} holds an unfinished export with other parameters:\n{}rerun with those to resume "
            "it, or add --force to discard it",
            st.root.string(), old);
      fs::remove_all(st.tensors());
    }
  }
  if (!fs::exists(st.params()) ||
      read_regular_file(st.params(), "export parameters", 1 << 20) != params)
    write_file_atomic(st.params(), params);
  return lock;
}

// --quant budget:B: the allocation over the plan's targets (the same as `loftlab allocate` and a
// sweep's budget point compute, through the cost cache) gives every target its quantizer. Every
// shard and rank computes it alike: it is deterministic.
engine::ModelPlan budget_plan(const Model& m, const Options& o, Setup& s, bool lead) {
  engine::ModelPlan plan = engine::make_plan(*m.source, o.targets, s.rank);
  exp::BudgetSettings b;
  b.budget = s.budget;
  b.method = std::string(s.method->name);
  b.rank = s.rank;
  b.options = s.init;
  b.source_id = exp::source_identity(o.source);
  if (s.stats) {
    b.stats = [stats = s.stats](const std::string& n) { return stats->layer(n); };
    b.stats_id = exp::calib_text(s.stats->key);
  }
  b.threads = o.threads;
  if (lead)
    b.progress = [](double f, const std::string& t) {
      fmt::print(stderr, "\rallocation costs {:5.1f}%  {:<50}", 100 * f, t);
      if (f >= 1) fmt::print(stderr, "\n");
    };
  std::vector<alloc::TensorInfo> infos;
  for (const auto& t : plan.tensors)
    if (t.target) infos.push_back({t.info.name, t.info.shape[0], t.info.shape[1]});
  const auto r =
      exp::allocate_budget(b, infos, [&](const std::string& n) { return m.source->take(n); });
  s.quant = r.allocation.rules;
  engine::assign_quant(plan, s.quant);
  if (lead) fmt::print("{}", alloc::describe(r.table, r.allocation));
  return plan;
}

// Every target has statistics of its width in the --calib file (and the Fisher, if weighed by
// it), checked before any work.
void check_statistics(const engine::ModelPlan& plan, const Setup& s, const Options& o) {
  const bool fisher = s.init.weight == init::Weight::fisher && s.method->uses_steps;
  for (const auto& t : plan.tensors) {
    if (!t.target) continue;
    const auto st = s.stats->layer(t.info.name);
    if (!st.h || (fisher && !st.fisher))
      fail("--calib {}: no {} for target '{}' (is it this model's file? loftlab calibrate {}{})",
           o.calib, st.h ? "Fisher" : "statistics", t.info.name, o.source,
           fisher ? " ... --fisher" : "");
    init::check_input_stats(*st.h, t.info.shape.at(1),
                            fmt::format("--calib {}, target '{}'", o.calib, t.info.name));
  }
}

int run(const Options& o, const Ranks& ranks) {
  if (ranks.mpi() && (o.shard || o.assemble))
    fail("--shard/--assemble and mpirun both split the tensors; use one");
  Setup s = make_setup(o);
  const Model m = open_model(o.source);
  const auto plan = s.budget.empty()
                        ? engine::make_plan(*m.source, o.targets, *s.method, s.quant, s.rank)
                        : budget_plan(m, o, s, ranks.rank() == 0);
  if (s.stats) check_statistics(plan, s, o);
  const engine::Staging st(o.out);
  const bool lead = ranks.rank() == 0;
  std::error_code ec;
  const bool exists = fs::exists(fs::symlink_status(st.out, ec));
  if (o.dry_run) {
    if (lead) {
      print_plan(plan, s, o);
      if (exists)
        fmt::print("note: {} exists; the run will refuse to replace it without --force\n",
                   st.out.string());
    }
    return 0;
  }
  if (exists && !o.force)
    fail("--out {} already exists; choose another folder, or add --force to replace it",
         st.out.string());
  const auto params = export_params(o, s);
  const std::string ptext = params_text(params);

  std::optional<results::SweepLock> lock;
  ranks.collective = true;
  if (lead) {
    std::string refused;
    try {
      lock.emplace(lock_staging(st, o, ptext));
    } catch (const Error& e) {
      refused = e.what();
    }
    if (ranks.broadcast(refused).size()) fail("{}", refused);
  } else if (!ranks.broadcast("").empty()) {
    return 1;
  }
  const sweep::Shard shard =
      ranks.mpi() ? sweep::Shard{ranks.rank(), ranks.size()} : o.shard.value_or(sweep::Shard{});
  const auto t0 = Clock::now();
  double params_done = 0;
  size_t ran = 0;
  if (!o.assemble) ran = compute(m, plan, s, st, shard, o, lead, params_done);
  const long all_ran = ranks.sum(static_cast<long>(ran));
  ranks.barrier();
  if (o.shard) {
    fmt::print(
        "init-model: shard {}/{}: {} tensors computed in {}; when every shard is done: {} "
        "--assemble\n",
        shard.index, shard.count, ran,
        sweep::format_duration(std::chrono::duration<double>(Clock::now() - t0).count()),
        o.command.substr(0, o.command.find(" --shard")));
    return 0;
  }
  if (!lead) return 0;
  if (const auto missing = missing_stages(plan, st); !missing.empty())
    fail(
        "cannot assemble {}: {} have no finished stage in {}; run the missing --shard parts "
        "first",
        st.out.string(), missing, st.tensors().string());
  engine::ExportInfo info;
  info.dtype = s.dtype;
  info.base_model = st.out.string();
  info.command = o.command;
  info.params = params;
  info.source_dir = m.dir;
  if (m.dir.empty())
    info.config_json =
        engine::llama_config_json(*m.source->config(), s.dtype == "BF16"  ? "bfloat16"
                                                       : s.dtype == "F16" ? "float16"
                                                                          : "float32");
  const uint64_t bytes = engine::assemble(*m.source, plan, st, info);
  engine::publish(st, o.force);
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  fmt::print(
      "init-model: {} tensors initialised ({} computed now), {} copied, {} written to {} in {} "
      "({:.1f} M params/s), peak RSS {:.2f} GB\n",
      plan.targets, all_ran, plan.tensors.size() - plan.targets,
      human_bytes(static_cast<double>(bytes)), st.out.string(), sweep::format_duration(secs),
      params_done / std::max(secs, 1e-9) / 1e6, peak_rss_gb());
  return 0;
}

}  // namespace

int cmd_init_model(int argc, char** argv) {
  const auto options = parse_options(argc, argv);
  if (!options) return 0;
  Ranks ranks("init-model");
  return ranks.run([&] { return run(*options, ranks); });
}

}  // namespace loft::cli
