#pragma once
// Where the models loftlab pretrains are kept: $LOFTLAB_MODELS, else results/models under the
// current folder, NAME/model.bin each (a llama2.c checkpoint). The pretrain experiment writes
// there; the source "pretrained:NAME" (io/source.hpp) reads from there.
#include <filesystem>
#include <string>

namespace loft::results {

std::filesystem::path models_dir();
// models_dir()/NAME/model.bin; NAME is a plain folder name (the caller checks it).
std::filesystem::path pretrained_checkpoint(const std::string& name);

}  // namespace loft::results
