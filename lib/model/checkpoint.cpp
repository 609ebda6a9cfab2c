// Binary training state: magic, config, step, then per trainable tensor name, shape, value, m, v.
#include "model/checkpoint.hpp"

#include <cstdio>
#include <fstream>

#include "common/error.hpp"
#include "common/files.hpp"

namespace loft::model {

namespace {

constexpr char kMagic[8] = {'L', 'O', 'F', 'T', 'S', 'T', '0', '1'};

std::vector<int32_t> config_ints(const LlamaConfig& c) {
  return {c.dim,        c.hidden_dim, c.n_layers,        c.n_heads,
          c.n_kv_heads, c.vocab_size, c.rope_half_split, c.tied_embeddings};
}

template <typename X>
void put(AtomicFile& out, const X& x) {
  out.write_value(x);
}
template <typename X>
X get(std::ifstream& in, const std::filesystem::path& path) {
  X x{};
  if (!in.read(reinterpret_cast<char*>(&x), sizeof(X)))
    fail("training state {}: truncated file", path.string());
  return x;
}
void put_mat(AtomicFile& out, const Mat<float>& m) {
  out.write(m.data(), static_cast<size_t>(m.size()) * 4);
}
void get_mat(std::ifstream& in, Mat<float>& m, const std::filesystem::path& path) {
  if (!in.read(reinterpret_cast<char*>(m.data()), static_cast<std::streamsize>(m.size() * 4)))
    fail("training state {}: truncated file", path.string());
}

}  // namespace

void save_training_state(const std::filesystem::path& path, Llama<float>& m, const AdamW& opt) {
  {
    AtomicFile out(path);
    out.write(kMagic, sizeof kMagic);
    for (int32_t v : config_ints(m.cfg)) put(out, v);
    put(out, int32_t(opt.t));
    put(out, int32_t(opt.params.size()));
    for (size_t i = 0; i < opt.params.size(); ++i) {
      const auto& p = *opt.params[i];
      put(out, int32_t(p.name.size()));
      out.write(p.name);
      put(out, int64_t(p.value.rows()));
      put(out, int64_t(p.value.cols()));
      put_mat(out, p.value);
      put_mat(out, opt.m[i]);
      put_mat(out, opt.v[i]);
    }
    out.commit();
  }
}

void load_training_state(const std::filesystem::path& path, Llama<float>& m, AdamW& opt) {
  require_regular_file(path, "training state");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open training state {}", path.string());
  char magic[8];
  if (!in.read(magic, 8) || std::string(magic, 8) != std::string(kMagic, 8))
    fail("{} is not a loftlab training state (bad magic)", path.string());
  for (int32_t want : config_ints(m.cfg)) {
    const auto got = get<int32_t>(in, path);
    if (got != want)
      fail(
          "training state {} was saved for another model config ({} where {} is expected); "
          "delete it to start over",
          path.string(), got, want);
  }
  const int32_t step = get<int32_t>(in, path);
  if (step < 0) fail("training state {}: step {} is negative", path.string(), step);
  const int32_t n = get<int32_t>(in, path);
  if (n != static_cast<int32_t>(opt.params.size()))
    fail("training state {}: {} tensors, the model trains {}", path.string(), n, opt.params.size());
  for (int32_t i = 0; i < n; ++i) {
    auto& p = *opt.params[i];
    const int32_t len = get<int32_t>(in, path);
    if (len < 0 || static_cast<size_t>(len) > p.name.size() + 1024)
      fail("training state {}: tensor {} has a name of {} bytes (expected '{}')", path.string(), i,
           len, p.name);
    std::string name(static_cast<size_t>(len), '\0');
    if (!in.read(name.data(), len)) fail("training state {}: truncated file", path.string());
    const auto rows = get<int64_t>(in, path), cols = get<int64_t>(in, path);
    if (name != p.name || rows != p.value.rows() || cols != p.value.cols())
      fail("training state {}: tensor {} is '{}' {}x{}, expected '{}' {}x{}", path.string(), i,
           name, rows, cols, p.name, p.value.rows(), p.value.cols());
    get_mat(in, p.value, path);
    get_mat(in, opt.m[i], path);
    get_mat(in, opt.v[i], path);
  }
  opt.t = step;
}

}  // namespace loft::model
