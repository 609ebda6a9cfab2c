// The real stories260K checkpoint in its three forms (llama2.c, HF F32, HF BF16 sharded) gives the
// same tensors, and damaged copies fail with messages naming the file and the tensor.
#include <filesystem>
#include <fstream>
#include <set>

#include "common/error.hpp"
#include "io/dtype.hpp"
#include "io/llama2c.hpp"
#include "io/source.hpp"
#include "io_test_util.hpp"
#include "support.hpp"

using namespace loft;
namespace fs = std::filesystem;
using loft::test::error_of;
using loft::test::read_bytes;
using loft::test::TempDir;
using loft::test::write_bytes;

namespace {

std::set<std::string> names(const io::TensorSource& s) {
  std::set<std::string> out;
  for (const auto& t : s.list()) out.insert(t.name);
  return out;
}

// A copy of an HF folder into dir whose model.safetensors bytes are edited by f.
fs::path damaged_copy(const TempDir& dir, const fs::path& src, auto&& f) {
  const fs::path out = dir / "model";
  fs::remove_all(out);  // the shared data is read-only, and so are copies of it
  fs::create_directories(out);
  fs::copy_file(src / "config.json", out / "config.json");
  std::string bytes = read_bytes(src / "model.safetensors");
  f(bytes);
  write_bytes(out / "model.safetensors", bytes);
  return out;
}

}  // namespace

TEST_CASE("sources: llama2c checkpoint lists Hugging Face names and its config") {
  LOFT_REQUIRE_DATA(data);
  const auto src = io::open_source("llama2c:" + (data / "stories260K.bin").string());
  const auto list = src->list();
  REQUIRE(list.size() == 5 * 9 + 2);  // per layer 7 linear + 2 norms; embedding; final norm
  CHECK(list.front().name == "model.embed_tokens.weight");
  CHECK(list.front().shape == std::vector<int64_t>{512, 64});
  CHECK(names(*src).count("model.layers.4.mlp.down_proj.weight"));
  CHECK_FALSE(names(*src).count("lm_head.weight"));  // tied
  const auto c = *src->config();
  CHECK(c.dim == 64);
  CHECK(c.hidden_dim == 172);
  CHECK(c.n_layers == 5);
  CHECK(c.n_heads == 8);
  CHECK(c.n_kv_heads == 4);
  CHECK(c.vocab_size == 512);
  CHECK(c.seq_len == 512);
  CHECK(c.tied_embeddings);
  CHECK_FALSE(c.rope_half_split);
  const Matrix k = src->load("model.layers.0.self_attn.k_proj.weight");
  CHECK(k.rows() == 32);
  CHECK(k.cols() == 64);
  const Matrix n = src->load("model.norm.weight");
  CHECK(n.rows() == 1);
  CHECK(n.cols() == 64);
  CHECK_THAT(
      error_of([&] { src->load("model.layers.9.mlp.up_proj.weight"); }),
      Catch::Contains("stories260K.bin") && Catch::Contains("model.layers.9.mlp.up_proj.weight"));
}

TEST_CASE("sources: llama2c and hf F32 hold the same tensors (q/k up to the RoPE permutation)") {
  LOFT_REQUIRE_DATA(data);
  const auto l2c = io::open_source("llama2c:" + (data / "stories260K.bin").string());
  const auto hf = io::open_source("hf:" + (data / "stories260K-hf").string());
  REQUIRE(names(*l2c) == names(*hf));
  const auto lc = *l2c->config(), hc = *hf->config();
  CHECK(hc.rope_half_split);
  CHECK(std::tie(lc.dim, lc.hidden_dim, lc.n_layers, lc.n_heads, lc.n_kv_heads, lc.vocab_size,
                 lc.seq_len, lc.tied_embeddings) ==
        std::tie(hc.dim, hc.hidden_dim, hc.n_layers, hc.n_heads, hc.n_kv_heads, hc.vocab_size,
                 hc.seq_len, hc.tied_embeddings));
  CHECK(hc.norm_eps == 1e-5f);
  CHECK(hc.rope_theta == 10000.0f);
  int permuted = 0;
  for (const auto& t : l2c->list()) {
    CAPTURE(t.name);
    const Matrix a = l2c->load(t.name), b = hf->load(t.name);
    const bool q = t.name.find("q_proj") != std::string::npos;
    const bool k = t.name.find("k_proj") != std::string::npos;
    if (q || k) {
      const int heads = q ? lc.n_heads : lc.n_kv_heads;
      CHECK(a != b);  // the permutation is real
      CHECK(io::rope_pairs_to_half_split(a, heads) == b);
      CHECK(io::rope_half_split_to_pairs(b, heads) == a);
      ++permuted;
    } else {
      CHECK(a == b);
    }
  }
  CHECK(permuted == 10);
}

