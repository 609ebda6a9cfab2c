#pragma once
// The loftlab subcommands: one row each in main.cpp's table, one file each in this folder.
// Every command parses its own options (Boost.Program_options), answers --help, and returns the
// process exit code; loft::Error thrown out of it is printed by main and exits 1.
namespace loft::cli {

// The most OpenMP threads (and parallel sweep jobs) a command accepts: beyond it thread creation
// fails inside OpenMP, which aborts the process instead of reporting an error.
inline constexpr int kMaxThreads = 1024;

// argv[0] is the subcommand name.
int cmd_quantizers(int argc, char** argv);
int cmd_init_matrix(int argc, char** argv);
int cmd_sweep(int argc, char** argv);
int cmd_merge(int argc, char** argv);
int cmd_inspect(int argc, char** argv);
int cmd_generate(int argc, char** argv);
int cmd_tensors(int argc, char** argv);
int cmd_allocate(int argc, char** argv);
int cmd_init_model(int argc, char** argv);
int cmd_calibrate(int argc, char** argv);

}  // namespace loft::cli
