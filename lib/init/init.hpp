#pragma once
// Initialisation methods for a quantised LoRA layer: given W (out x in), a quantizer q and a rank
// r, choose the frozen base Q and the adapter factors A (r x in), B (out x r).
//
// The LoRA scale is explicit: s = lora_alpha / r, and every method returns factors with
//     W ~= Q + s * B * A,
// so a PEFT adapter with that lora_alpha reproduces the initialisation. Default alpha = r (s = 1,
// PEFT's LoftQ convention); with another alpha the SVD factors are divided by sqrt(s) each.
//
// Methods (registry rows, methods()):
//   lora    Q = W (no quantisation); A Kaiming-uniform as PEFT (a = sqrt(5): U(-1/sqrt(in),
//           1/sqrt(in))), seeded; B = 0.
//   qlora   Q = q(W); A, B as lora.
//   loftq   LoftQ (arXiv 2310.08659) Alg. 1, quantise first: from B A = 0, for t = 1..T:
//           Q_t = q(W - s B_{t-1} A_{t-1}); U S V^T = SVD_r(W - Q_t); B_t = U sqrt(S/s),
//           A_t = sqrt(S/s) V^T. steps = 0 is qlora exactly.
//   qpissa  SVD first (PiSSA / LQ-LoRA): B_0 A_0 from SVD_r(W), then the same alternation:
//           Q_t = q(W - s B_{t-1} A_{t-1}), B_t A_t = SVD_r(W - Q_t). steps = 0 is QPiSSA
//           (Q = q(W - B_0 A_0) with the PiSSA adapter).
//   qera    QERA (arXiv 2410.06040): Q = q(W), B A = the rank-r minimiser of ||(W - Q - sBA) S||_F
//           with S S^T = H, the layer's input second moment (weighting.hpp), in closed form.
//           It is loftq with T = 1 and weight = act.
// loftq and qpissa take Options::weight (none | act | fisher): every low-rank step, their first
// SVD included, is then the weighted step of weighting.hpp.
//
// Trace, index t = 0..T (t = 0: after the first quantisation alone, i.e. (Q_1, B_0 A_0); t >= 1:
// (Q_t, B_t A_t)), named as the datasets of results/README.md:
//   residual_fro       ||W - Q_t - s B_t A_t||_F (accumulated in double)
//   residual_rel       residual_fro / ||W||_F
//   residual_vs_qlora  residual_fro / ||W - q(W)||_F (QLoRA's error; 1 at t = 0 for loftq)
//   residual_nuclear   nuclear norm of the same error. With an SVD method that returns every
//                      singular value (exact-gesdd) it is free: the error's spectrum is the
//                      tail beyond r. Otherwise it costs a Gram eigensolve per state
//                      (lowrank/nuclear.hpp), so Options::nuclear says where: none, ends (t = 0
//                      and the returned state: what an error reduction needs) or every step.
//                      NaN where not computed.
//   residual_act       ||(W - Q_t - s B_t A_t) S||_F with S S^T = H (undamped): the output error on
//                      the calibration inputs; NaN without Options::stats.h
//   residual_act_vs_qlora  residual_act / ||(W - q(W)) S||_F
//   seconds            cumulative wall seconds since the method started
// With stop_on_rise the alternation stops once residual_fro rises and returns the best state;
// the trace then ends at that state, so its last entry always describes the returned Q, A, B.
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/matrix.hpp"
#include "init/weighting.hpp"
#include "lowrank/svd.hpp"
#include "quant/quantizer.hpp"

