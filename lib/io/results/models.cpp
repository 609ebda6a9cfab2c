// The folder of pretrained models (models.hpp).
#include "io/results/models.hpp"

#include <cstdlib>

namespace loft::results {

std::filesystem::path models_dir() {
  const char* env = std::getenv("LOFTLAB_MODELS");
  return env && *env ? std::filesystem::path(env) : std::filesystem::path("results") / "models";
}

std::filesystem::path pretrained_checkpoint(const std::string& name) {
  return models_dir() / name / "model.bin";
}

}  // namespace loft::results
