#include "experiments/cli/options.hpp"

#include <iostream>

#include "common/error.hpp"

namespace po = boost::program_options;

namespace loft::cli {

std::optional<po::variables_map> parse_command_line(int argc, char** argv,
                                                    const po::options_description& desc,
                                                    std::string_view command,
                                                    std::optional<Positional> positional) {
  po::options_description all;
  all.add(desc);
  po::positional_options_description pos;
  if (positional) {
    all.add_options()(positional->name, po::value<std::string>(positional->value));
    pos.add(positional->name, 1);
  }
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return std::nullopt;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    fail("{} (see loftlab {} --help)", e.what(), command);
  }
  if (positional && positional->value->empty())
    fail("no {} given (see loftlab {} --help)", positional->name, command);
  return vm;
}

}  // namespace loft::cli
