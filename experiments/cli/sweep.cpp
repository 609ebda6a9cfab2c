// loftlab sweep (placeholder until its module lands; the owner replaces this file).
#include "common/error.hpp"
#include "experiments/cli/commands.hpp"

namespace loft::cli {
int cmd_sweep(int, char**) { fail("'sweep' is not implemented yet"); }
}  // namespace loft::cli
