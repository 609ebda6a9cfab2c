// loftlab quantizers (placeholder until its module lands; the owner replaces this file).
#include "common/error.hpp"
#include "experiments/cli/commands.hpp"

namespace loft::cli {
int cmd_quantizers(int, char**) { fail("'quantizers' is not implemented yet"); }
}  // namespace loft::cli
