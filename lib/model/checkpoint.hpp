#pragma once
// Training state for resuming a pretrain: the model's tensors with their AdamW moments and the
// step count, in one binary file written to a temporary name and renamed into place (a crash
// leaves the previous state intact). Not a distribution format: the finished model is a llama2.c
// checkpoint (io::write_llama2c).
#include <filesystem>

#include "model/optim.hpp"

namespace loft::model {

void save_training_state(const std::filesystem::path& path, Llama<float>& m, const AdamW& opt);

// Restores weights, moments and step into a model of the same config and trainable set; throws
// naming the file and the mismatch (config, tensor name or shape) otherwise.
void load_training_state(const std::filesystem::path& path, Llama<float>& m, AdamW& opt);

}  // namespace loft::model
