#pragma once
// Shared helpers for the Catch2 tests.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

namespace loft::test {

// ../shared/data (or $LOFTLAB_DATA); empty when absent, so data tests can skip.
inline std::optional<std::filesystem::path> data_dir() {
  const char* env = std::getenv("LOFTLAB_DATA");
  std::filesystem::path p = env ? env : LOFTLAB_DATA_DIR;
  if (std::filesystem::exists(p / "stories260K.bin")) return p;
  return std::nullopt;
}

}  // namespace loft::test

// Catch2 v2 has no SKIP: warn with a clear message and leave the test case.
#define LOFT_REQUIRE_DATA(var)                                                              \
  auto var##_opt = ::loft::test::data_dir();                                                \
  if (!var##_opt) {                                                                         \
    WARN("skipped: ../shared/data not found (set LOFTLAB_DATA to the folder with "          \
         "stories260K.bin)");                                                               \
    return;                                                                                 \
  }                                                                                         \
  const std::filesystem::path var = *var##_opt
