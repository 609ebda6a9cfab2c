// Sources built from files the tests write: safetensors (F32/F16, sharded), npy folders,
// llama2c round trips, synthetic generators, the spec registry.
// GCC 12 flags Eigen's AVX-512 products with a false maybe-uninitialized warning.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "common/error.hpp"
#include "io/hf.hpp"
#include "io/llama2c.hpp"
#include "io/npy.hpp"
#include "io/results/models.hpp"
#include "io/safetensors.hpp"
#include "io/source.hpp"
#include "io/synthetic.hpp"
#include "io_test_util.hpp"
#include "support.hpp"

using namespace loft;
namespace fs = std::filesystem;
using loft::test::TempDir;
using loft::test::tiny_config;
using loft::test::write_bytes;

namespace {

Matrix ramp(int64_t r, int64_t c, float scale) {
  Matrix m(r, c);
  for (int64_t i = 0; i < m.size(); ++i) m.data()[i] = scale * std::cos(float(i) * 0.37f);
  return m;
}

}  // namespace

TEST_CASE("sources: open_source rejects unknown kinds listing the valid ones") {
  CHECK_THROWS_WITH(io::open_source("gguf:x"), Catch::Contains("unknown source 'gguf:x'") &&
                                                   Catch::Contains("llama2c:PATH") &&
                                                   Catch::Contains("synthetic:KIND"));
  CHECK_THROWS_WITH(io::open_source("model.bin"), Catch::Contains("hf:DIR"));
  CHECK_THROWS_WITH(io::open_source("npy:"), Catch::Contains("needs PATH"));
}

TEST_CASE("sources: hf folder of F32 and F16 safetensors with an index") {
  TempDir dir("hf-shards");
  const Matrix a = ramp(3, 4, 0.5f), b = ramp(2, 2, 1.0f);
  io::write_safetensors(dir / "model-00001-of-00002.safetensors", {{"x.a_proj.weight", a}});
  // The second shard in F16, bytes built by hand: 1.0, -0.5, 2.0, 0.25.
  io::RawTensor h{"x.b_proj.weight", "F16", {2, 2}, {}};
  for (uint16_t v : {0x3C00, 0xB800, 0x4000, 0x3400})
    for (int k = 0; k < 2; ++k) h.bytes.push_back(std::byte((v >> (8 * k)) & 0xff));
  io::write_safetensors(dir / "model-00002-of-00002.safetensors", std::vector{h});
  write_bytes(
      dir / "model.safetensors.index.json",
      R"({"metadata": {}, "weight_map": {"x.b_proj.weight": "model-00002-of-00002.safetensors",
                  "x.a_proj.weight": "model-00001-of-00002.safetensors"}})");
  const auto src = io::open_source("hf:" + dir.path().string());
  CHECK_FALSE(src->config());  // no config.json
  const auto list = src->list();
  REQUIRE(list.size() == 2);
  CHECK(list[0].name == "x.a_proj.weight");
  CHECK(list[1].dtype == "F16");
  CHECK(src->load("x.a_proj.weight") == a);
  const Matrix hb = src->load("x.b_proj.weight");
  CHECK(hb(0, 0) == 1.0f);
  CHECK(hb(0, 1) == -0.5f);
  CHECK(hb(1, 0) == 2.0f);
  CHECK(hb(1, 1) == 0.25f);
  CHECK_THROWS_WITH(src->load("x.c_proj.weight"),
                    Catch::Contains("x.c_proj.weight") && Catch::Contains("x.a_proj.weight"));
  // One shard on its own, as hf:FILE.
  const auto one = io::open_source("hf:" + (dir / "model-00001-of-00002.safetensors").string());
  REQUIRE(one->list().size() == 1);
  CHECK(one->load("x.a_proj.weight") == a);
  CHECK_THROWS_WITH(io::open_source("hf:" + (dir / "model.safetensors.index.json").string()),
                    Catch::Contains("not a folder or .safetensors file"));
}

TEST_CASE("sources: hf config.json keys, defaults and errors") {
  TempDir dir("hf-config");
  write_bytes(dir / "config.json",
              R"({"hidden_size": 8, "intermediate_size": 12, "num_hidden_layers": 2,
                  "num_attention_heads": 2, "vocab_size": 10})");
  const auto c = io::read_hf_config(dir / "config.json");
  CHECK(c.n_kv_heads == 2);        // defaults to num_attention_heads
  CHECK(c.norm_eps == 1e-6f);      // LlamaConfig's default
  CHECK_FALSE(c.tied_embeddings);  // LlamaConfig's default
  CHECK(c.rope_half_split);
  write_bytes(dir / "config.json", R"({"hidden_size": 8})");
  CHECK_THROWS_WITH(io::read_hf_config(dir / "config.json"),
                    Catch::Contains("config.json") && Catch::Contains("intermediate_size"));
  write_bytes(dir / "config.json", R"({"hidden_size": )");
  CHECK_THROWS_WITH(io::read_hf_config(dir / "config.json"), Catch::Contains("not valid JSON"));
  CHECK_THROWS_WITH(io::open_source("hf:" + dir.path().string()), Catch::Contains("config.json"));
}

