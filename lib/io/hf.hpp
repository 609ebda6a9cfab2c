#pragma once
// Hugging Face model folders: config.json plus model.safetensors, or shards listed by
// model.safetensors.index.json (or, with neither, every *.safetensors file in the folder); or
// hf:FILE.safetensors, one file (config from a config.json beside it, if any).
// Shards stay memory-mapped; load() converts one tensor (F32/F16/BF16/F64) to float32.
// config() reads the Llama keys of config.json (none when its model_type names another
// architecture) with rope_half_split = true: q/k rows are in
// Hugging Face's half-split order (see rope_half_split_to_pairs in llama2c.hpp).
#include <filesystem>
#include <memory>

#include "io/source.hpp"

namespace loft::io {

std::unique_ptr<TensorSource> open_hf(const std::filesystem::path& dir_or_file);

// The Llama config from a config.json (missing optional keys take Hugging Face's LlamaConfig
// defaults; missing required keys are errors naming the file and the key).
LlamaConfig read_hf_config(const std::filesystem::path& config_json);

}  // namespace loft::io
