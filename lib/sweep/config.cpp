// Reading sweep configs: Boost.Program_options parses the INI; a light scan of the same text finds
// the line of each key, since Program_options does not report lines.
#include "sweep/config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <map>
#include <sstream>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/text.hpp"

namespace po = boost::program_options;

namespace loft::sweep {
namespace {

constexpr std::string_view kGrid = "grid";
constexpr size_t kMaxConfigBytes = size_t(1) << 24;  // 16 MB of INI is no hand-written config

// "section.key" (or "key" at top level) -> the lines it appears on, in order.
std::map<std::string, std::vector<int>> key_lines(std::string_view text) {
  std::map<std::string, std::vector<int>> lines;
  std::istringstream in{std::string(text)};
  std::string line, section;
  for (int n = 1; std::getline(in, line); ++n) {
    auto t = trimmed(line.substr(0, line.find('#')));
    if (t.empty()) continue;
    if (t.front() == '[' && t.back() == ']') {
      section = trimmed(std::string_view(t).substr(1, t.size() - 2));
      continue;
    }
    const auto eq = t.find('=');
    if (eq == std::string::npos) continue;
    const auto key = trimmed(std::string_view(t).substr(0, eq));
    lines[section.empty() ? key : section + "." + key].push_back(n);
  }
  return lines;
}

// The line Boost refuses as syntax: the first one that is neither blank, a comment, a
// [section] nor has an '='.
std::string bad_line(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    const std::string t = trimmed(std::string_view(line).substr(0, line.find('#')));
    if (t.empty() || (t.front() == '[' && t.back() == ']') || t.find('=') != std::string::npos)
      continue;
    return fmt::format("line {} is not 'key = value': '{}'", n, t);
  }
  return "invalid syntax";
}

bool valid_name(std::string_view s) {
  if (s.empty() || s.front() == '.') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

void erase_key(std::vector<Setting>& v, std::string_view key) {
  std::erase_if(v, [&](const Setting& s) { return s.key == key; });
}

void set_special(Config& c, const Setting& s) {
  if (s.value.empty()) fail("{}: '{}' is empty (give a value)", s.origin, s.key);
  if (s.key == "name") {
    if (!valid_name(s.value))
      fail(
          "{}: name '{}' is not a folder name (letters, digits, '_', '-', '.'; not starting "
          "with '.')",
          s.origin, s.value);
    c.name = s.value;
  } else {
    c.experiment = s.value;
  }
}

bool is_special(std::string_view key) {
  return key == "name" || key == "experiment";
}

// Experiment keys are identifiers. Anything else (a '[' or '=' in it, a space inside) could not
// be written back by to_ini as the same key: "[.d=1;]<VT>" is a key "[.d" to Boost, but
// "[.d = 1;]" reads back as a section header.
bool valid_key(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

// Puts one setting where it belongs; `replace` (command line) removes the key elsewhere first.
void place(Config& c, Setting s, bool in_grid, bool replace) {
  if (!valid_key(s.key))
    fail(
        "{}: '{}' is not a key name (letters, digits, '_' and '-'; `loftlab sweep --help` lists "
        "each experiment's keys)",
        s.origin, s.key);
  if (is_special(s.key)) {
    if (in_grid) fail("{}: '{}' cannot be a grid axis (put it at the top level)", s.origin, s.key);
    set_special(c, s);
    return;
  }
  if (replace) {
    erase_key(c.fixed, s.key);
    erase_key(c.grid, s.key);
  } else if (const auto* prev = c.find(s.key)) {
    fail("{}: key '{}' is already set at {} (give each key once, at the top level or in [grid])",
         s.origin, s.key, prev->origin);
  }
  if (!in_grid && s.value.empty())
    fail("{}: '{}' is empty (give a value, or leave the key out for its default)", s.origin, s.key);
  (in_grid ? c.grid : c.fixed).push_back(std::move(s));
}

void apply_override(Config& c, const std::string& text) {
  const auto eq = text.find('=');
  const std::string origin = fmt::format("--set {}", text);
  if (eq == std::string::npos || eq == 0)
    fail("{}: expected SECTION.KEY=VALUE or KEY=VALUE, e.g. --set grid.rank=4,8 or --set name=x",
         origin);
  // What a config file cannot hold (a line break, a '#' starting a comment) would make the
  // config as it ran (to_ini) a different config when read back.
  if (text.find_first_of("\r\n#") != std::string::npos)
    fail("{}: a --set value may not contain a line break or '#' (a config file cannot hold them)",
         origin);
  auto key = trimmed(std::string_view(text).substr(0, eq));
  const auto value = trimmed(std::string_view(text).substr(eq + 1));
  bool in_grid = false;
  if (const auto dot = key.find('.'); dot != std::string::npos) {
    const auto section = key.substr(0, dot);
    if (section != kGrid)
      fail(
          "{}: unknown section '{}' (valid: 'grid.KEY' for a grid axis, or KEY for the top "
          "level)",
          origin, section);
    in_grid = true;
    key = trimmed(key.substr(dot + 1));  // "grid. rank" is grid.rank, as in a file
  }
  place(c, Setting{key, value, origin}, in_grid, true);
}

}  // namespace

const Setting* Config::find(std::string_view key) const {
  for (const auto* v : {&fixed, &grid})
    for (const auto& s : *v)
      if (s.key == key) return &s;
  return nullptr;
}

Config parse_config(std::string_view text, const std::string& origin,
                    const std::vector<std::string>& overrides) {
  po::parsed_options parsed(nullptr);
  try {
    std::istringstream in{std::string(text)};
    po::options_description none;
    parsed = po::parse_config_file(in, none, /*allow_unregistered=*/true);
  } catch (const po::invalid_syntax&) {
    // Not e.what(): Boost substitutes %placeholders% in its message until none is left, so a
    // line holding one ("%invalid_line%") would loop forever.
    fail("{}: {} (expected 'key = value' lines, '[grid]', '# comments')", origin, bad_line(text));
  } catch (const po::error& e) {
    fail("{}: {} (expected 'key = value' lines, '[grid]', '# comments')", origin, e.what());
  }
  auto lines = key_lines(text);
  std::map<std::string, size_t> seen;
  Config c;
  c.path = origin;
  for (const auto& o : parsed.options) {
    const auto& full = o.string_key;
    const auto& at = lines[full];
    const size_t k = seen[full]++;
    const auto where = k < at.size() ? fmt::format("{}:{}", origin, at[k]) : origin;
    std::string key = full;
    bool in_grid = false;
    if (const auto dot = full.find('.'); dot != std::string::npos) {
      const auto section = full.substr(0, dot);
      if (section != kGrid)
        fail("{}: unknown section [{}] (valid: top-level keys, then [grid])", where, section);
      in_grid = true;
      key = trimmed(full.substr(dot + 1));  // "grid.   rank" is grid.rank, as with --set
    }
    if (k > 0) {
      const auto first = at.empty() ? origin : fmt::format("{}:{}", origin, at[0]);
      fail("{}: key '{}' given twice (first at {})", where, full, first);
    }
    place(c, Setting{key, o.value.empty() ? std::string() : trimmed(o.value.front()), where},
          in_grid, false);
  }
  for (const auto& o : overrides) apply_override(c, o);
  if (c.experiment.empty())
    fail("{}: no 'experiment = ...' (the experiment to run, e.g. experiment = residual)", origin);
  if (c.name.empty())
    fail("{}: no 'name = ...' (the sweep's name: results go to results/<name>/)", origin);
  return c;
}

Config read_config(const std::filesystem::path& path, const std::vector<std::string>& overrides) {
  std::stringstream text;
  text << read_regular_file(path, "sweep config", kMaxConfigBytes);
  auto with_name = overrides;
  // A config without a name runs as its file's stem: sweeps/quick.ini -> results/quick/.
  if (key_lines(text.str()).count("name") == 0)
    with_name.insert(with_name.begin(), "name=" + path.stem().string());
  return parse_config(text.str(), path.string(), with_name);
}

void check_keys(const Config& config, const std::vector<std::string>& valid) {
  for (const auto* v : {&config.fixed, &config.grid})
    for (const auto& s : *v) {
      if (std::find(valid.begin(), valid.end(), s.key) != valid.end()) continue;
      auto all = valid;
      all.insert(all.begin(), {"name", "experiment"});
      const std::string list = join(all, ", ");
      fail("{}: unknown key '{}' for experiment '{}' (did you mean '{}'? valid: {})", s.origin,
           s.key, config.experiment, nearest(s.key, all), list);
    }
}

std::vector<std::string> split_values(const Setting& s) {
  std::vector<std::string> out;
  if (trimmed(s.value).empty())
    fail("{}: grid axis '{}' has no values (give one or more, comma-separated)", s.origin, s.key);
  std::string_view rest = s.value;
  while (true) {
    const auto comma = rest.find(',');
    auto item = trimmed(rest.substr(0, comma));
    if (item.empty())
      fail("{}: grid axis '{}' has an empty value in '{}' (values are comma-separated)", s.origin,
           s.key, s.value);
    out.push_back(std::move(item));
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return out;
}

std::string to_ini(const Config& c) {
  std::string out = fmt::format("name = {}\nexperiment = {}\n", c.name, c.experiment);
  for (const auto& s : c.fixed) out += fmt::format("{} = {}\n", s.key, s.value);
  if (!c.grid.empty()) out += "\n[grid]\n";
  for (const auto& s : c.grid) out += fmt::format("{} = {}\n", s.key, s.value);
  return out;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string nearest(std::string_view key, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const auto& c : candidates)
    if (const auto d = edit_distance(key, c); d < best_d) best_d = d, best = c;
  return best;
}

}  // namespace loft::sweep
