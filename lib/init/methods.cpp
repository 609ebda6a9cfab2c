// The initialisation methods and their registry.
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <limits>

#include "common/error.hpp"
#include "common/finite.hpp"
#include "common/rng.hpp"
#include "init/init.hpp"
#include "lowrank/nuclear.hpp"
#include "lowrank/products.hpp"

namespace loft::init {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

class Stopwatch {
 public:
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

double nuclear_norm(const Eigen::VectorXf& values) {
  double s = 0;
  for (float v : values) s += v;
  return s;
}

// What every method shares: the shape checks, the scale, and the trace bookkeeping.
struct Run {
  ConstMatrixRef w;
  int rank;
  const Options& opt;
  Result res;
  Stopwatch clock;
  double w_norm = 0;
  double qlora_norm = kNaN;
  double qlora_act = kNaN;  // ||(W - q(W)) S||_F when calibration statistics are given

  Run(ConstMatrixRef w_, int rank_, const Options& opt_) : w(w_), rank(rank_), opt(opt_) {
    res.rank = rank;
    res.lora_alpha = opt.lora_alpha > 0 ? opt.lora_alpha : rank;
    res.scale = res.lora_alpha / rank;
    w_norm = frobenius(w);
  }

  // The output error ||(x - y) S||_F on the calibration inputs, NaN without them (and then the
  // difference, a matrix the size of W, is never formed).
  double act_norm(ConstMatrixRef x, ConstMatrixRef y) const {
    return opt.stats.h ? weighted_norm(x - y, *opt.stats.h) : kNaN;
  }

  void record(double fro, double nuclear, double act = kNaN) {
    Trace& t = res.trace;
    t.residual_act.push_back(act);
    t.residual_act_vs_qlora.push_back(qlora_act > 0 ? act / qlora_act : kNaN);
    t.residual_fro.push_back(fro);
    t.residual_rel.push_back(w_norm > 0 ? fro / w_norm : kNaN);
    t.residual_vs_qlora.push_back(qlora_norm > 0 ? fro / qlora_norm : kNaN);
    t.residual_nuclear.push_back(nuclear);
    t.seconds.push_back(clock.seconds());
  }

  void pop() {
    for (const auto& f : trace_fields()) (res.trace.*f.values).pop_back();
  }

