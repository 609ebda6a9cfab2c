#include "sweep/point.hpp"

#include <fmt/format.h>

#include <type_traits>

#include "common/error.hpp"

namespace loft::sweep {

std::string canonical(const Value& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          return fmt::format("{}", x);
        } else if constexpr (std::is_same_v<T, double>) {
          // fmt's shortest round-trip form is the same on every platform (Dragonbox); "{}"
          // prints 4.0 as "4", so mark integral reals to keep them apart from integers.
          auto s = fmt::format("{}", x);
          if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
          return s;
        } else {
          std::string out;
          for (char c : x) {
            if (c == '\\' || c == ';' || c == '=') out += '\\';
            out += c;
          }
          return out;
        }
      },
      v);
}

std::string canonical(const Params& params) {
  std::string out;
  for (const auto& [k, v] : params) out += fmt::format("{}={};", k, canonical(v));
  return out;
}

uint64_t fnv1a64(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

uint64_t point_hash(const Params& params) {
  return fnv1a64(canonical(params)) >> 16;
}

std::string point_id(const Params& params) {
  return fmt::format("{:012x}", point_hash(params));
}

void check_point_id(const std::string& id, const Params& params) {
  const std::string want = point_id(params);
  if (id != want)
    fail("point '{}' has the parameters of point '{}' ({}); the file was renamed or edited", id,
         want, describe(params));
}

std::string describe(const Params& params) {
  std::string out;
  for (const auto& [k, v] : params)
    out += fmt::format("{}{}={}", out.empty() ? "" : " ", k,
                       std::visit([](const auto& x) { return fmt::format("{}", x); }, v));
  return out;
}

}  // namespace loft::sweep
