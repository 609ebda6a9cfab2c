#pragma once
// A source yields named tensors (and, for model checkpoints, the model's config). Every source
// uses Hugging Face tensor names ("model.layers.0.self_attn.q_proj.weight"), so layer globs mean
// the same thing whatever the file format.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/matrix.hpp"

namespace loft::io {

struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;
  std::string dtype;  // "F32", "F16", "BF16", "F64"
};

// The Llama hyper-parameters a checkpoint implies.
struct LlamaConfig {
  int dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0;
  int vocab_size = 0, seq_len = 0;
  float norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  bool rope_half_split = false;  // true for Hugging Face (rotate_half), false for llama2.c
  bool tied_embeddings = true;
};

class TensorSource {
 public:
  virtual ~TensorSource() = default;
  virtual std::vector<TensorInfo> list() const = 0;
  // 2-D tensors as (out x in); 1-D as a 1 x n row. Errors name the file and the tensor, and
  // NaN/Inf in the data is an error naming the tensor.
  virtual Matrix load(const std::string& name) const = 0;
  virtual std::optional<LlamaConfig> config() const { return std::nullopt; }
  virtual std::string describe() const = 0;  // the spec it was opened from

  // For sources that keep files mapped (hf:): the file holding a tensor, relative to the model
  // folder ("" for other sources), and its bytes as stored (empty for other sources), so a
  // tensor can be copied bit for bit.
  virtual std::string file_of(const std::string& name) const { return {}; }
  virtual std::span<const std::byte> raw(const std::string& name) const { return {}; }
  // Drops the resident pages of a loaded tensor, so a walk over a model larger than memory keeps
  // only the tensors in flight resident. A no-op for sources that hold nothing mapped.
  virtual void release(const std::string& name) const {}
  // load() then release(): what a walk over the tensors that reads each once calls.
  Matrix take(const std::string& name) const {
    Matrix w = load(name);
    release(name);
    return w;
  }
};

// "llama2c:PATH", "hf:DIR", "npy:PATH" (file or folder), "synthetic:KIND[:opt=v...]",
// "pretrained:NAME" (a llama2.c checkpoint loftlab pretrained, see io/llama2c.hpp).
std::unique_ptr<TensorSource> open_source(std::string_view spec);
// One line per source kind ("  llama2c:PATH  description"), for --help texts and errors.
std::string source_help();
// The kinds' forms on one line ("llama2c:PATH, hf:DIR, ..."), for key help and errors; with
// models_only the ones that hold a Llama (a config and a forward pass).
std::string source_forms(bool models_only = false);

}  // namespace loft::io