TEST_CASE("sources: llama2c_file_size is the end of the layout's last array") {
  // The reference: the layout's last array, then the RoPE tables when it is model.norm.weight.
  auto end_of_layout = [](const io::LlamaConfig& c) {
    const auto entries = io::llama2c_layout(c);
    const auto& last = entries.back();
    size_t n = 1;
    for (auto d : last.shape) n *= static_cast<size_t>(d);
    size_t end = last.offset + 4 * n;
    if (last.name == "model.norm.weight")
      end += 2 * 4 * static_cast<size_t>(c.seq_len) * static_cast<size_t>(c.dim / c.n_heads) / 2;
    return end;
  };
  for (bool tied : {true, false})
    for (int layers : {1, 3, 1000})
      for (int kv : {1, 2, 4}) {
        io::LlamaConfig c = tiny_config(tied);
        c.n_layers = layers;
        c.n_heads = 4;
        c.n_kv_heads = kv;
        c.dim = 32;
        c.hidden_dim = 88;
        c.vocab_size = 515;
        c.seq_len = 48;
        CAPTURE(tied, layers, kv);
        CHECK(io::llama2c_file_size(c) == end_of_layout(c));
      }
}

TEST_CASE("sources: write_llama2c and open_llama2c round-trip, tied and untied") {
  for (bool tied : {true, false}) {
    CAPTURE(tied);
    TempDir dir("l2c-rt");
    const auto c = tiny_config(tied);
    std::map<std::string, Matrix> want;
    float scale = 1;
    for (const auto& e : io::llama2c_layout(c)) {
      const int64_t rows = e.shape.size() == 2 ? e.shape[0] : 1;
      want[e.name] = ramp(rows, e.shape.back(), scale += 0.25f);
    }
    CHECK(want.count("lm_head.weight") == (tied ? 0u : 1u));
    io::write_llama2c(dir / "m.bin", c, [&](const std::string& n) { return want.at(n); });
    CHECK(fs::file_size(dir / "m.bin") == io::llama2c_file_size(c));
    const auto src = io::open_source("llama2c:" + (dir / "m.bin").string());
    CHECK(src->config()->tied_embeddings == tied);
    CHECK(src->list().size() == want.size());
    for (const auto& [name, m] : want) CHECK(src->load(name) == m);
  }
}

TEST_CASE("sources: RoPE permutation matches Hugging Face's view/transpose definition") {
  // hf row h*hs + p*hs/2 + i  <-  pair row h*hs + 2i + p, for 2 heads of size 4.
  Matrix w(8, 1);
  for (int r = 0; r < 8; ++r) w(r, 0) = float(r);
  const Matrix h = io::rope_pairs_to_half_split(w, 2);
  const std::vector<float> want = {0, 2, 1, 3, 4, 6, 5, 7};
  for (int r = 0; r < 8; ++r) CHECK(h(r, 0) == want[r]);
  CHECK(io::rope_half_split_to_pairs(h, 2) == w);
  CHECK_THROWS_WITH(io::rope_pairs_to_half_split(w, 3), Catch::Contains("3 heads"));
}

TEST_CASE("sources: npy file and folder sources name tensors by stem") {
  TempDir dir("npy-src");
  fs::create_directories(dir / "f");
  const Matrix a = ramp(4, 3, 1), b = ramp(2, 5, -2);
  io::write_npy(dir / "f" / "layer.a.weight.npy", a);
  io::write_npy(dir / "f" / "layer.b.weight.npy", b);
  const float v[3] = {1, 2, 3};
  const int64_t vs[1] = {3};
  io::write_npy(dir / "f" / "norm.npy", v, vs);
  const auto folder = io::open_source("npy:" + (dir / "f").string());
  const auto list = folder->list();
  REQUIRE(list.size() == 3);
  CHECK(list[0].name == "layer.a.weight");
  CHECK(list[2].shape == std::vector<int64_t>{3});
  CHECK(folder->load("layer.b.weight") == b);
  CHECK(folder->load("norm").rows() == 1);
  CHECK_THROWS_WITH(folder->load("layer.c.weight"), Catch::Contains("layer.a.weight"));
  const auto one = io::open_source("npy:" + (dir / "f" / "layer.a.weight.npy").string());
  REQUIRE(one->list().size() == 1);
  CHECK(one->load("layer.a.weight") == a);
  fs::create_directories(dir / "empty");
  CHECK_THROWS_WITH(io::open_source("npy:" + (dir / "empty").string()), Catch::Contains("no .npy"));
}

