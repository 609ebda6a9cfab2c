// loftlab quantizers [--block N] [--names]: list the quantizer registry (name, code bits, true
// storage cost in bits per weight, plain and with :dq, the block sizes, options and side
// streams of each row, description). Everything printed comes from the registry rows.
#include <fmt/format.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <iostream>
#include <optional>

#include "common/error.hpp"
#include "common/text.hpp"
#include "experiments/cli/commands.hpp"
#include "experiments/cli/options.hpp"
#include "quant/registry.hpp"

namespace po = boost::program_options;

namespace loft::cli {

namespace {

// "f32 scale + u8 zero point"
std::string stored_per_block(const quant::Quantizer& row, const quant::Spec& spec) {
  std::vector<std::string_view> parts;
  for (quant::Stream s : quant::stored_streams(row, spec))
    parts.push_back(quant::stream_info(s).what);
  return join(parts, " + ");
}

std::string options_of(const quant::Quantizer& row) {
  if (row.options.empty()) return "-";
  return join(row.options, ",", [](const quant::SpecOption* o) { return o->key; });
}

std::string blocks_taken(const quant::Quantizer& row) {
  const quant::BlockSizes& b = row.blocks;
  if (b.fixed()) return fmt::format("{} only", b.min);
  return fmt::format("{}k, {}..{}", b.multiple, b.min, b.max);
}

// One valid spec per option, from the first row that takes it, and one with a block size.
std::vector<std::string> examples() {
  const auto& rows = quant::registry();
  std::vector<std::string> out = {rows.front().name};
  const quant::BlockSizes& b = rows.front().blocks;
  if (b.allows(2 * b.default_block))
    out.push_back(fmt::format("{}:b{}", rows.front().name, 2 * b.default_block));
  for (const auto& suffix_row : rows)
    if (suffix_row.name.find(':') != std::string::npos) {
      out.push_back(suffix_row.name);
      break;
    }
  for (const quant::SpecOption* o : quant::spec_options())
    for (const auto& row : rows)
      if (row.takes(*o)) {
        out.push_back(fmt::format("{}:{}", row.name, o->key));
        break;
      }
  return out;
}

std::string help_text() {
  std::string text = fmt::format(
      "usage: loftlab quantizers [options]\n\n"
      "Lists every quantizer of the registry. A spec is {}, options in any order:\n",
      quant::spec_syntax());
  for (const std::string& line : quant::spec_option_lines()) text += fmt::format("  {}\n", line);
  text += fmt::format(
      "e.g. {}.\n"
      "Bits/weight count the codes and everything a block stores besides them (the column\n"
      "'stored per block'); with :dq the float32 scales cost an 8-bit code per block plus a\n"
      "float32 per 256 blocks. '-': the row does not take that block size or option.\n\noptions",
      join(examples(), ", "));
  return text;
}

}  // namespace

int cmd_quantizers(int argc, char** argv) {
  std::optional<int> block;
  const std::string help = help_text();
  po::options_description desc(help);
  desc.add_options()("help,h", "print this help")(
      "block,b", po::value<int>(),
      "block size for the bits/weight columns (default: each row's own default block)")(
      "names", "print only the names, one per line");
  const auto parsed = parse_command_line(argc, argv, desc, "quantizers");
  if (!parsed) return 0;
  const po::variables_map& vm = *parsed;
  const auto& rows = quant::registry();
  if (vm.count("names")) {
    for (const auto& row : rows) fmt::print("{}\n", row.name);
    return 0;
  }
  if (vm.count("block")) {
    block = vm["block"].as<int>();
    // Before any output: a size no row takes is an error that says which sizes rows take.
    bool any = false;
    for (const auto& row : rows) any |= row.blocks.allows(*block);
    if (!any)
      fail("--block {}: no quantizer takes blocks of {} values (valid: {})", *block, *block,
           quant::block_sizes_summary());
  }
  std::size_t width = 4;
  for (const auto& row : rows) width = std::max(width, row.name.size());
  const std::string bits_header = block ? fmt::format("bits/w b{}", *block) : "bits/w";
  fmt::print("{:<{}}  {:>4}  {:>11}  {:>11}  {:>5}  {:<15}  {:<10}  {:<7}  {:<25}  {}\n", "name",
             width, "bits", bits_header, "with :dq", "block", "blocks taken", "options", "scale",
             "stored per block", "description");
  for (const auto& row : rows) {
    quant::Spec s;
    s.name = row.name;
    s.bits = row.bits;
    s.block = block.value_or(row.blocks.default_block);
    const bool takes_block = row.blocks.allows(s.block);
    const std::string plain =
        takes_block ? fmt::format("{:.4f}", quant::bits_per_weight(s)) : std::string("-");
    const std::string stored = stored_per_block(row, s);
    s.double_quant = true;
    const bool dq = takes_block && row.takes(quant::double_quant_option());
    const std::string with_dq =
        dq ? fmt::format("{:.4f}", quant::bits_per_weight(s)) : std::string("-");
    fmt::print("{:<{}}  {:>4}  {:>11}  {:>11}  {:>5}  {:<15}  {:<10}  {:<7}  {:<25}  {}\n",
               row.name, width, row.bits, plain, with_dq, row.blocks.default_block,
               blocks_taken(row), options_of(row), row.scale->name, stored, row.description);
  }
  return 0;
}

}  // namespace loft::cli
