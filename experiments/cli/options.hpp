#pragma once
// How every loftlab command reads its command line (Boost.Program_options). `desc` is what
// --help prints; a command may also take one argument without an option name (SOURCE, CONFIG,
// DIR), parsed but not listed in `desc`. Boost's errors become loft::Error pointing at the
// command's --help, and --help is answered before option values are checked against each other.
#include <boost/program_options.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace loft::cli {

// The one positional argument: its name as --help and errors show it ("SOURCE") and where it
// goes. It is required: "no SOURCE given" otherwise.
struct Positional {
  const char* name;
  std::string* value;
};

// The parsed options, or nullopt when --help was asked (desc is printed then, and the command
// returns 0 after printing anything it adds).
std::optional<boost::program_options::variables_map> parse_command_line(
    int argc, char** argv, const boost::program_options::options_description& desc,
    std::string_view command, std::optional<Positional> positional = std::nullopt);

}  // namespace loft::cli
