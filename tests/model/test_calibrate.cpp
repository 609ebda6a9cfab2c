// Calibration statistics: H against the layer inputs recomputed independently, the Fisher
// against squared finite-difference gradients, passes and batching that do not change H, and
// the file's round trip and key check.
#include <cmath>
#include <filesystem>

#include "common/error.hpp"
#include "model/adapters.hpp"
#include "model/calibrate.hpp"
#include "model/forward.hpp"
#include "model/train.hpp"
#include "support.hpp"
#include "tiny.hpp"

using namespace loft;
using namespace loft::model;

namespace {

std::vector<int32_t> token_stream(int n, int vocab) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) t[static_cast<size_t>(i)] = (i * 7 + i / 5) % vocab;
  return t;
}

CalibKey tiny_key(int64_t tokens, int seq_len, bool fisher) {
  CalibKey k;
  k.model = "tiny";
  k.corpus = "synthetic";
  k.tokenizer = "none";
  k.tokens = tokens;
  k.seq_len = seq_len;
  k.seed = 4;
  k.fisher = fisher;
  return k;
}

double rel(const MatrixD& a, const MatrixD& b) {
  return (a - b).norm() / b.norm();
}

}  // namespace

TEST_CASE("calibrate: layer 0's q/k/v H is X^T X of the normed embeddings", "[calibrate]") {
  auto m = test::tiny_model<float>(test::tiny_config(), 1, 0);
  const auto tokens = token_stream(400, m.cfg.vocab_size);
  const CalibKey key = tiny_key(48, 8, false);  // 6 sequences, in batches of 4 and 2
  CalibOptions o;
  o.batch = 4;
  const CalibStats s = calibrate_model(m, tokens, key, o);
  CHECK(s.tokens_used == 48);
  // The same windows, and layer 0's attention input from scratch: RMSNorm of embedding rows.
  std::vector<int32_t> in, tg;
  MatrixD want = MatrixD::Zero(m.cfg.dim, m.cfg.dim);
  for (int b = 0; b < 2; ++b) {
    sample_batch(tokens, b == 0 ? 4 : 2, 8, key.seed, b, in, tg);
    for (int32_t t : in) {
      Eigen::VectorXd x = m.embed.value.row(t).transpose().cast<double>();
      const double r = 1 / std::sqrt(x.squaredNorm() / double(x.size()) + m.cfg.norm_eps);
      x = (x * r).cwiseProduct(m.layers[0].attn_norm.value.row(0).transpose().cast<double>());
      want += x * x.transpose();
    }
  }
  const auto q = m.layers[0].q.weight.name;
  REQUIRE(s.h.count(q));
  CHECK(rel(s.h.at(q), want) < 1e-5);
  CHECK(s.layer(m.layers[0].k.weight.name).h == s.layer(q).h);  // shared input
  CHECK(s.layer(m.layers[1].up.weight.name).h == s.layer(m.layers[1].gate.weight.name).h);
  CHECK(s.h.size() == 8);  // 4 inputs x 2 layers
  CHECK(s.fisher.empty());

  CHECK(s.passes == 1);  // the default budget holds both layers

  // One layer per pass, asked for or forced by the memory budget: the same sums.
  o.layers_per_pass = 1;
  o.batch = 4;
  const CalibStats p = calibrate_model(m, tokens, key, o);
  CHECK(p.passes == 2);
  for (const auto& [name, h] : s.h) CHECK(rel(p.h.at(name), h) < 1e-12);
  o.layers_per_pass = 0;
  o.stats_bytes = 1;
  const CalibStats b = calibrate_model(m, tokens, key, o);
  CHECK(b.passes == 2);
  for (const auto& [name, h] : s.h) CHECK(b.h.at(name) == p.h.at(name));
}

