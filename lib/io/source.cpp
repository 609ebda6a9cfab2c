#include "io/source.hpp"

#include <array>
#include <filesystem>

#include "common/error.hpp"
#include "io/hf.hpp"
#include "io/llama2c.hpp"
#include "io/npy_source.hpp"
#include "io/results/models.hpp"
#include "io/synthetic.hpp"

namespace loft::io {
namespace {

struct SourceKind {
  const char* prefix;
  const char* argument;
  const char* description;
  std::unique_ptr<TensorSource> (*open)(std::string_view rest);
  bool model = false;  // holds a Llama: a config and every weight of the forward pass
};

constexpr std::array<SourceKind, 5> kKinds{{
    {"llama2c", "PATH", "a llama2.c version-0 checkpoint (.bin), tensors under Hugging Face names",
     [](std::string_view p) { return open_llama2c(std::string(p)); }, true},
    {"hf", "DIR",
     "a Hugging Face folder: config.json + model.safetensors or sharded with an index; F32, F16, "
     "BF16",
     [](std::string_view p) { return open_hf(std::string(p)); }, true},
    {"pretrained", "NAME",
     "a model loftlab pretrained: $LOFTLAB_MODELS or results/models, NAME/model.bin (llama2.c)",
     [](std::string_view n) { return open_pretrained(results::models_dir(), std::string(n)); },
     true},
    {"npy", "PATH", "one .npy file (tensor named by its stem) or a folder of them",
     [](std::string_view p) { return open_npy_source(std::string(p)); }},
    {"synthetic", "KIND[:opt=v...]",
     "seeded random matrices: gaussian, student-t, lowrank (options: lib/io/synthetic.hpp)",
     [](std::string_view p) { return open_synthetic(p); }},
}};

std::string kinds_help() {
  std::string s;
  for (const auto& k : kKinds)
    s += fmt::format("\n  {}:{}  {}", k.prefix, k.argument, k.description);
  return s;
}

}  // namespace

std::string source_help() {
  return kinds_help();
}

std::string source_forms(bool models_only) {
  std::string s;
  for (const auto& k : kKinds)
    if (k.model || !models_only)
      s += fmt::format("{}{}:{}", s.empty() ? "" : ", ", k.prefix, k.argument);
  return s;
}

std::unique_ptr<TensorSource> open_source(std::string_view spec) {
  const auto colon = spec.find(':');
  if (colon != std::string_view::npos) {
    const std::string_view prefix = spec.substr(0, colon), rest = spec.substr(colon + 1);
    for (const auto& k : kKinds) {
      if (prefix != k.prefix) continue;
      if (rest.empty()) fail("source '{}' needs {} after '{}:'", spec, k.argument, k.prefix);
      try {
        return k.open(rest);
      } catch (const std::filesystem::filesystem_error& e) {
        // A path the system refuses (too long, a loop of links): an error naming the spec.
        fail("source '{}': {}", spec, e.code().message());
      }
    }
  }
  fail("unknown source '{}'; valid sources:{}", spec, kinds_help());
}

}  // namespace loft::io
