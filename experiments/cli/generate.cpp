// loftlab generate (placeholder until its module lands; the owner replaces this file).
#include "common/error.hpp"
#include "experiments/cli/commands.hpp"

namespace loft::cli {
int cmd_generate(int, char**) { fail("'generate' is not implemented yet"); }
}  // namespace loft::cli
