// loftlab allocate SOURCE --budget B: the quantizer per tensor that minimises the total error
// under a storage budget, printed as per-tensor rules the other commands take as `quant`.
#include <fmt/format.h>

#include <boost/program_options.hpp>
#include <iostream>

#include "alloc/budget.hpp"
#include "common/error.hpp"
#include "common/files.hpp"
#include "experiments/allocation.hpp"
#include "experiments/cli/commands.hpp"
#include "experiments/cli/options.hpp"
#include "init/rank.hpp"
#include "io/select.hpp"
#include "io/source.hpp"
#include "lowrank/svd.hpp"

namespace po = boost::program_options;

namespace loft::cli {

int cmd_allocate(int argc, char** argv) {
  std::string source, budget, method, rank, layers, svd, out, solver;
  int steps = 1, threads = 0;
  po::options_description desc(
      "usage: loftlab allocate SOURCE --budget B [options]\n\n"
      "Chooses one quantizer per selected tensor so that the total squared residual\n"
      "||W - Q - sBA||_F^2 of the init method is smallest while the selection stores at most B\n"
      "bits per weight (an exact multiple-choice knapsack; lib/alloc). Prints the chosen spec per\n"
      "tensor, the bits per weight reached, the objective, its Lagrangian lower bound and gap,\n"
      "and how often the cheap proxy ||W - q(W)||_F^2 would choose differently; the rules go to\n"
      "standard output's last line, or to --out, in the syntax `quant` takes everywhere.\n"
      "Costs are cached in $LOFTLAB_COST_CACHE/alloc_costs.h5 when that variable names a folder.\n"
      "\nsources:\n" +
      io::source_help() + "\noptions");
  desc.add_options()("help,h", "print this help")(
      "budget,b", po::value<std::string>(&budget),
      "bits per weight, or a budget spec: budget:B[:candidates=nf2+nf3+nf4][:blocks=64+128]"
      "[:dq=both|yes|no][:adapter]")(
      "method,m", po::value<std::string>(&method)->default_value("loftq"),
      "init method whose residual is the cost (qlora: ||W - q(W)||)")(
      "rank,r", po::value<std::string>(&rank)->default_value("16"),
      "adapter rank, energy:F, or per-tensor rules")(
      "steps", po::value<int>(&steps)->default_value(1), "alternating steps (loftq, qpissa)")(
      "svd", po::value<std::string>(&svd)->default_value("exact"), "truncated SVD")(
      "layers,l", po::value<std::string>(&layers)->default_value("*"),
      "comma-separated globs over tensor names, as a sweep's `layers`")(
      "threads,t", po::value<int>(&threads)->default_value(0), "threads (0: all)")(
      "out,o", po::value<std::string>(&out), "also write the rules to this file (atomically)");
  if (!parse_command_line(argc, argv, desc, "allocate", Positional{"SOURCE", &source})) return 0;
  if (budget.empty()) fail("no --budget given, e.g. --budget 3.0 (see loftlab allocate --help)");
  if (steps < 0 || steps > 10'000) fail("--steps {}: not in 0..10000", steps);
  if (threads < 0 || threads > kMaxThreads)
    fail("--threads {}: not in 0..{}", threads, kMaxThreads);

  exp::BudgetSettings s;
  s.budget = alloc::is_budget(budget) ? budget : "budget:" + budget;
  alloc::parse_budget(s.budget);  // a bad spec fails before the source is read
  s.method = std::string(init::find_method(method).name);
  s.rank = init::parse_rank_rules(rank);
  s.options.steps = steps;
  s.options.svd = lowrank::parse_svd(svd);
  s.source_id = exp::source_identity(source);
  s.threads = threads;
  s.progress = [](double f, const std::string& t) {
    fmt::print(stderr, "\rcosts {:5.1f}%  {:<50}", 100 * f, t);
    if (f >= 1) fmt::print(stderr, "\n");
  };
  const auto src = io::open_source(source);
  std::vector<alloc::TensorInfo> infos;
  for (const auto& t : io::select_tensors(*src, layers)) {
    if (t.shape.size() != 2) fail("tensor '{}' is not a matrix", t.name);
    infos.push_back({t.name, t.shape[0], t.shape[1]});
  }
  const auto r = exp::allocate_budget(s, infos, [&](const std::string& n) { return src->take(n); });
  const std::string rules = init::format(r.allocation.rules);
  fmt::print("{}", alloc::describe(r.table, r.allocation));
  fmt::print("rules:\n{}\n", rules);
  if (!out.empty()) write_file_atomic(out, rules + "\n");
  return 0;
}

}  // namespace loft::cli
