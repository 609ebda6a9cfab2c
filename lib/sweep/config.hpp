#pragma once
// A sweep config: an INI file read with Boost.Program_options. Top-level keys name the sweep, the
// experiment and its fixed settings; [grid] keys are crossed (comma-separated values). Command-line
// overrides (`--set grid.rank=4,8`, `--set name=x`) replace keys wherever they were. Every setting
// remembers where it came from ("sweeps/x.ini:7", "--set rank=4") so errors can point at it.
//
// Relative paths inside values (source = hf:../shared/data/...) are NOT rewritten here: they are
// opened relative to the current directory, like results/<name>/, and the text as written goes
// into the point's parameters, so a point's id does not depend on where the checkout lives.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace loft::sweep {

struct Setting {
  std::string key;
  std::string value;   // raw text; for grid keys the comma-separated list
  std::string origin;  // "FILE:LINE" or "--set KEY=VALUE"
};

struct Config {
  std::string path;            // the config file as given ("" when parsed from text)
  std::string name;            // results/<name>/
  std::string experiment;      // registry name
  std::vector<Setting> fixed;  // top-level settings but name and experiment, in file order
  std::vector<Setting> grid;   // [grid] axes, in file order

  const Setting* find(std::string_view key) const;  // fixed or grid; nullptr when absent
};

// Parses INI text (`origin` names it in errors) and applies the overrides, each
// "[grid.]key=value". Errors name the file, line and key: duplicate keys, sections other than
// [grid], a key both at top level and in [grid], empty values, missing name/experiment.
Config parse_config(std::string_view text, const std::string& origin,
                    const std::vector<std::string>& overrides = {});
Config read_config(const std::filesystem::path& path,
                   const std::vector<std::string>& overrides = {});

// Every key must be one of `valid` (the experiment's Key table); an unknown key is an error naming
// the key, where it came from and the nearest valid key.
void check_keys(const Config& config, const std::vector<std::string>& valid);

// The comma-separated values of a grid setting, trimmed; an empty list or an empty item is an
// error naming the key and its origin.
std::vector<std::string> split_values(const Setting& setting);

// The config as it ran (overrides applied), as INI text that parse_config reads back.
std::string to_ini(const Config& config);

// Levenshtein distance, and the candidate nearest to `key` (for "did you mean").
size_t edit_distance(std::string_view a, std::string_view b);
std::string nearest(std::string_view key, const std::vector<std::string>& candidates);

}  // namespace loft::sweep