TEST_CASE("sources: sharded BF16 folder equals the F32 tensors rounded to bf16") {
  LOFT_REQUIRE_DATA(data);
  const auto f32 = io::open_source("hf:" + (data / "stories260K-hf").string());
  const auto bf16 = io::open_source("hf:" + (data / "stories260K-hf-bf16").string());
  REQUIRE(names(*f32) == names(*bf16));
  for (const auto& t : bf16->list()) {
    CAPTURE(t.name);
    CHECK(t.dtype == "BF16");
    Matrix want = f32->load(t.name);
    for (int64_t i = 0; i < want.size(); ++i)
      want.data()[i] = io::bf16_to_float(io::float_to_bf16(want.data()[i]));
    CHECK(bf16->load(t.name) == want);
  }
}

TEST_CASE("sources: damaged safetensors files fail naming the file and the tensor") {
  LOFT_REQUIRE_DATA(data);
  const fs::path hf = data / "stories260K-hf";
  TempDir dir("damaged");
  const auto open = [&](const fs::path& p) { return io::open_source("hf:" + p.string()); };

  auto p = damaged_copy(dir, hf, [](std::string& b) { b.resize(b.size() - 100); });
  CHECK_THAT(error_of([&] { open(p); }), Catch::Contains("model.safetensors") &&
                                             Catch::Contains("model.norm.weight") &&
                                             Catch::Contains("outside"));

  p = damaged_copy(dir, hf, [](std::string& b) {
    const uint64_t huge = 1ull << 40;
    std::memcpy(b.data(), &huge, 8);
  });
  CHECK_THAT(error_of([&] { open(p); }),
             Catch::Contains("model.safetensors") && Catch::Contains("header length"));

  // Shift the embedding's end offset: it no longer matches its shape.
  p = damaged_copy(dir, hf, [](std::string& b) {
    const auto at = b.find("[0,131072]");
    REQUIRE(at != std::string::npos);
    b.replace(at, 10, "[0,131076]");
  });
  CHECK_THAT(error_of([&] { open(p); }),
             Catch::Contains("model.embed_tokens.weight") && Catch::Contains("needs 131072"));

  // Two tensors claiming the same bytes (same length, so the header stays the same size).
  p = damaged_copy(dir, hf, [](std::string& b) {
    const auto at = b.find("\"data_offsets\":[131072,131328]");
    REQUIRE(at != std::string::npos);
    b.replace(at, 30, "\"data_offsets\":[131071,131327]");
  });
  CHECK_THAT(error_of([&] { open(p); }),
             Catch::Contains("model.safetensors") && Catch::Contains("overlap"));

  p = damaged_copy(dir, hf, [](std::string& b) {
    const auto at = b.find("\"dtype\":\"F32\"");
    b.replace(at, 13, "\"dtype\":\"Q32\"");
  });
  CHECK_THAT(error_of([&] { open(p); }),
             Catch::Contains("unknown dtype 'Q32'") && Catch::Contains("model.safetensors"));

  // A known but unconvertible dtype fails at load, naming the tensor and the valid dtypes.
  p = damaged_copy(dir, hf, [](std::string& b) {
    const auto at = b.find("\"model.norm.weight\":{\"dtype\":\"F32\"");
    REQUIRE(at != std::string::npos);
    b.replace(at + 30, 3, "I32");
  });
  const auto src = open(p);
  CHECK_THAT(error_of([&] { src->load("model.norm.weight"); }),
             Catch::Contains("model.norm.weight") && Catch::Contains("I32") &&
                 Catch::Contains("F32, F16, BF16"));
  CHECK_NOTHROW(src->load("model.layers.0.mlp.up_proj.weight"));

  // NaN in the data.
  p = damaged_copy(dir, hf, [](std::string& b) {
    uint64_t n;
    std::memcpy(&n, b.data(), 8);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::memcpy(b.data() + 8 + n + 4 * 10, &nan, 4);  // embedding element 10
  });
  CHECK_THAT(error_of([&] { open(p)->load("model.embed_tokens.weight"); }),
             Catch::Contains("model.embed_tokens.weight") && Catch::Contains("non-finite") &&
                 Catch::Contains("index 10"));
}

