#pragma once
// What every libFuzzer harness of tests/fuzz shares. A parser of outside input may answer any
// input with a loft::Error (the clear error a user sees); anything else escaping it (another
// exception type, a crash, a sanitizer report, a hang past -timeout) is a finding.
//
// Parsers that read files get their input written under a private scratch folder, which is
// also the current directory, so relative paths inside fuzzed input stay there.
#include <fuzzer/FuzzedDataProvider.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "io/source.hpp"

namespace loft::fuzz {

// The scratch folder (created on first use, emptied between inputs by fresh()).
inline const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "loftlab-fuzz-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) std::abort();
    std::filesystem::current_path(tmpl);
    std::atexit([] { std::filesystem::remove_all(scratch()); });
    return std::filesystem::path(tmpl);
  }();
  return dir;
}

// Empties the scratch folder: each input starts from nothing.
inline void fresh() {
  for (const auto& e : std::filesystem::directory_iterator(scratch()))
    std::filesystem::remove_all(e.path());
}

// Writes bytes to scratch()/name (folders created) and returns the path.
inline std::filesystem::path put(const std::string& name, std::string_view bytes) {
  const auto path = scratch() / name;
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Runs f; a loft::Error is the expected answer to bad input, any other exception aborts (so
// libFuzzer records the input) after printing what escaped.
template <typename F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const loft::Error&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "non-loft::Error exception escaped the parser: %s\n", e.what());
    std::abort();
  }
}

// A property of accepted input that must hold (a round trip, say); aborts with the message.
inline void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "property violated: %s\n", what);
    std::abort();
  }
}

// Values of a shape, or SIZE_MAX past `limit` (the product may overflow).
inline size_t elements(const std::vector<int64_t>& shape, size_t limit) {
  size_t n = 1;
  for (const int64_t d : shape) {
    if (d < 0 || (d > 0 && n > limit / static_cast<size_t>(d))) return SIZE_MAX;
    n *= static_cast<size_t>(d);
  }
  return n;
}

// Lists a source and loads every tensor small enough to be cheap (sizes are bounded by the
// parsers against the file, so larger ones only cost time), and its config.
inline void exercise(const loft::io::TensorSource& source) {
  (void)source.config();
  (void)source.describe();
  for (const auto& t : source.list())
    if (elements(t.shape, 1 << 16) <= (1 << 16)) (void)source.load(t.name);
}

}  // namespace loft::fuzz
