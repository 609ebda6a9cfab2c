#pragma once
// Tests of the corpora and tasks read Debian package files; without them they skip, saying so.
#include <filesystem>

#include "support.hpp"

#define REQUIRE_PACKAGE_FILE(path)                                   \
  if (!std::filesystem::exists(path)) {                              \
    WARN("skipped: " << path << " not installed (run `make deps`)"); \
    return;                                                          \
  }