TEST_CASE("sources: a sharded index that disagrees with its shards is an error") {
  LOFT_REQUIRE_DATA(data);
  const fs::path src = data / "stories260K-hf-bf16";
  TempDir dir("index");
  for (const auto& e : fs::directory_iterator(src))
    fs::copy_file(e.path(), dir / e.path().filename().string());
  std::string index = read_bytes(src / "model.safetensors.index.json");
  const auto at = index.find("\"model.norm.weight\": \"model-00002-of-00002");
  REQUIRE(at != std::string::npos);
  index.replace(at + 28, 5, "00001");
  fs::permissions(dir / "model.safetensors.index.json", fs::perms::owner_write,
                  fs::perm_options::add);
  write_bytes(dir / "model.safetensors.index.json", index);
  CHECK_THROWS_WITH(io::open_source("hf:" + dir.path().string()),
                    Catch::Contains("model.norm.weight") &&
                        Catch::Contains("model-00001-of-00002.safetensors") &&
                        Catch::Contains("does not hold it"));
  fs::remove(dir / "model-00002-of-00002.safetensors");
  CHECK_THROWS_WITH(
      io::open_source("hf:" + dir.path().string()),
      Catch::Contains("model-00002-of-00002.safetensors") && Catch::Contains("does not exist"));
}

TEST_CASE("sources: damaged llama2c checkpoints fail naming the file") {
  LOFT_REQUIRE_DATA(data);
  TempDir dir("l2c");
  std::string bytes = read_bytes(data / "stories260K.bin");
  write_bytes(dir / "cut.bin", bytes.substr(0, bytes.size() - 4));
  CHECK_THROWS_WITH(
      io::open_source("llama2c:" + (dir / "cut.bin").string()),
      Catch::Contains("cut.bin") && Catch::Contains("truncated") && Catch::Contains("1056540"));
  std::string bad = bytes;
  const int32_t heads = 7;  // 64 is not divisible by 7
  std::memcpy(bad.data() + 12, &heads, 4);
  write_bytes(dir / "bad.bin", bad);
  CHECK_THROWS_WITH(io::open_source("llama2c:" + (dir / "bad.bin").string()),
                    Catch::Contains("bad.bin") && Catch::Contains("n_heads=7"));
  CHECK_THROWS_WITH(io::open_source("llama2c:" + (dir / "none.bin").string()),
                    Catch::Contains("none.bin"));
}

TEST_CASE("sources: write_llama2c reproduces stories260K.bin") {
  LOFT_REQUIRE_DATA(data);
  TempDir dir("l2c-write");
  const auto src = io::open_source("llama2c:" + (data / "stories260K.bin").string());
  io::write_llama2c(dir / "copy.bin", *src->config(),
                    [&](const std::string& n) { return src->load(n); });
  const std::string a = read_bytes(data / "stories260K.bin"), b = read_bytes(dir / "copy.bin");
  REQUIRE(a.size() == b.size());
  // Every weight byte is identical; the legacy RoPE tables (which no reader uses) agree to
  // float rounding.
  const auto rope = io::llama2c_layout(*src->config()).back();  // model.norm.weight
  const size_t rope_begin = rope.offset + 64 * 4, rope_end = a.size();
  CHECK(a.substr(0, rope_begin) == b.substr(0, rope_begin));
  for (size_t at = rope_begin; at < rope_end; at += 4) {
    float x, y;
    std::memcpy(&x, a.data() + at, 4);
    std::memcpy(&y, b.data() + at, 4);
    if (std::abs(x - y) > 1e-5f)
      FAIL("rope table differs at byte " << at << ": " << x << " vs " << y);
  }
}
