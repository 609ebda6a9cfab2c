// loftlab init-matrix (placeholder until its module lands; the owner replaces this file).
#include "common/error.hpp"
#include "experiments/cli/commands.hpp"

namespace loft::cli {
int cmd_init_matrix(int, char**) { fail("'init-matrix' is not implemented yet"); }
}  // namespace loft::cli
