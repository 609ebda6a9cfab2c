// loftlab merge / inspect (placeholder until the results module lands; its owner replaces this).
#include "common/error.hpp"
#include "experiments/cli/commands.hpp"

namespace loft::cli {
int cmd_merge(int, char**) { fail("'merge' is not implemented yet"); }
int cmd_inspect(int, char**) { fail("'inspect' is not implemented yet"); }
}  // namespace loft::cli
