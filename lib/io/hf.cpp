#include "io/hf.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/files.hpp"
#include "io/safetensors.hpp"

namespace loft::io {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json read_json(const fs::path& path) {
  // 256 MB: an index of every tensor of the largest models is a few MB.
  const std::string text = read_regular_file(path, "JSON file", size_t(1) << 28);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    fail("{} is not valid JSON: {}", path.string(), e.what());
  }
}

// A config.json present and describing a Llama: its model_type is "llama", or absent (a Llama
// config written by hand). Other architectures' folders still give their tensors, without a
// Llama config.
bool names_llama(const fs::path& config_json) {
  if (!fs::exists(config_json)) return false;
  const json j = read_json(config_json);
  return !j.is_object() || !j.contains("model_type") || j["model_type"] == "llama";
}

class HfSource final : public TensorSource {
 public:
  explicit HfSource(const fs::path& path) : dir_(path), spec_("hf:" + path.string()) {
    if (fs::is_regular_file(path) && path.extension() == ".safetensors") {
      // One file on its own; a config.json beside it still gives the config.
      dir_ = path.parent_path();
      if (names_llama(dir_ / "config.json")) config_ = read_hf_config(dir_ / "config.json");
      files_.push_back(std::make_unique<SafetensorsFile>(path));
      add_file_tensors(0, nullptr);
      return;
    }
    if (!fs::is_directory(path))
      fail(
          "hf:{}: not a folder or .safetensors file (a Hugging Face model folder holds "
          "config.json and model.safetensors or model.safetensors.index.json)",
          path.string());
    if (names_llama(dir_ / "config.json")) config_ = read_hf_config(dir_ / "config.json");
    const fs::path index = dir_ / "model.safetensors.index.json";
    if (fs::exists(index))
      open_sharded(index);
    else
      open_files();
  }

  std::vector<TensorInfo> list() const override { return tensors_; }

  Matrix load(const std::string& name) const override {
    const auto it = where_.find(name);
    if (it == where_.end()) fail("{}: {}", spec_, missing(name));
    return files_[it->second]->load(name);
  }

  std::optional<LlamaConfig> config() const override { return config_; }
  std::string describe() const override { return spec_; }

  std::string file_of(const std::string& name) const override {
    return fs::path(file(name).path()).lexically_relative(dir_).string();
  }
  std::span<const std::byte> raw(const std::string& name) const override {
    return file(name).raw(name);
  }
  void release(const std::string& name) const override { file(name).release(name); }

 private:
  const SafetensorsFile& file(const std::string& name) const {
    const auto it = where_.find(name);
    if (it == where_.end()) fail("{}: {}", spec_, missing(name));
    return *files_[it->second];
  }

  void open_sharded(const fs::path& index) {
    const json j = read_json(index);
    if (!j.contains("weight_map") || !j["weight_map"].is_object())
      fail("{}: no \"weight_map\" object (tensor name -> shard file)", index.string());
    std::map<std::string, size_t> shard_ids;  // resolved path -> index into files_
    std::map<std::string, size_t> assigned;   // tensor -> the shard the index puts it in
    for (const auto& [name, shard] : j["weight_map"].items()) {
      if (!shard.is_string())
        fail("{}: weight_map[\"{}\"] is not a file name", index.string(), name);
      const std::string file = resolve_shard(index, shard.get<std::string>(), name).string();
      auto [it, fresh] = shard_ids.try_emplace(file, files_.size());
      if (fresh) files_.push_back(std::make_unique<SafetensorsFile>(file));
      if (!files_[it->second]->contains(name))
        fail(
            "{}: the index puts tensor '{}' in {}, which does not hold it (index and shards "
            "disagree)",
            index.string(), name, file);
      assigned[name] = it->second;
    }
    // Shards in the index's order of first appearance are not the file order; list tensors by
    // shard path, then by position in the shard, as the files were written.
    for (const auto& [file, id] : shard_ids) add_file_tensors(id, &assigned);
    for (const auto& [name, id] : assigned)
      if (!where_.count(name))
        fail("{}: tensor '{}' named by the index was not found in {}", index.string(), name,
             files_[id]->path());
  }

  // A shard path of the index as a path inside the model folder: relative, without '..', and
  // not a symbolic link (or through one) that leads out of the folder. The one exception is the
  // Hugging Face cache, whose snapshots/<revision>/ files are links into the repository's
  // ../../blobs/.
  fs::path resolve_shard(const fs::path& index, const std::string& shard,
                         const std::string& tensor) const {
    const fs::path rel(shard);
    const auto where = [&] {
      return fmt::format("{}: shard '{}' (holding '{}')", index.string(), shard, tensor);
    };
    if (shard.empty()) fail("{} is an empty path", where());
    if (rel.is_absolute())
      fail("{} is an absolute path; shard paths are relative to the model folder {}", where(),
           dir_.string());
    for (const auto& part : rel)
      if (part == "..")
        fail("{} goes up with '..'; shard paths must stay inside the model folder {}", where(),
             dir_.string());
    const fs::path path = (dir_ / rel).lexically_normal();
    std::error_code ec;
    const fs::path real = fs::canonical(path, ec);
    if (ec) fail("{} does not exist ({})", where(), path.string());
    const fs::path root = fs::canonical(dir_);
    const bool cache = root.parent_path().filename() == "snapshots";
    if (!within(real, root) && !(cache && within(real, root.parent_path().parent_path() / "blobs")))
      fail(
          "{} is, or goes through, a symbolic link to {}, outside the model folder {}; loftlab "
          "reads shards only inside the model folder",
          where(), real.string(), root.string());
    return path;
  }

