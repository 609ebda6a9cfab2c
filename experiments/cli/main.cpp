// loftlab: the command-line program. Dispatches to the subcommand table below.
#include <fmt/format.h>

#include <exception>
#include <string_view>

#include "common/error.hpp"
#include "common/version.hpp"
#include "experiments/cli/commands.hpp"
#include "runtime/blas_core.hpp"
#include "runtime/process.hpp"

namespace {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(int, char**);
};

constexpr Command kCommands[] = {
    {"quantizers", "list the quantizer registry (bits, storage cost, description)",
     loft::cli::cmd_quantizers},
    {"init-matrix", "run one initialisation method on one .npy matrix, print JSON",
     loft::cli::cmd_init_matrix},
    {"init-model", "initialise a whole model tensor by tensor and export it for PEFT",
     loft::cli::cmd_init_model},
    {"sweep", "run (or resume) a sweep config, writing results/<name>/", loft::cli::cmd_sweep},
    {"merge", "rebuild results.h5 and its summary from a results folder's point files",
     loft::cli::cmd_merge},
    {"inspect", "print the summary table of a results file, or one point", loft::cli::cmd_inspect},
    {"tensors", "list a source's tensors and what a `layers` selection picks",
     loft::cli::cmd_tensors},
    {"allocate", "the best quantizer per tensor under a storage budget, as per-tensor rules",
     loft::cli::cmd_allocate},
    {"generate", "greedy text generation from a model checkpoint", loft::cli::cmd_generate},
    {"calibrate", "calibration statistics (input second moments, Fisher) of a model on a corpus",
     loft::cli::cmd_calibrate},
};

void usage(std::FILE* out) {
  fmt::print(out,
             "loftlab {} - quantisation-aware LoRA initialisation: sweeps, results, analysis\n\n"
             "usage: loftlab <command> [options]      (loftlab <command> --help for details)\n\n"
             "commands:\n",
             loft::version());
  for (const auto& c : kCommands) fmt::print(out, "  {:<12} {}\n", c.name, c.summary);
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything else: environment that libgomp and OpenBLAS read only when they load.
  loft::runtime::configure_and_reexec(argv);
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  std::string_view cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    usage(stdout);
    return 0;
  }
  if (cmd == "--version" || cmd == "version") {
    fmt::print("loftlab {} ({})\n{}\n", loft::version(), loft::git_commit(),
               loft::runtime::blas_description());
    return 0;
  }
  for (const auto& c : kCommands) {
    if (cmd != c.name) continue;
    try {
      return c.run(argc - 1, argv + 1);
    } catch (const std::exception& e) {
      fmt::print(stderr, "loftlab {}: error: {}\n", c.name, e.what());
      return 1;
    }
  }
  fmt::print(stderr, "loftlab: unknown command '{}'\n\n", cmd);
  usage(stderr);
  return 2;
}
