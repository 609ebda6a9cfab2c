// loftlab quantizers [--block N] [--names]: list the quantizer registry (name, code bits, true
// storage cost in bits per weight with scales, plain and with :dq, description).
#include <fmt/format.h>

#include <boost/program_options.hpp>
#include <iostream>

#include "common/error.hpp"
#include "experiments/cli/commands.hpp"
#include "quant/registry.hpp"

namespace po = boost::program_options;

namespace loft::cli {

int cmd_quantizers(int argc, char** argv) {
  int block = 64;
  po::options_description desc(
      "usage: loftlab quantizers [options]\n\n"
      "Lists every quantizer of the registry. A spec is <name>[:meanstd][:b<N>][:dq], e.g.\n"
      "nf4, nf2:b128, int4:asym:dq, uniform2:meanstd. Bits/weight count the codes, the float32\n"
      "scale of each block (and the zero point of :asym); with :dq the scales cost 8 bits plus\n"
      "a float32 per 256 blocks.\n\noptions");
  desc.add_options()("help,h", "print this help")(
      "block,b", po::value<int>(&block)->default_value(64),
      "block size for the bits/weight columns (a multiple of 8 in [8, 1048576])")(
      "names", "print only the names, one per line");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    fail("{} (see loftlab quantizers --help)", e.what());
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  const auto& rows = quant::registry();
  if (vm.count("names")) {
    for (const auto& row : rows) fmt::print("{}\n", row.name);
    return 0;
  }
  quant::validate(quant::Spec{.name = "nf4", .bits = 4, .block = block});  // before any output
  std::size_t width = 4;
  for (const auto& row : rows) width = std::max(width, row.name.size());
  fmt::print("{:<{}}  {:>4}  {:>11}  {:>11}  {}\n", "name", width, "bits",
             fmt::format("bits/w b{}", block), "with :dq", "description");
  for (const auto& row : rows) {
    quant::Spec s;
    s.name = row.name;
    s.bits = row.bits;
    s.block = block;
    const double plain = quant::bits_per_weight(s);
    s.double_quant = true;
    fmt::print("{:<{}}  {:>4}  {:>11.4f}  {:>11.4f}  {}\n", row.name, width, row.bits, plain,
               quant::bits_per_weight(s), row.description);
  }
  return 0;
}

}  // namespace loft::cli
