#pragma once
// loftlab reports every bad input as a loft::Error whose message names the file, key, tensor or
// value at fault and what would be valid; the command line prints it and exits non-zero.
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace loft {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace loft
