#include "io/llama2c.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "common/error.hpp"
#include "common/files.hpp"
#include "io/dtype.hpp"
#include "io/mapped_file.hpp"

namespace loft::io {
namespace {

constexpr size_t kHeaderBytes = 7 * 4;

int64_t head_size(const LlamaConfig& c) {
  return c.dim / c.n_heads;
}
int64_t rope_table_floats(const LlamaConfig& c) {
  return int64_t(c.seq_len) * head_size(c) / 2;
}

std::string layer_name(int i, const char* rest) {
  return fmt::format("model.layers.{}.{}", i, rest);
}

// The file's arrays in order; stacked per-layer arrays become one entry per layer.
std::vector<Llama2cEntry> layout(const LlamaConfig& c) {
  const int64_t D = c.dim, H = c.hidden_dim, V = c.vocab_size, L = c.n_layers;
  const int64_t KV = c.n_kv_heads * head_size(c);
  std::vector<Llama2cEntry> out;
  size_t at = kHeaderBytes;
  auto add = [&](std::string name, std::vector<int64_t> shape) {
    size_t n = 1;
    for (auto d : shape) n *= static_cast<size_t>(d);
    out.push_back({std::move(name), std::move(shape), at});
    at += 4 * n;
  };
  auto stacked = [&](const char* rest, std::vector<int64_t> shape) {
    for (int i = 0; i < L; ++i) add(layer_name(i, rest), shape);
  };
  add("model.embed_tokens.weight", {V, D});
  stacked("input_layernorm.weight", {D});
  stacked("self_attn.q_proj.weight", {D, D});
  stacked("self_attn.k_proj.weight", {KV, D});
  stacked("self_attn.v_proj.weight", {KV, D});
  stacked("self_attn.o_proj.weight", {D, D});
  stacked("post_attention_layernorm.weight", {D});
  stacked("mlp.gate_proj.weight", {H, D});  // w1
  stacked("mlp.down_proj.weight", {D, H});  // w2
  stacked("mlp.up_proj.weight", {H, D});    // w3
  add("model.norm.weight", {D});
  at += 2 * 4 * static_cast<size_t>(rope_table_floats(c));  // freq_cis_real, freq_cis_imag
  if (!c.tied_embeddings) add("lm_head.weight", {V, D});
  return out;
}

void validate(const LlamaConfig& c, const std::string& file) {
  const bool ok = c.dim > 0 && c.hidden_dim > 0 && c.n_layers > 0 && c.n_heads > 0 &&
                  c.n_kv_heads > 0 && c.vocab_size > 0 && c.seq_len > 0 && c.dim < (1 << 20) &&
                  c.hidden_dim < (1 << 22) && c.n_layers < 4096 && c.vocab_size < (1 << 24) &&
                  c.seq_len < (1 << 24);
  if (!ok || c.dim % c.n_heads || c.n_heads % c.n_kv_heads || head_size(c) % 2)
    fail(
        "{}: not a llama2.c version-0 checkpoint: header dim={} hidden_dim={} n_layers={} "
        "n_heads={} n_kv_heads={} vocab_size={} seq_len={} (all must be positive, dim divisible "
        "by n_heads into an even head size, n_heads by n_kv_heads)",
        file, c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.seq_len);
}

// Reordering shared by both permutations: dst row h*hs + p*hs/2 + i <-> src row h*hs + 2i + p.
Matrix permute_rows(ConstMatrixRef w, int n_heads, bool to_half_split) {
  if (n_heads <= 0 || w.rows() % n_heads || (w.rows() / n_heads) % 2)
    fail("RoPE row permutation: {} rows do not split into {} heads of even size", w.rows(),
         n_heads);
  const int64_t hs = w.rows() / n_heads;
  Matrix out(w.rows(), w.cols());
  for (int64_t h = 0; h < n_heads; ++h)
    for (int64_t i = 0; i < hs / 2; ++i)
      for (int64_t p = 0; p < 2; ++p) {
        const int64_t half = h * hs + p * hs / 2 + i, pair = h * hs + 2 * i + p;
        if (to_half_split)
          out.row(half) = w.row(pair);
        else
          out.row(pair) = w.row(half);
      }
  return out;
}

class Llama2cSource final : public TensorSource {
 public:
  explicit Llama2cSource(const std::filesystem::path& path) : file_(path) {
    const auto bytes = file_.bytes();
    if (bytes.size() < kHeaderBytes)
      fail("{}: truncated llama2.c checkpoint ({} bytes, the header alone is 28)", file_.path(),
           bytes.size());
    int32_t h[7];
    std::memcpy(h, bytes.data(), sizeof h);
    if (h[0] == 0x616b3432)
      fail(
          "{}: this is a llama2.c version-1/2 export (magic 'ak42'); loftlab reads version-0 "
          "(legacy) checkpoints",
          file_.path());
    config_.dim = h[0];
    config_.hidden_dim = h[1];
    config_.n_layers = h[2];
    config_.n_heads = h[3];
    config_.n_kv_heads = h[4];
    // |INT32_MIN| is not an int: such a header is invalid, not undefined behaviour.
    config_.vocab_size = h[5] == INT32_MIN ? 0 : std::abs(h[5]);
    config_.seq_len = h[6];
    config_.tied_embeddings = h[5] > 0;
    config_.rope_half_split = false;
    validate(config_, file_.path());
    // The size first, by arithmetic: a header claiming thousands of layers must not cost their
    // names before the file is found short.
    const size_t want = llama2c_file_size(config_);
    if (bytes.size() != want)
      fail(
          "{}: llama2.c checkpoint is {} bytes but its header (dim={}, hidden_dim={}, "
          "n_layers={}, n_heads={}, n_kv_heads={}, vocab_size={}{}, seq_len={}) implies {} ({})",
          file_.path(), bytes.size(), h[0], h[1], h[2], h[3], h[4], config_.vocab_size,
          config_.tied_embeddings ? "" : " untied", h[6], want,
          bytes.size() < want ? "truncated" : "trailing bytes");
    entries_ = layout(config_);
    spec_ = "llama2c:" + path.string();
  }

