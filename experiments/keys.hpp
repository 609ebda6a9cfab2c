#pragma once
// The keys an experiment accepts, typed: each experiment has one table (Experiment::keys) that
// says of every key its default, its help and the kind of value it takes (text, an integer in a
// range, a finite number above or from zero). normalise() reads the values through the table
// (KeyValues), so a key's range is written once, and `loftlab sweep --help` shows it.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace loft::exp {

struct Key {
  enum class Kind { text, integer, number };
  std::string name;
  std::string default_value;  // empty = required
  std::string help;
  Kind kind = Kind::text;
  int64_t min = 0, max = 0;  // integer: the valid range
  bool zero_ok = false;      // number: 0 is valid (else it must be > 0)
};

// The shared key kinds.
Key integer_key(std::string name, std::string default_value, int64_t min, int64_t max,
                std::string help);
Key number_key(std::string name, std::string default_value, bool zero_ok, std::string help);

// "integer in 0..100", "number > 0", "number >= 0"; "" for text.
std::string describe_kind(const Key& key);

// A point's raw config values (every key of the table present: the sweep fills in defaults),
// read as the table types them. Errors name the key and show the value as written.
class KeyValues {
 public:
  KeyValues(const std::vector<Key>& table, const std::map<std::string, std::string>& raw)
      : table_(table), raw_(raw) {}
  const std::string& text(std::string_view name) const;
  int64_t integer(std::string_view name) const;
  double number(std::string_view name) const;

 private:
  const Key& key(std::string_view name, Key::Kind kind) const;
  const std::vector<Key>& table_;
  const std::map<std::string, std::string>& raw_;
};

// Runs `check` once per (`what`, `key`) for the life of the process and remembers how it ended, so
// every grid point that names the same source (or model) opens it once, and a missing file fails
// the dry run rather than each point. Throws loft::Error("<what>: <check's message>") every time
// the check failed.
void check_once(const std::string& key, const std::string& what,
                const std::function<void()>& check);

}  // namespace loft::exp