  // B = U sqrt(S/s), A = sqrt(S/s) V^T, so that s B A = U S V^T.
  void set_factors(const lowrank::TruncatedSvd& svd) {
    const Eigen::VectorXf root = (svd.S.array() / float(res.scale)).sqrt();
    res.B = svd.U * root.asDiagonal();
    res.A = root.asDiagonal() * svd.V.transpose();
  }
};

// With a quantizer given, lora's trace still records QLoRA's residual as the baseline.
Result run_lora(ConstMatrixRef w, const MaybeSpec& q, int rank, const Options& opt) {
  Run run(w, rank, opt);
  run.res.Q = w;
  run.res.B = Matrix::Zero(w.rows(), rank);
  run.res.A = kaiming_uniform_a(rank, static_cast<int>(w.cols()), opt.seed);
  if (q) run.qlora_norm = frobenius_distance(w, quant::fake_quantize(*q, w));
  run.record(0.0, 0.0);
  return std::move(run.res);
}

Result qlora(ConstMatrixRef w, const quant::Spec& q, int rank, const Options& opt) {
  Run run(w, rank, opt);
  run.res.Q = quant::fake_quantize(q, w);
  run.res.B = Matrix::Zero(w.rows(), rank);
  run.res.A = kaiming_uniform_a(rank, static_cast<int>(w.cols()), opt.seed);
  run.res.bits_per_weight = quant::bits_per_weight(q);
  run.qlora_norm = frobenius_distance(w, run.res.Q);
  double nuclear = kNaN;
  if (opt.nuclear != Nuclear::none)
    nuclear =
        std::isnan(opt.qlora_nuclear) ? lowrank::nuclear_norm(w - run.res.Q) : opt.qlora_nuclear;
  if (opt.stats.h) check_input_stats(*opt.stats.h, w.cols(), "qlora");
  run.qlora_act = run.act_norm(w, run.res.Q);
  run.record(run.qlora_norm, nuclear, run.qlora_act);
  return std::move(run.res);
}

// ||E||_* of a step's error E = W - Q - s B A. Unweighted, s B A is the top of the SVD of W - Q,
// so E = (I - U U^T)(W - Q) with U spanning B: B's columns are directions E annihilates, which
// the nuclear norm's Gram route uses (lowrank/nuclear.hpp). Weighted, they are not.
double step_nuclear(ConstMatrixRef e, const Result& res, bool weighted) {
  return weighted ? lowrank::nuclear_norm(e) : lowrank::nuclear_norm(e, res.B);
}

// The state of the alternation after its last step, as a trace entry: ||W - Q - s B A||_*.
double state_nuclear(ConstMatrixRef w, const Result& res, bool weighted) {
  Matrix e;
  lowrank::subtract_product(w, static_cast<float>(res.scale), res.B, res.A, e);
  e -= res.Q;
  return step_nuclear(e, res, weighted);
}

// The trace as a run of `steps` steps alone ends it: under Nuclear::ends only t = 0, the last
// entry and the free values keep their nuclear norms.
void mark_run_alone(Trace& trace, const std::vector<bool>& free_nuclear, Nuclear mode) {
  if (mode == Nuclear::ends)
    for (size_t t = 1; t + 1 < trace.size(); ++t)
      if (!free_nuclear[t]) trace.residual_nuclear[t] = kNaN;
}

// LoftQ and QPiSSA: the same alternation, started from B A = 0 or from the SVD of W, run to the
// largest of `targets` and emitted at each.
void alternate(ConstMatrixRef w, const quant::Spec& q, int rank, const Options& opt, bool svd_first,
               std::span<const int> targets, const ChainEmit& emit) {
  Run run(w, rank, opt);
  Result& res = run.res;
  res.bits_per_weight = quant::bits_per_weight(q);
  const float s = static_cast<float>(res.scale);
  auto svd_seed = [&](int t) { return derive_seed(opt.seed, fmt::format("svd-step-{}", t)); };
  const int last = targets.back();
  size_t next = 0;  // the next target to emit
  auto is_target = [&](int t) { return next < targets.size() && targets[next] == t; };
  std::vector<bool> free_nuclear{false};
  // Each target sees the alternation's own state, not a copy (Q alone is the size of W); the
  // last may take it. Before it, only the trace (a few numbers per step) is put back after it
  // was marked as a run alone's.
  auto emit_next = [&] {
    const int t = targets[next++];
    const bool last = next == targets.size();
    Trace chain = last ? Trace{} : res.trace;
    mark_run_alone(res.trace, free_nuclear, opt.nuclear);
    emit(t, res);
    if (!last) res.trace = std::move(chain);
  };
  if (opt.stats.h) check_input_stats(*opt.stats.h, w.cols(), "calibration statistics");
  const Weighting weighting(opt.weight, opt.scale, opt.damping, opt.stats, w.rows(), w.cols());
  res.damping = weighting.damping();
  // Sets B, A to the rank-r minimiser of ||D (R - BA) S||_F (the plain SVD when unweighted);
  // the returned singular values are those of the weighted problem.
  auto low_rank = [&](ConstMatrixRef r, int t, const Eigen::MatrixXf* start) {
    auto svd = weighting.active()
                   ? lowrank::truncated_svd(opt.svd, weighting.apply(r), rank, svd_seed(t), start)
                   : lowrank::truncated_svd(opt.svd, r, rank, svd_seed(t), start);
    run.set_factors(svd);
    if (weighting.active()) weighting.unapply(res.B, res.A);
    return svd;
  };

  Matrix m;  // W - s B A, what the next step quantises
  if (svd_first) {
    low_rank(w, 0, nullptr);
    lowrank::subtract_product(w, s, res.B, res.A, m);
  } else {
    res.B = Matrix::Zero(w.rows(), rank);
    res.A = Matrix::Zero(rank, w.cols());
    m = w;
  }
  res.Q = quant::fake_quantize(q, m);
  Matrix q_w_own;  // QLoRA's Q when it is not the first step's
  if (svd_first) q_w_own = quant::fake_quantize(q, w);
  const Matrix& q_w = svd_first ? q_w_own : res.Q;
  run.qlora_norm = frobenius_distance(w, q_w);
  run.qlora_act = run.act_norm(w, q_w);
  const double fro0 = frobenius_distance(m, res.Q);
  // loftq's first SVD is of W - Q_1, the t = 0 error itself: its nuclear norm comes free then
  // (not when weighted: the spectrum is then the weighted error's).
  const bool free_first = !svd_first && last >= 1 && !weighting.active() &&
                          lowrank::find_svd_method(opt.svd.name).all_values;
  double nuclear0 = kNaN;
  if (!free_first && opt.nuclear != Nuclear::none)
    nuclear0 = !svd_first && !std::isnan(opt.qlora_nuclear) ? opt.qlora_nuclear
                                                            : lowrank::nuclear_norm(m - res.Q);
  // loftq's t = 0 error is QLoRA's own.
  run.record(fro0, nuclear0, svd_first ? run.act_norm(m, res.Q) : run.qlora_act);
  if (is_target(0)) emit_next();

  Matrix prev_q, prev_a, prev_b;
  Matrix r;               // W - Q, what each step factors; it and Q keep their storage across steps
  Eigen::MatrixXf basis;  // a warm-starting SVD's row space, the start of the next step
  for (int t = 1; t <= last; ++t) {
    if (opt.stop_on_rise) {
      prev_q = res.Q;
      prev_a = res.A;
      prev_b = res.B;
    }
    if (t > 1) quant::fake_quantize(q, m, res.Q);
    r = w - res.Q;
    lowrank::TruncatedSvd svd = low_rank(r, t, basis.size() ? &basis : nullptr);
    basis = std::move(svd.basis);
    lowrank::subtract_product(w, s, res.B, res.A, m);
    const double fro = frobenius_distance(m, res.Q);
    double nuclear = kNaN;
    const bool free_here = svd.all_values.size() > 0 && !weighting.active();
    free_nuclear.push_back(free_here);
    if (free_here) {
      nuclear = nuclear_norm(svd.all_values.tail(svd.all_values.size() - rank));
      if (t == 1 && free_first) res.trace.residual_nuclear[0] = nuclear_norm(svd.all_values);
    } else if (opt.nuclear == Nuclear::every || (opt.nuclear == Nuclear::ends && is_target(t))) {
      r = m - res.Q;  // r is free until the next step: no new matrix the size of W
      nuclear = step_nuclear(r, res, weighting.active());
    }
    run.record(fro, nuclear, run.act_norm(m, res.Q));
    res.steps_run = t;
    if (opt.stop_on_rise && fro > res.trace.residual_fro[t - 1]) {
      run.pop();
      free_nuclear.pop_back();
      res.Q = std::move(prev_q);
      res.A = std::move(prev_a);
      res.B = std::move(prev_b);
      // The returned state is the previous one: its nuclear norm is an end now.
      double& back = res.trace.residual_nuclear.back();
      if (std::isnan(back) && opt.nuclear != Nuclear::none)
        back = state_nuclear(w, res, weighting.active());
      while (next < targets.size()) emit_next();
      return;
    }
    if (is_target(t)) emit_next();
  }
}

Result alternate(ConstMatrixRef w, const quant::Spec& q, int rank, const Options& opt,
                 bool svd_first) {
  Result out;
  const int steps[] = {opt.steps};
  alternate(w, q, rank, opt, svd_first, steps, [&](int, Result& r) { out = std::move(r); });
  return out;
}

// The quantising methods get a quantizer: checked() guarantees it.
Result run_qlora(ConstMatrixRef w, const MaybeSpec& q, int rank, const Options& opt) {
  return qlora(w, *q, rank, opt);
}

Result run_loftq(ConstMatrixRef w, const MaybeSpec& q, int rank, const Options& opt) {
  if (opt.steps == 0) return qlora(w, *q, rank, opt);
  return alternate(w, *q, rank, opt, false);
}

Result run_qpissa(ConstMatrixRef w, const MaybeSpec& q, int rank, const Options& opt) {
  return alternate(w, *q, rank, opt, true);
}

void chain_loftq(ConstMatrixRef w, const MaybeSpec& q, int rank, const Options& opt,
                 std::span<const int> steps, const ChainEmit& emit) {
  if (steps.front() == 0) {  // steps = 0 is qlora
    Result r = qlora(w, *q, rank, opt);
    emit(0, r);
    steps = steps.subspan(1);
  }
  if (!steps.empty()) alternate(w, *q, rank, opt, false, steps, emit);
}

void chain_qpissa(ConstMatrixRef w, const MaybeSpec& q, int rank, const Options& opt,
                  std::span<const int> steps, const ChainEmit& emit) {
  alternate(w, *q, rank, opt, true, steps, emit);
}

Result run_qera(ConstMatrixRef w, const MaybeSpec& q, int rank, const Options& opt) {
  Options o = opt;
  o.steps = 1;
  o.weight = Weight::act;
  o.stop_on_rise = false;
  return alternate(w, *q, rank, o, false);
}

std::string method_names() {
  std::string out;
  for (const auto& m : methods()) out += fmt::format("{}{}", out.empty() ? "" : ", ", m.name);
  return out;
}

}  // namespace

const std::vector<Method>& methods() {
  static const std::vector<Method> table = {
      {"lora", "no quantisation: Q = W, A Kaiming-uniform (PEFT), B = 0", false, false, true,
       run_lora, nullptr},
      {"qlora", "Q = q(W), A Kaiming-uniform (PEFT), B = 0", true, false, true, run_qlora, nullptr},
      {"loftq",
       "LoftQ Alg. 1: T alternating steps Q = q(W - sBA), BA = SVD_r(W - Q), quantise first", true,
       true, true, run_loftq, chain_loftq, Needs::nothing, "qlora"},
      {"qpissa", "SVD first (PiSSA), then T alternating steps as loftq", true, true, true,
       run_qpissa, chain_qpissa},
      {"qera", "QERA: Q = q(W), BA = closed-form rank-r minimiser of ||(W - Q - sBA) H^1/2||_F",
       true, false, true, run_qera, nullptr, Needs::calibration},
  };
  return table;
}

const Method& canonical(const Method& m, int64_t steps) {
  return steps == 0 && !m.zero_steps_is.empty() ? find_method(m.zero_steps_is) : m;
}

const std::vector<TraceField>& trace_fields() {
  static const std::vector<TraceField> fields = {
      {"residual_fro", &Trace::residual_fro},
      {"residual_rel", &Trace::residual_rel},
      {"residual_vs_qlora", &Trace::residual_vs_qlora},
      {"residual_nuclear", &Trace::residual_nuclear},
      {"seconds", &Trace::seconds},
      {"residual_act", &Trace::residual_act},
      {"residual_act_vs_qlora", &Trace::residual_act_vs_qlora},
  };
  return fields;
}

const Method& find_method(std::string_view name) {
  for (const auto& m : methods())
    if (m.name == name) return m;
  fail("unknown initialisation method '{}' (valid: {})", name, method_names());
}

Nuclear parse_nuclear(std::string_view text) {
  for (Nuclear n : {Nuclear::none, Nuclear::ends, Nuclear::every})
    if (format(n) == text) return n;
  fail("nuclear: '{}' is not valid (valid: none, ends, every)", text);
}

std::string_view format(Nuclear n) {
  switch (n) {
    case Nuclear::none:
      return "none";
    case Nuclear::ends:
      return "ends";
    case Nuclear::every:
      return "every";
  }
  return "?";
}

namespace {

const Method& checked(std::string_view method, ConstMatrixRef w, const MaybeSpec& q, int rank,
                      const Options& options) {
  const Method& m = find_method(method);
  const Eigen::Index k = std::min(w.rows(), w.cols());
  if (k == 0) fail("{}: empty {}x{} matrix", method, w.rows(), w.cols());
  if (rank < 1 || rank > k)
    fail("{}: rank {} is out of range for a {}x{} matrix (valid: 1..{})", method, rank, w.rows(),
         w.cols(), k);
  if (options.steps < 0) fail("{}: steps = {} (valid: 0 or more)", method, options.steps);
  if (!all_finite(w))
    fail("{}: the {}x{} matrix has NaN or Inf entries", method, w.rows(), w.cols());
  if (m.quantizes && !q) fail("{}: quantises, but no quantizer was given", method);
  if (q) quant::validate(*q);
  lowrank::find_svd_method(options.svd.name);  // a bad name fails before any work
  return m;
}

}  // namespace

Result initialize(std::string_view method, ConstMatrixRef w, const MaybeSpec& q, int rank,
                  const Options& options) {
  return checked(method, w, q, rank, options).run(w, q, rank, options);
}

void initialize_chain(std::string_view method, ConstMatrixRef w, const MaybeSpec& q, int rank,
                      const Options& options, std::span<const int> steps,
                      const std::function<void(int, const Result&)>& emit) {
  if (steps.empty()) return;
  for (size_t i = 0; i < steps.size(); ++i)
    if (steps[i] < 0 || (i > 0 && steps[i] <= steps[i - 1]))
      fail("{}: chain steps must be ascending, distinct and >= 0", method);
  Options last = options;
  last.steps = steps.back();
  const Method& m = checked(method, w, q, rank, last);
  if (m.chain) return m.chain(w, q, rank, last, steps, [&](int t, Result& r) { emit(t, r); });
  const Result r = m.run(w, q, rank, last);
  for (int t : steps) emit(t, r);
}

}  // namespace loft::init
