// loftlab tensors SOURCE [--layers GLOBS] [--all]: what a source holds and what a `layers`
// selection picks from it, so a config's globs can be checked before a sweep runs.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <boost/program_options.hpp>
#include <iostream>

#include "common/error.hpp"
#include "experiments/cli/commands.hpp"
#include "experiments/cli/options.hpp"
#include "io/dtype.hpp"
#include "io/select.hpp"
#include "io/source.hpp"

namespace po = boost::program_options;

namespace loft::cli {

namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  return fmt::format("{}", fmt::join(shape, "x"));
}

}  // namespace

int cmd_tensors(int argc, char** argv) {
  std::string source, layers;
  po::options_description desc(
      "usage: loftlab tensors SOURCE [options]\n\n"
      "Lists the tensors of a source (name, shape, dtype) that a sweep's `layers` globs select\n"
      "(by default every linear weight), or all of them with --all.\n\nsources:\n" +
      io::source_help() + "\noptions");
  desc.add_options()("help,h", "print this help")(
      "layers,l", po::value<std::string>(&layers)->default_value("*"),
      "comma-separated globs, as the `layers` key of a sweep config")(
      "all,a", "list every tensor, selected or not (marks the selected ones with *)");
  const auto vm = parse_command_line(argc, argv, desc, "tensors", Positional{"SOURCE", &source});
  if (!vm) return 0;
  const auto src = io::open_source(source);
  const auto everything = src->list();
  const auto chosen = io::select_tensors(everything, layers);
  const bool show_all = vm->count("all") > 0;
  const auto& rows = show_all ? everything : chosen;
  std::size_t width = 4;
  for (const auto& t : rows) width = std::max(width, t.name.size());
  int64_t params = 0;
  for (const auto& t : rows) {
    bool selected = !show_all;
    for (const auto& c : chosen) selected = selected || c.name == t.name;
    if (selected) params += static_cast<int64_t>(io::element_count(t.shape).n);
    fmt::print("{}{:<{}}  {:>11}  {}\n", show_all ? (selected ? "* " : "  ") : "", t.name, width,
               shape_text(t.shape), t.dtype);
  }
  fmt::print(stderr, "{} of {} tensors selected by '{}' ({} parameters)\n", chosen.size(),
             everything.size(), layers, params);
  return 0;
}

}  // namespace loft::cli
