#pragma once
// llama2.c "version 0" checkpoints (format in ../shared/data/README.md): seven int32 header
// values, then float32 arrays in a fixed order. The source exposes them under Hugging Face names
// (w1 = gate_proj, w3 = up_proj, w2 = down_proj) but keeps q/k rows in llama2.c's adjacent-pair
// RoPE order: its config() says rope_half_split = false. The legacy RoPE tables are skipped.
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/matrix.hpp"
#include "io/source.hpp"

namespace loft::io {

// Where each named tensor sits in a llama2.c file of the given config, in file order.
struct Llama2cEntry {
  std::string name;
  std::vector<int64_t> shape;
  size_t offset;  // bytes from the start of the file
};
std::vector<Llama2cEntry> llama2c_layout(const LlamaConfig& config);
size_t llama2c_file_size(const LlamaConfig& config);

std::unique_ptr<TensorSource> open_llama2c(const std::filesystem::path& path);

// The source "pretrained:NAME": models/NAME/model.bin, or models/NAME.bin, in the folder of
// pretrained models (io/results/models.hpp says where it is); otherwise fails listing the models
// present.
std::unique_ptr<TensorSource> open_pretrained(const std::filesystem::path& models,
                                              const std::string& name);

// Writes a version-0 checkpoint (temporary name, then rename) from tensors under Hugging Face
// names, fetched one at a time by `get` (1-D tensors as 1 x n rows, as sources load them); q/k in
// adjacent-pair order (config.rope_half_split must be false). lm_head.weight is written only when
// config.tied_embeddings is false. The legacy RoPE tables are computed as llama2.c's export does.
void write_llama2c(const std::filesystem::path& path, const LlamaConfig& config,
                   const std::function<Matrix(const std::string&)>& get);

// Hugging Face's conversion permutes q/k rows per head from adjacent pairs (2i, 2i+1) to the
// half-split order (i, i + head_size/2): row h*hs + p*hs/2 + i of the result is row
// h*hs + 2i + p of the input. The two functions are inverses.
Matrix rope_pairs_to_half_split(ConstMatrixRef w, int n_heads);
Matrix rope_half_split_to_pairs(ConstMatrixRef w, int n_heads);

}  // namespace loft::io
