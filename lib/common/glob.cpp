#include "common/glob.hpp"

#include <cctype>
#include <charconv>
#include <cstdint>
#include <unordered_set>

namespace loft {

namespace {

// '[...]' at glob[0]: does c match? Sets end to one past ']' (npos if unterminated).
bool match_set(std::string_view glob, char c, size_t& end) {
  size_t i = 1;
  const bool negate = i < glob.size() && glob[i] == '!';
  if (negate) ++i;
  bool hit = false;
  for (bool first = true; i < glob.size() && (first || glob[i] != ']'); first = false) {
    if (i + 2 < glob.size() && glob[i + 1] == '-' && glob[i + 2] != ']') {
      hit |= glob[i] <= c && c <= glob[i + 2];
      i += 3;
    } else {
      hit |= glob[i] == c;
      ++i;
    }
  }
  end = i < glob.size() ? i + 1 : std::string_view::npos;
  return hit != negate;
}

// '{a..b}' at glob[0]: parses the bounds; end one past '}' (npos if malformed).
bool parse_range(std::string_view glob, long& lo, long& hi, size_t& end) {
  const size_t close = glob.find('}');
  const size_t dots = glob.find("..");
  end = std::string_view::npos;
  if (close == std::string_view::npos || dots == std::string_view::npos || dots > close)
    return false;
  auto num = [](std::string_view s, long& v) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return !s.empty() && ec == std::errc() && p == s.data() + s.size();
  };
  if (!num(glob.substr(1, dots - 1), lo) || !num(glob.substr(dots + 2, close - dots - 2), hi))
    return false;
  end = close + 1;
  return true;
}

// States (glob offset, name offset) already known not to match. Without them '*' and '{a..b}'
// backtrack exponentially ("*a*a*a...b" against "aaaa..."); with them each state is tried once.
struct Memo {
  const char* g0;
  const char* s0;
  std::unordered_set<uint64_t> failed;
  uint64_t key(std::string_view g, std::string_view s) const {
    return (static_cast<uint64_t>(g.data() - g0) << 32) | static_cast<uint64_t>(s.data() - s0);
  }
};

bool match(std::string_view g, std::string_view s, Memo& memo);

bool match_once(std::string_view g, std::string_view s, Memo& memo) {
  while (!g.empty()) {
    const char c = g.front();
    if (c == '*') {
      g.remove_prefix(1);
      for (size_t k = 0; k <= s.size(); ++k)
        if (match(g, s.substr(k), memo)) return true;
      return false;
    }
    if (s.empty()) return false;
    if (c == '?') {
      g.remove_prefix(1);
      s.remove_prefix(1);
    } else if (c == '[') {
      size_t end = 0;
      const bool hit = match_set(g, s.front(), end);
      if (end == std::string_view::npos) return g == s;  // unterminated: literal
      if (!hit) return false;
      g.remove_prefix(end);
      s.remove_prefix(1);
    } else if (c == '{') {
      long lo = 0, hi = 0;
      size_t end = 0;
      if (!parse_range(g, lo, hi, end)) return g == s;
      size_t digits = 0;
      while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits]))) ++digits;
      // Every prefix of the digit run is a candidate, so "{1..2}0" can match "10".
      bool any = false;
      for (size_t k = 1; k <= digits && !any; ++k) {
        long v = 0;
        std::from_chars(s.data(), s.data() + k, v);
        const bool canonical = k == 1 || s[0] != '0';
        any = canonical && lo <= v && v <= hi && match(g.substr(end), s.substr(k), memo);
      }
      return any;
    } else {
      if (c != s.front()) return false;
      g.remove_prefix(1);
      s.remove_prefix(1);
    }
  }
  return s.empty();
}

bool match(std::string_view g, std::string_view s, Memo& memo) {
  const uint64_t key = memo.key(g, s);
  if (memo.failed.count(key)) return false;
  if (match_once(g, s, memo)) return true;
  memo.failed.insert(key);
  return false;
}

}  // namespace

bool glob_match(std::string_view glob, std::string_view name) {
  Memo memo{glob.data(), name.data(), {}};
  return match(glob, name, memo);
}

bool has_wildcard(std::string_view glob) {
  for (size_t i = 0; i < glob.size(); ++i) {
    const std::string_view rest = glob.substr(i);
    size_t end = 0;
    long lo = 0, hi = 0;
    if (glob[i] == '*' || glob[i] == '?') return true;
    if (glob[i] == '[' && (match_set(rest, '\0', end), end != std::string_view::npos)) return true;
    if (glob[i] == '{' && parse_range(rest, lo, hi, end)) return true;
  }
  return false;
}

}  // namespace loft