TEST_CASE("sources: synthetic kinds are seeded, per-tensor and shaped as asked") {
  for (const auto& kind : io::synthetic_kinds()) {
    CAPTURE(kind.name);
    const std::string spec = fmt::format("synthetic:{}:shape=48x80:count=3:seed=5", kind.name);
    const auto s1 = io::open_source(spec);
    const auto s2 =
        io::open_source(fmt::format("synthetic:{}:seed=5:count=2:shape=48x80", kind.name));
    const auto s3 = io::open_source(fmt::format("synthetic:{}:shape=48x80:seed=6", kind.name));
    const auto list = s1->list();
    REQUIRE(list.size() == 3);
    CHECK(list[2].name == "synthetic.2.weight");
    CHECK(list[0].shape == std::vector<int64_t>{48, 80});
    const Matrix a = s1->load("synthetic.1.weight");
    CHECK(a == s1->load("synthetic.1.weight"));  // deterministic
    CHECK(a == s2->load("synthetic.1.weight"));  // independent of count and option order
    CHECK(a != s1->load("synthetic.0.weight"));  // tensors differ
    CHECK(a != s3->load("synthetic.1.weight"));  // the seed matters
    // Standard deviation near std=0.02 (3840 entries; student-t df=3 has a wide spread).
    const double rms = std::sqrt(double(a.squaredNorm()) / double(a.size()));
    CHECK(rms > 0.012);
    CHECK(rms < 0.03);
    CHECK(s1->describe().starts_with(fmt::format("synthetic:{}:", kind.name)));
    CHECK(io::open_source(s1->describe())->load("synthetic.2.weight") ==
          s1->load("synthetic.2.weight"));
  }
}

TEST_CASE("sources: synthetic lowrank has the power-law spectrum plus a noise floor") {
  const auto s = io::open_source("synthetic:lowrank:shape=64x96:rank=8:decay=1:noise=0.01:count=1");
  const Matrix w = s->load("synthetic.0.weight");
  Eigen::JacobiSVD<MatrixD> svd(w.cast<double>());
  const auto sv = svd.singularValues();
  for (int k = 1; k < 8; ++k) CHECK(sv(k) / sv(0) == Approx(1.0 / (k + 1)).epsilon(0.05));
  CHECK(sv(8) < 0.05 * sv(7));  // beyond the rank only the small noise
}

TEST_CASE("sources: synthetic student-t has heavier tails than gaussian") {
  auto kurtosis = [](const Matrix& m) {
    const double n = double(m.size());
    const double mean = m.sum() / n;
    const Eigen::ArrayXd x = (m.reshaped().cast<double>().array() - mean);
    return (x.square().square().sum() / n) / std::pow(x.square().sum() / n, 2);
  };
  const auto g = io::open_source("synthetic:gaussian:shape=200x200:count=1");
  const auto t = io::open_source("synthetic:student-t:shape=200x200:count=1:df=5");
  CHECK(kurtosis(g->load("synthetic.0.weight")) == Approx(3.0).margin(0.15));
  CHECK(kurtosis(t->load("synthetic.0.weight")) > 5.0);  // df=5: excess kurtosis 6 in theory
}

TEST_CASE("sources: synthetic option errors name the option and the valid ones") {
  CHECK_THROWS_WITH(io::open_source("synthetic:uniform"),
                    Catch::Contains("unknown kind 'uniform'") && Catch::Contains("student-t"));
  CHECK_THROWS_WITH(io::open_source("synthetic:gaussian:df=3"),
                    Catch::Contains("unknown option 'df=3'") && Catch::Contains("shape=256x256"));
  CHECK_THROWS_WITH(io::open_source("synthetic:gaussian:shape=12"), Catch::Contains("ROWSxCOLS"));
  CHECK_THROWS_WITH(io::open_source("synthetic:gaussian:count=0"),
                    Catch::Contains("positive integer"));
  CHECK_THROWS_WITH(io::open_source("synthetic:lowrank:shape=4x4:rank=5"),
                    Catch::Contains("rank=5"));
  CHECK_THROWS_WITH(io::open_source("synthetic:gaussian:std=abc"), Catch::Contains("not a number"));
}

TEST_CASE("sources: pretrained:NAME opens results::models_dir()/NAME/model.bin") {
  TempDir dir("pretrained");
  ::setenv("LOFTLAB_MODELS", dir.path().c_str(), 1);
  CHECK(results::pretrained_checkpoint("tiny") == dir / "tiny" / "model.bin");
  CHECK_THROWS_WITH(io::open_source("pretrained:tiny"), Catch::Contains("pretrained:tiny") &&
                                                            Catch::Contains("none") &&
                                                            Catch::Contains("pretrain"));
  const auto c = tiny_config(true);
  fs::create_directories(dir / "tiny");
  io::write_llama2c(results::pretrained_checkpoint("tiny"), c, [&](const std::string& n) {
    for (const auto& e : io::llama2c_layout(c))
      if (e.name == n) return ramp(e.shape.size() == 2 ? e.shape[0] : 1, e.shape.back(), 0.1f);
    return Matrix();
  });
  const auto src = io::open_source("pretrained:tiny");
  CHECK(src->describe() == "pretrained:tiny");
  CHECK(src->config()->dim == 8);
  CHECK_THROWS_WITH(io::open_source("pretrained:other"),
                    Catch::Contains("models in") && Catch::Contains("tiny"));
  CHECK_THROWS_WITH(io::open_source("pretrained:../x"), Catch::Contains("plain folder name"));
  ::unsetenv("LOFTLAB_MODELS");
}