  std::vector<TensorInfo> list() const override {
    std::vector<TensorInfo> out;
    for (const auto& e : entries_) out.push_back({e.name, e.shape, "F32"});
    return out;
  }

  Matrix load(const std::string& name) const override {
    for (const auto& e : entries_) {
      if (e.name != name) continue;
      size_t n = 1;
      for (auto d : e.shape) n *= static_cast<size_t>(d);
      return decode_tensor(file_.bytes().subspan(e.offset, 4 * n), *find_dtype("F32"), e.shape,
                           name, file_.path());
    }
    fail(
        "{}: no tensor named '{}' (llama2.c checkpoints hold model.embed_tokens.weight, "
        "model.layers.0..{}.{{input_layernorm,self_attn.{{q,k,v,o}}_proj,"
        "post_attention_layernorm,mlp.{{gate,up,down}}_proj}}.weight, model.norm.weight{})",
        file_.path(), name, config_.n_layers - 1,
        config_.tied_embeddings ? "" : ", lm_head.weight");
  }

  std::optional<LlamaConfig> config() const override { return config_; }
  std::string describe() const override { return spec_; }
  void release(const std::string& name) const override {
    for (const auto& e : entries_)
      if (e.name == name) file_.release(e.offset, 4 * element_count(e.shape).n);
  }
  void set_spec(std::string spec) { spec_ = std::move(spec); }

