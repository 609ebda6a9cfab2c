// Typed experiment keys and the memoised check (keys.hpp).
#include "experiments/keys.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <mutex>

#include "common/error.hpp"

namespace loft::exp {

Key integer_key(std::string name, std::string default_value, int64_t min, int64_t max,
                std::string help) {
  return {std::move(name), std::move(default_value), std::move(help), Key::Kind::integer, min, max};
}

Key number_key(std::string name, std::string default_value, bool zero_ok, std::string help) {
  Key k{std::move(name), std::move(default_value), std::move(help), Key::Kind::number};
  k.zero_ok = zero_ok;
  return k;
}

std::string describe_kind(const Key& key) {
  switch (key.kind) {
    case Key::Kind::integer:
      return fmt::format("integer in {}..{}", key.min, key.max);
    case Key::Kind::number:
      return key.zero_ok ? "number >= 0" : "number > 0";
    case Key::Kind::text:
      break;
  }
  return "";
}

const Key& KeyValues::key(std::string_view name, Key::Kind kind) const {
  for (const auto& k : table_)
    if (k.name == name) {
      // A key read as another kind than its table row says is a bug of the experiment.
      if (k.kind != kind)
        throw std::logic_error(fmt::format("key '{}' read as another kind", name));
      return k;
    }
  throw std::logic_error(fmt::format("key '{}' is not in the experiment's table", name));
}

const std::string& KeyValues::text(std::string_view name) const {
  return raw_.at(key(name, Key::Kind::text).name);
}

// from_chars: no locale, no leading space or '+', no silent wrap-around; the whole text must be
// the number.
int64_t KeyValues::integer(std::string_view name) const {
  const Key& k = key(name, Key::Kind::integer);
  const std::string& s = raw_.at(k.name);
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < k.min || v > k.max)
    fail("{}: '{}' is not an integer in {}..{}", k.name, s, k.min, k.max);
  return v;
}

double KeyValues::number(std::string_view name) const {
  const Key& k = key(name, Key::Kind::number);
  const std::string& s = raw_.at(k.name);
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v) || v < 0 ||
      (v == 0 && !k.zero_ok))
    fail("{}: '{}' is not a {} number", k.name, s, k.zero_ok ? "non-negative" : "positive");
  return v;
}

void check_once(const std::string& key, const std::string& what,
                const std::function<void()>& check) {
  static std::mutex mu;
  static std::map<std::string, std::string> seen;  // key -> error ("" = passed)
  std::lock_guard lock(mu);
  auto [it, fresh] = seen.try_emplace(what + '\n' + key);
  if (fresh) try {
      check();
    } catch (const Error& e) {
      it->second = e.what();
    }
  if (!it->second.empty()) fail("{}: {}", what, it->second);
}

}  // namespace loft::exp
