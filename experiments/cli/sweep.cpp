// loftlab sweep (placeholder until its module lands; the owner replaces this file).
#include "common/error.hpp"
#include "experiments/cli/commands.hpp"

namespace loft::cli {
int cmd_sweep(int, char**) { fail("'sweep' is not implemented yet"); }
}  // namespace loft::cli
namespace loft::cli {
int cmd_merge(int, char**) { fail("'merge' is not implemented yet"); }
int cmd_inspect(int, char**) { fail("'inspect' is not implemented yet"); }
}  // namespace loft::cli