 private:
  MappedFile file_;
  LlamaConfig config_;
  std::vector<Llama2cEntry> entries_;
  std::string spec_;
};

}  // namespace

std::vector<Llama2cEntry> llama2c_layout(const LlamaConfig& config) {
  validate(config, "llama2c_layout");
  return layout(config);
}

// The end of layout()'s last array (or of the RoPE tables after model.norm.weight), summed
// directly. validate()'s bounds keep every product below 2^60, so size_t cannot wrap.
size_t llama2c_file_size(const LlamaConfig& c) {
  validate(c, "llama2c_file_size");
  const size_t D = size_t(c.dim), H = size_t(c.hidden_dim), V = size_t(c.vocab_size);
  const size_t L = size_t(c.n_layers), KV = size_t(c.n_kv_heads) * size_t(head_size(c));
  const size_t per_layer = D + D * D + 2 * KV * D + D * D + D + 3 * H * D;
  size_t floats = V * D + L * per_layer + D + 2 * size_t(rope_table_floats(c));
  if (!c.tied_embeddings) floats += V * D;
  return kHeaderBytes + 4 * floats;
}

std::unique_ptr<TensorSource> open_llama2c(const std::filesystem::path& path) {
  return std::make_unique<Llama2cSource>(path);
}

std::unique_ptr<TensorSource> open_pretrained(const std::filesystem::path& models,
                                              const std::string& name) {
  namespace fs = std::filesystem;
  if (name.empty() || name.find('/') != std::string::npos || name.starts_with("."))
    fail("pretrained:{}: a model name is a plain folder name under {}", name, models.string());
  const fs::path checkpoint = models / name / "model.bin";
  for (const fs::path& p : {checkpoint, models / (name + ".bin")})
    if (fs::is_regular_file(p)) {
      auto src = std::make_unique<Llama2cSource>(p);
      src->set_spec("pretrained:" + name);
      return src;
    }
  std::string present;
  if (fs::is_directory(models))
    for (const auto& e : fs::directory_iterator(models))
      if (fs::is_regular_file(e.path() / "model.bin") || e.path().extension() == ".bin")
        present += (present.empty() ? "" : ", ") + e.path().stem().string();
  fail(
      "pretrained:{}: no checkpoint at {} (models in {}: {}); pretrain one first (the pretrain "
      "experiment, or `make run`), or set LOFTLAB_MODELS",
      name, checkpoint.string(), models.string(), present.empty() ? "none" : present);
}

void write_llama2c(const std::filesystem::path& path, const LlamaConfig& c,
                   const std::function<Matrix(const std::string&)>& get) {
  validate(c, path.string());
  if (c.rope_half_split)
    fail(
        "write_llama2c {}: llama2.c checkpoints use adjacent-pair RoPE; convert q/k with "
        "rope_half_split_to_pairs and set rope_half_split = false",
        path.string());
  AtomicFile out(path);
  const int32_t header[7] = {c.dim,        c.hidden_dim,
                             c.n_layers,   c.n_heads,
                             c.n_kv_heads, c.tied_embeddings ? c.vocab_size : -c.vocab_size,
                             c.seq_len};
  out.write(header, sizeof header);
  auto put = [&](const float* p, size_t n) { out.write(p, n * 4); };
  for (const auto& e : layout(c)) {
    const Matrix m = get(e.name);
    const int64_t rows = e.shape.size() == 2 ? e.shape[0] : 1;
    if (m.rows() != rows || m.cols() != e.shape.back())
      fail("write_llama2c {}: tensor '{}' is {}x{}, the config needs {}x{}", path.string(), e.name,
           m.rows(), m.cols(), rows, e.shape.back());
    put(m.data(), static_cast<size_t>(m.size()));
    if (e.name == "model.norm.weight") {
      // freq_cis tables as llama2.c's precompute_freqs_cis: cos/sin(t * theta^(-2i/hs)).
      const int64_t hs = head_size(c);
      std::vector<float> re, im;
      for (int64_t t = 0; t < c.seq_len; ++t)
        for (int64_t i = 0; i < hs / 2; ++i) {
          const float f = 1.0f / std::pow(c.rope_theta, static_cast<float>(2 * i) / float(hs));
          const float a = static_cast<float>(t) * f;
          re.push_back(std::cos(a));
          im.push_back(std::sin(a));
        }
      put(re.data(), re.size());
      put(im.data(), im.size());
    }
  }
  out.commit();
}

Matrix rope_pairs_to_half_split(ConstMatrixRef w, int n_heads) {
  return permute_rows(w, n_heads, true);
}
Matrix rope_half_split_to_pairs(ConstMatrixRef w, int n_heads) {
  return permute_rows(w, n_heads, false);
}

}  // namespace loft::io