  static bool within(const fs::path& path, const fs::path& folder) {
    auto p = path.begin();
    for (auto f = folder.begin(); f != folder.end(); ++f, ++p)
      if (p == path.end() || *p != *f) return false;
    return true;
  }

  void open_files() {
    std::vector<fs::path> paths;
    for (const auto& e : fs::directory_iterator(dir_))
      if (e.path().extension() == ".safetensors") paths.push_back(e.path());
    if (paths.empty())
      fail(
          "hf:{}: no model.safetensors, model.safetensors.index.json or *.safetensors file in "
          "the folder",
          dir_.string());
    std::sort(paths.begin(), paths.end());
    for (const auto& p : paths) {
      files_.push_back(std::make_unique<SafetensorsFile>(p));
      add_file_tensors(files_.size() - 1, nullptr);
    }
  }

  // Adds a shard's tensors (only those the index assigns to it, when there is an index).
  void add_file_tensors(size_t id, const std::map<std::string, size_t>* assigned) {
    const auto& file = *files_[id];
    for (const auto& t : file.tensors()) {
      if (assigned) {
        const auto it = assigned->find(t.name);
        if (it == assigned->end() || it->second != id) continue;
      }
      if (where_.count(t.name))
        fail("{}: tensor '{}' appears in both {} and {}", spec_, t.name,
             files_[where_[t.name]]->path(), file.path());
      where_[t.name] = id;
      tensors_.push_back(t);
    }
  }

  std::string missing(const std::string& name) const {
    std::string some;
    for (size_t i = 0; i < tensors_.size() && i < 6; ++i) some += "\n  " + tensors_[i].name;
    return fmt::format("no tensor named '{}' among its {} tensors, e.g.:{}", name, tensors_.size(),
                       some);
  }

  fs::path dir_;
  std::string spec_;
  std::optional<LlamaConfig> config_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> where_;
  std::vector<TensorInfo> tensors_;
};

}  // namespace

LlamaConfig read_hf_config(const fs::path& path) {
  const json j = read_json(path);
  if (!j.is_object())
    fail("{}: not a JSON object (a config.json maps keys to values)", path.string());
  // Integers as written, range-checked before any narrowing: the bounds are far above any real
  // Llama (and those of llama2.c checkpoints), far below what would exhaust memory.
  auto get_int = [&](const char* key, std::optional<int> fallback, int64_t max) -> int {
    if (!j.contains(key) || j[key].is_null()) {
      if (fallback) return *fallback;
      fail(
          "{}: missing key \"{}\" (a Llama config.json needs hidden_size, intermediate_size, "
          "num_hidden_layers, num_attention_heads, vocab_size)",
          path.string(), key);
    }
    const json& v = j[key];
    const bool in_range = v.is_number_unsigned()  ? v.get<uint64_t>() <= uint64_t(max)
                          : v.is_number_integer() ? v.get<int64_t>() >= 1 && v.get<int64_t>() <= max
                                                  : false;
    if (!v.is_number_integer() || !in_range || v.get<int64_t>() < 1)
      fail("{}: \"{}\" must be an integer in 1..{}, got {}", path.string(), key, max, v.dump());
    return static_cast<int>(v.get<int64_t>());
  };
  auto get_float = [&](const char* key, float fallback) -> float {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    const json& v = j[key];
    if (!v.is_number() || !std::isfinite(v.get<double>()) || !(v.get<double>() > 0) ||
        v.get<double>() > 1e30)
      fail("{}: \"{}\" must be a positive number, got {}", path.string(), key, v.dump());
    return v.get<float>();
  };
  LlamaConfig c;
  c.dim = get_int("hidden_size", std::nullopt, (1 << 20) - 1);
  c.hidden_dim = get_int("intermediate_size", std::nullopt, (1 << 22) - 1);
  c.n_layers = get_int("num_hidden_layers", std::nullopt, 4095);
  c.n_heads = get_int("num_attention_heads", std::nullopt, c.dim);
  c.n_kv_heads = get_int("num_key_value_heads", c.n_heads, c.n_heads);
  c.vocab_size = get_int("vocab_size", std::nullopt, (1 << 24) - 1);
  c.seq_len = get_int("max_position_embeddings", 2048, (1 << 24) - 1);
  c.norm_eps = get_float("rms_norm_eps", 1e-6f);
  c.rope_theta = get_float("rope_theta", 10000.0f);
  if (j.contains("tie_word_embeddings") && !j["tie_word_embeddings"].is_null()) {
    if (!j["tie_word_embeddings"].is_boolean())
      fail("{}: \"tie_word_embeddings\" must be true or false, got {}", path.string(),
           j["tie_word_embeddings"].dump());
    c.tied_embeddings = j["tie_word_embeddings"].get<bool>();
  } else {
    c.tied_embeddings = false;
  }
  c.rope_half_split = true;
  if (c.dim % c.n_heads || c.n_heads % c.n_kv_heads)
    fail(
        "{}: hidden_size {} must divide into num_attention_heads {}, and those into "
        "num_key_value_heads {}",
        path.string(), c.dim, c.n_heads, c.n_kv_heads);
  return c;
}

std::unique_ptr<TensorSource> open_hf(const fs::path& dir) {
  return std::make_unique<HfSource>(dir);
}

}  // namespace loft::io