TEST_CASE("calibrate: the Fisher is the squared gradient, checked by finite differences",
          "[calibrate]") {
  auto m = test::tiny_model<float>(test::tiny_config(), 2, 0);
  const auto tokens = token_stream(300, m.cfg.vocab_size);
  CalibOptions o;
  o.batch = 3;
  const CalibKey key = tiny_key(24, 8, true);  // one batch: the mean is that batch's square
  const CalibStats s = calibrate_model(m, tokens, key, o);
  REQUIRE(s.fisher.size() == 14);
  std::vector<int32_t> in, tg;
  sample_batch(tokens, 3, 8, key.seed, 0, in, tg);
  auto md = cast_llama<double>(m);
  Workspace<double> ws;
  const double eps = 1e-6;
  for (auto* lin : md.linears()) {
    const MatrixD& f = s.fisher.at(lin->weight.name);
    for (Eigen::Index i = 0; i < lin->weight.value.size(); i += 7) {
      double& w = lin->weight.value.data()[i];
      const double keep = w;
      w = keep + eps;
      const double lp = forward<double>(md, ws, in, tg, 3, 8);
      w = keep - eps;
      const double lm = forward<double>(md, ws, in, tg, 3, 8);
      w = keep;
      const double g = (lp - lm) / (2 * eps);
      INFO(lin->weight.name << "[" << i << "]");
      CHECK(f.data()[i] == Approx(g * g).epsilon(2e-3).margin(1e-9));
    }
  }
}

TEST_CASE("calibration file: round trip, reuse, and a key mismatch named", "[calibrate]") {
  auto m = test::tiny_model<float>(test::tiny_config(), 3, 0);
  const auto tokens = token_stream(300, m.cfg.vocab_size);
  const CalibKey key = tiny_key(16, 8, true);
  const CalibStats s = calibrate_model(m, tokens, key);
  const auto dir = std::filesystem::temp_directory_path() / "loftlab_test_calibrate";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto path = dir / "calib.h5";
  write_calibration(s, path);
  const CalibStats r = read_calibration(path);
  CHECK(r.key.model == "tiny");
  CHECK(r.key.seed == 4);
  CHECK(r.tokens_used == 16);
  CHECK(r.h == s.h);
  CHECK(r.fisher == s.fisher);
  bool computed = true;
  load_or_calibrate(key, path, {}, &computed);  // the file is there: reused, model never loaded
  CHECK_FALSE(computed);
  CalibKey other = key;
  other.corpus = "kjv";
  CHECK_THROWS_WITH(load_or_calibrate(other, path),
                    Catch::Contains("corpus 'synthetic', not 'kjv'"));
  other = key;
  other.tokens = 32;
  CHECK_THROWS_WITH(check_key(r.key, other, path), Catch::Contains("tokens '16', not '32'"));
  std::filesystem::remove_all(dir);
}

TEST_CASE(
    "quantized inputs: each block's H comes from the model whose earlier blocks hold their init",
    "[calibrate]") {
  const auto base = test::tiny_model<float>(test::tiny_config(), 3, 0);
  const auto tokens = token_stream(400, base.cfg.vocab_size);
  const CalibKey key = tiny_key(64, 8, false);
  AdapterSpec spec;
  spec.method = "qera";
  spec.quant = "nf2:b8";
  spec.rank = "2";
  spec.weight = init::Weight::act;

  auto m = base;
  CalibStats got;
  const auto sum = attach_adapters_on_quantized_inputs(m, spec, tokens, key, got);
  CHECK(sum.tensors == 14);
  CHECK(got.h.size() == 8);
  CHECK(got.tokens_used == 64);
  CHECK(std::isfinite(sum.residual_act));

  // The reference, step by step: block l's statistics from calibrate_model of the model as it
  // stands, then block l initialised with them by attach_adapters.
  auto ref = base;
  auto fp = base;
  const CalibStats floating = calibrate_model(fp, tokens, key);
  for (int l = 0; l < 2; ++l) {
    CalibOptions o;
    o.only_layer = l;
    const CalibStats s = calibrate_model(ref, tokens, key, o);
    CHECK(s.h.size() == 4);  // this block's four inputs only
    for (const auto& [name, h] : s.h) {
      REQUIRE(got.h.count(name));
      CHECK(got.h.at(name) == h);
      // Block 0 sees the unquantised model; block 1 sees block 0's initialisation.
      if (l == 0) CHECK(h == floating.h.at(name));
      if (l == 1) CHECK(rel(h, floating.h.at(name)) > 1e-4);
    }
    AdapterSpec one = spec;
    one.stats = &s;
    one.layer = l;
    CHECK(attach_adapters(ref, one).tensors == 7);
  }
  const auto a = m.linears(), b = ref.linears();
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i]->weight.value == b[i]->weight.value);
    CHECK(a[i]->A.value == b[i]->A.value);
    CHECK(a[i]->B.value == b[i]->B.value);
  }
}