namespace loft::init {

// Where the trace computes residual_nuclear beyond the free values (see above).
enum class Nuclear { none, ends, every };
Nuclear parse_nuclear(std::string_view text);  // "none" | "ends" | "every"; throws naming them
std::string_view format(Nuclear n);

struct Options {
  int steps = 1;                    // T, alternating steps (loftq, qpissa)
  uint64_t seed = 0;                // lora/qlora's A and the randomized SVD sketches
  lowrank::SvdSpec svd;             // default "exact"
  double lora_alpha = 0;            // <= 0 means alpha = rank (s = 1)
  bool stop_on_rise = false;        // "stop = rise": keep the best step once the residual rises
  Nuclear nuclear = Nuclear::ends;  // where residual_nuclear costs an extra eigensolve
  // ||W - q(W)||_* when the caller already has it (it depends on W and q alone, so a sweep
  // computes it once per tensor and quantizer): qlora's and loftq's t = 0 value, used instead of
  // computing it. Must be lowrank::nuclear_norm(W - fake_quantize(q, W)), the value computed
  // otherwise, so that traces do not depend on whether it was known. NaN: not known.
  double qlora_nuclear = std::numeric_limits<double>::quiet_NaN();
  Weight weight = Weight::none;  // loftq, qpissa: the low-rank step's weighting
  Scale scale = Scale::exact;    // act weighting: S = chol(H) or diag(sqrt(H_ii))
  double damping = 0.01;         // lambda relative to the mean diagonal (weighting.hpp)
  LayerStats stats;              // calibration statistics of this layer (not owned)
};

struct Trace {
  std::vector<double> residual_fro, residual_rel, residual_vs_qlora, residual_nuclear, seconds;
  std::vector<double> residual_act, residual_act_vs_qlora;
  size_t size() const { return residual_fro.size(); }
};

struct Result {
  Matrix Q;  // out x in, dequantised
  Matrix A;  // r x in
  Matrix B;  // out x r
  int rank = 0;
  double lora_alpha = 0;  // as used (rank when Options::lora_alpha <= 0)
  double scale = 1;       // s = lora_alpha / rank
  Trace trace;
  int steps_run = 0;            // alternating steps computed (a rejected rising step included)
  double bits_per_weight = 32;  // storage cost of Q (scales included); 32 for lora's float32 W
  double damping = std::numeric_limits<double>::quiet_NaN();  // weighted: the lambda used
};

// A chain's callback: (T, the alternation's state as a run of T steps ends it). The state is the
// chain's own; only at the last T may the callback take (move) from it.
using ChainEmit = std::function<void(int, Result&)>;

// The quantizer of a method: none for lora (and for rank rules measured on W itself).
using MaybeSpec = std::optional<quant::Spec>;

// What a method needs beyond W and the quantizer.
enum class Needs { nothing, calibration, fisher };

struct Method {
  std::string_view name;
  std::string_view description;
  bool quantizes;   // needs the quantizer spec (lora takes one only for its QLoRA baseline)
  bool uses_steps;  // uses Options::steps, svd and stop_on_rise
  bool uses_seed;   // draws random numbers (Kaiming A; or the SVD when it is randomized)
  Result (*run)(ConstMatrixRef w, const MaybeSpec& q, int rank, const Options& options);
  // The step methods' shared alternation (initialize_chain); null for the others.
  void (*chain)(ConstMatrixRef w, const MaybeSpec& q, int rank, const Options& options,
                std::span<const int> steps, const ChainEmit& emit);
  Needs needs = Needs::nothing;         // Options::stats it requires whatever Options::weight says
  std::string_view zero_steps_is = {};  // the method it equals with steps = 0 (loftq: qlora)
};

// The method a point really runs: m, or the one it equals with these steps, so that equal
// points collapse in a sweep.
const Method& canonical(const Method& m, int64_t steps);

// The trace's fields, named as the datasets of results/README.md: every consumer (the residual
// experiment's per-layer datasets, init-matrix's JSON) loops over this list.
struct TraceField {
  std::string_view name;
  std::vector<double> Trace::*values;
};
const std::vector<TraceField>& trace_fields();

const std::vector<Method>& methods();

// One alternation serving several step counts: runs `method` to the largest T in `steps`
// (ascending, distinct, >= 0) and calls emit(T, result) as each is reached, in order. Every
// emitted result equals initialize() with options.steps = T: the same Q, A, B and the same
// trace bits (seconds aside, which time the shared chain), stop_on_rise included. The step
// methods alternate once; the others run once and emit the same result for every T. The result
// is the chain's own state, valid only during the call: emit copies what it keeps, so a sweep
// over steps that keeps traces holds no extra matrix the size of W.
void initialize_chain(std::string_view method, ConstMatrixRef w, const MaybeSpec& q, int rank,
                      const Options& options, std::span<const int> steps,
                      const std::function<void(int, const Result&)>& emit);
const Method& find_method(std::string_view name);  // throws listing the valid names

// Runs one method. Throws for rank outside 1..min(out, in), steps < 0, NaN/Inf in w, or a
// quantizer that cannot take w (e.g. its size not a multiple of the block), or a quantising
// method given no quantizer.
Result initialize(std::string_view method, ConstMatrixRef w, const MaybeSpec& q, int rank,
                  const Options& options = {});

// ||a||_F and ||a - b||_F accumulated in double, the same for any thread count.
double frobenius(ConstMatrixRef a);
double frobenius_distance(ConstMatrixRef a, ConstMatrixRef b);
// ||W - Q - s B A||_F recomputed from scratch (double precision products): the reference the
// traces are checked against.
double residual_reference(ConstMatrixRef w, ConstMatrixRef q, ConstMatrixRef b, ConstMatrixRef a,
                          double s);

// PEFT's default LoRA A: Kaiming-uniform with a = sqrt(5), i.e. U(-1/sqrt(in), 1/sqrt(in)),
// drawn from derive_seed(seed, "lora_A").
Matrix kaiming_uniform_a(int rank, int in, uint64_t seed);

}  // namespace loft::init
