// loftlab init-matrix: run one initialisation method on one matrix from a .npy file and print
// one JSON object (traces, timing, storage cost) on stdout; optionally save Q, A, B.
#include <fmt/format.h>
#include <omp.h>

#include <boost/program_options.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "experiments/cli/commands.hpp"
#include "experiments/cli/options.hpp"
#include "experiments/experiment.hpp"
#include "init/init.hpp"
#include "init/rank.hpp"
#include "io/npy.hpp"
#include "lowrank/svd.hpp"
#include "model/calibrate.hpp"

namespace po = boost::program_options;

namespace loft::cli {

namespace {

// JSON has no NaN: a value not computed (the nuclear norm without --nuclear) is null.
nlohmann::json numbers(const std::vector<double>& v) {
  nlohmann::json out = nlohmann::json::array();
  for (double x : v) out.push_back(std::isfinite(x) ? nlohmann::json(x) : nlohmann::json());
  return out;
}

std::string method_list() {
  std::string out;
  for (const auto& m : init::methods()) out += fmt::format("  {:<8} {}\n", m.name, m.description);
  return out;
}

}  // namespace

int cmd_init_matrix(int argc, char** argv) {
  std::string npy, method, quant_text, rank_text, svd_text, save, stop, seed_text, alpha_text,
      nuclear_text;
  std::string calib, calib_layer, weight_text, scale_text;
  double damping = 0.01;
  int steps = 1, threads = 0;
  po::options_description desc(
      "usage: loftlab init-matrix --npy W.npy [options]\n\n"
      "Runs one initialisation method on one 2-D matrix (float32/float16/float64, C order,\n"
      "rows = out features) and prints one JSON object: residual_fro, residual_rel,\n"
      "residual_vs_qlora, residual_nuclear (null where not computed) and seconds over\n"
      "t = 0..T (one value for lora and qlora), bits_per_weight, and the settings used.\n"
      "The factors satisfy W ~= Q + s B A with s = alpha / rank.\n\nmethods:\n" +
      method_list() + "\noptions");
  desc.add_options()("help,h", "print this help")("npy", po::value(&npy)->required(),
                                                  "the matrix W (.npy)")(
      "method", po::value(&method)->default_value("loftq"), "the init method (listed above)")(
      "quant", po::value(&quant_text)->default_value("nf4"),
      "quantizer spec (see loftlab quantizers), e.g. nf2, nf4:b128:dq")(
      "rank", po::value(&rank_text)->default_value("16"),
      "adapter rank r (1..min(out, in)) or energy:F (smallest r holding F of the energy of "
      "W - q(W))")("steps", po::value(&steps)->default_value(1),
                   "alternating steps T (loftq: 0 = qlora)")(
      "svd", po::value(&svd_text)->default_value("exact"),
      "exact | exact-gesdd | randomized[:p=10:q=2] | randomized-warm[:p=10:q=2:w=0]")(
      "seed", po::value(&seed_text)->default_value("0"),
      "seed for A (lora/qlora) and randomized SVD (0..2^64-1)")(
      "alpha", po::value(&alpha_text)->default_value("0"), "lora_alpha (0 = rank, so s = 1)")(
      "stop", po::value(&stop)->default_value("none"),
      "none | rise (stop once the residual rises, keep the best step)")(
      "nuclear", po::value(&nuclear_text)->default_value("none")->implicit_value("every"),
      "where the trace computes the nuclear norm when it costs an eigensolve: none | ends "
      "(t = 0 and the result) | every (each step; bare --nuclear)")(
      "threads", po::value(&threads)->default_value(0), "OpenMP/BLAS threads (0 = default)")(
      "save", po::value(&save), "write Q.npy, A.npy, B.npy into this folder (created)")(
      "calib", po::value(&calib),
      "calibration file (loftlab calibrate): adds residual_act, needed by qera and --weight")(
      "calib-layer", po::value(&calib_layer),
      "the weight name whose statistics to use (e.g. model.layers.0.self_attn.q_proj.weight)")(
      "weight", po::value(&weight_text)->default_value("none"),
      "loftq/qpissa low-rank step weighting: none | act | fisher")(
      "scale", po::value(&scale_text)->default_value("exact"), "act weighting: exact | diag")(
      "damping", po::value(&damping)->default_value(0.01),
      "lambda added to H's diagonal, relative to its mean (raised when H is singular)");
  if (!parse_command_line(argc, argv, desc, "init-matrix")) return 0;
  uint64_t seed = 0;
  if (auto [end, ec] = std::from_chars(seed_text.data(), seed_text.data() + seed_text.size(), seed);
      ec != std::errc() || end != seed_text.data() + seed_text.size())
    fail("--seed '{}' is not valid (an integer in 0..{})", seed_text, UINT64_MAX);
  double alpha = 0;
  if (auto [end, ec] =
          std::from_chars(alpha_text.data(), alpha_text.data() + alpha_text.size(), alpha);
      ec != std::errc() || end != alpha_text.data() + alpha_text.size() || !std::isfinite(alpha) ||
      alpha < 0)
    fail("--alpha '{}' is not valid (a finite number >= 0; 0 = rank)", alpha_text);
  if (steps < 0 || steps > exp::kMaxInitSteps)
    fail("--steps {} is not valid (0..{})", steps, exp::kMaxInitSteps);
  if (stop != "none" && stop != "rise") fail("--stop '{}' is not valid (valid: none, rise)", stop);
  if (threads < 0 || threads > kMaxThreads)
    fail("--threads {} is not valid (0 = default, or 1..{})", threads, kMaxThreads);
  if (threads > 0) omp_set_num_threads(threads);

  const auto start = std::chrono::steady_clock::now();
  const init::Method& m = init::find_method(method);
  const quant::Spec q = quant::parse(quant_text);
  init::Options opt;
  opt.steps = steps;
  opt.seed = seed;
  opt.svd = lowrank::parse_svd(svd_text);
  opt.lora_alpha = alpha;
  opt.stop_on_rise = stop == "rise";
  opt.nuclear = init::parse_nuclear(nuclear_text);
  opt.weight = init::parse_weight(weight_text);
  opt.scale = init::parse_scale(scale_text);
  opt.damping = damping;
  const Matrix w = io::read_npy(npy);
  model::CalibStats stats;
  if (!calib.empty()) {
    if (calib_layer.empty()) fail("--calib needs --calib-layer NAME (which weight's statistics)");
    stats = model::read_calibration(calib);
    opt.stats = stats.layer(calib_layer);
    if (!opt.stats.h)
      fail("--calib {}: no statistics for '{}' (loftlab tensors lists the weight names)", calib,
           calib_layer);
    init::check_input_stats(*opt.stats.h, w.cols(), fmt::format("--calib {}", calib));
  }
  const int rank = init::resolve_rank(init::parse_rank(rank_text), w,
                                      m.quantizes ? init::MaybeSpec(q) : std::nullopt);
  const init::Result r = init::initialize(method, w, q, rank, opt);

  if (!save.empty()) {
    std::filesystem::create_directories(save);
    io::write_npy(std::filesystem::path(save) / "Q.npy", r.Q);
    io::write_npy(std::filesystem::path(save) / "A.npy", r.A);
    io::write_npy(std::filesystem::path(save) / "B.npy", r.B);
  }
  nlohmann::json out = {
      {"npy", npy},
      {"shape", {w.rows(), w.cols()}},
      {"method", method},
      {"quant", m.quantizes ? quant::format(q) : "none"},
      {"rank", r.rank},
      {"steps", m.uses_steps ? steps : 0},
      {"steps_run", r.steps_run},
      {"svd", m.uses_steps ? lowrank::format(opt.svd) : "none"},
      {"seed", seed},
      {"lora_alpha", r.lora_alpha},
      {"scale", r.scale},
      {"bits_per_weight", r.bits_per_weight},
      {"damping", std::isfinite(r.damping) ? nlohmann::json(r.damping) : nlohmann::json()},
      {"wall_seconds",
       std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()},
      {"threads", omp_get_max_threads()},
  };
  for (const auto& f : init::trace_fields()) out[std::string(f.name)] = numbers(r.trace.*f.values);
  if (!save.empty()) out["saved"] = save;
  fmt::print("{}\n", out.dump());
  return 0;
}

}  // namespace loft::cli
