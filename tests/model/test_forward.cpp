// The batched forward against the per-token reference, the two RoPE conventions against each
// other, and the adapter identity (B = 0 leaves the model unchanged).
#include "model/forward.hpp"
#include "support.hpp"
#include "tiny.hpp"

using namespace loft;
using namespace loft::model;

namespace {

std::vector<int32_t> random_tokens(int n, int vocab, uint64_t seed) {
  Rng rng = make_rng(seed, "tokens");
  std::uniform_int_distribution<int32_t> tok(0, vocab - 1);
  std::vector<int32_t> out(n);
  for (auto& t : out) t = tok(rng);
  return out;
}

// Hugging Face's permutation of q/k rows: row h*hs + 2i + j (adjacent pairs) moves to
// h*hs + j*hs/2 + i (half-split pairs).
Mat<float> permute_rows(const Mat<float>& w, int heads) {
  const int hs = static_cast<int>(w.rows()) / heads, half = hs / 2;
  Mat<float> out(w.rows(), w.cols());
  for (int h = 0; h < heads; ++h)
    for (int i = 0; i < half; ++i)
      for (int j = 0; j < 2; ++j) out.row(h * hs + j * half + i) = w.row(h * hs + 2 * i + j);
  return out;
}

}  // namespace

TEST_CASE("batched forward matches the per-token reference in both RoPE conventions") {
  for (bool half : {false, true})
    for (int rank : {0, 2}) {
      auto m = test::tiny_model<float>(test::tiny_config(half, rank == 0), 5, rank);
      const int batch = 3, seq = 7;
      auto tokens = random_tokens(batch * seq, m.cfg.vocab_size, 1);
      Workspace<float> ws;
      forward<float>(m, ws, tokens, {}, batch, seq);
      for (int b = 0; b < batch; ++b) {
        Mat<float> ref =
            reference_logits<float>(m, std::span<const int32_t>(tokens).subspan(b * seq, seq));
        Mat<float> got = ws.logits.middleRows(b * seq, seq);
        INFO("half_split " << half << " rank " << rank << " sequence " << b);
        CHECK((got - ref).cwiseAbs().maxCoeff() <
              1e-5f * std::max(1.0f, ref.cwiseAbs().maxCoeff()));
      }
    }
}

TEST_CASE("long sequences: causal attention blocks of rows match the reference") {
  // 150 positions: two full blocks of 64 query rows and a partial one.
  auto m = test::tiny_model<float>(test::tiny_config(true), 11, 2);
  m.cfg.seq_len = 256;
  auto tokens = random_tokens(2 * 150, m.cfg.vocab_size, 9);
  Workspace<float> ws;
  forward<float>(m, ws, tokens, {}, 2, 150);
  for (int b = 0; b < 2; ++b) {
    Mat<float> ref =
        reference_logits<float>(m, std::span<const int32_t>(tokens).subspan(b * 150, 150));
    CHECK((ws.logits.middleRows(b * 150, 150) - ref).cwiseAbs().maxCoeff() < 1e-4f);
  }
}

TEST_CASE("half-split RoPE with permuted q/k rows computes the same model as adjacent pairs") {
  auto adj = test::tiny_model<float>(test::tiny_config(false), 6, 0);
  auto hf = adj;
  hf.cfg.rope_half_split = true;
  for (size_t l = 0; l < adj.layers.size(); ++l) {
    hf.layers[l].q.weight.value = permute_rows(adj.layers[l].q.weight.value, adj.cfg.n_heads);
    hf.layers[l].k.weight.value = permute_rows(adj.layers[l].k.weight.value, adj.cfg.n_kv_heads);
  }
  auto tokens = random_tokens(2 * 9, adj.cfg.vocab_size, 2);
  Workspace<float> wa, wh;
  forward<float>(adj, wa, tokens, {}, 2, 9);
  forward<float>(hf, wh, tokens, {}, 2, 9);
  CHECK((wa.logits - wh.logits).cwiseAbs().maxCoeff() < 1e-5f);
  // Without the permutation the conventions differ: the test can tell them apart.
  hf.layers = adj.layers;
  forward<float>(hf, wh, tokens, {}, 2, 9);
  CHECK((wa.logits - wh.logits).cwiseAbs().maxCoeff() > 1e-3f);
}

TEST_CASE("an adapter with B = 0 leaves the loss exactly that of the base model") {
  auto base = test::tiny_model<float>(test::tiny_config(), 7, 0);
  auto adapted = test::tiny_model<float>(test::tiny_config(), 7, 4);
  for (size_t i = 0; i < base.params().size(); ++i) {
    auto* p = adapted.params()[i];
    (void)p;
  }
  // Same base weights, norms and embeddings; adapters with random A and zero B.
  auto bp = base.linears();
  auto ap = adapted.linears();
  for (size_t i = 0; i < bp.size(); ++i) {
    ap[i]->weight.value = bp[i]->weight.value;
    ap[i]->B.value.setZero();
  }
  adapted.embed.value = base.embed.value;
  adapted.norm.value = base.norm.value;
  for (size_t l = 0; l < base.layers.size(); ++l) {
    adapted.layers[l].attn_norm.value = base.layers[l].attn_norm.value;
    adapted.layers[l].ffn_norm.value = base.layers[l].ffn_norm.value;
  }
  auto inputs = random_tokens(2 * 8, base.cfg.vocab_size, 3);
  auto targets = random_tokens(2 * 8, base.cfg.vocab_size, 4);
  Workspace<float> wb, wa;
  const float lb = forward<float>(base, wb, inputs, targets, 2, 8);
  const float la = forward<float>(adapted, wa, inputs, targets, 2, 8);
  CHECK(la == lb);
  // ... and training moves it: B gets a nonzero gradient through A.
  set_trainable(adapted, TrainMode::adapters);
  zero_grads(adapted);
  backward(adapted, wa);
  CHECK(adapted.layers[0].q.B.grad.norm() > 0);
  CHECK(adapted.layers[0].q.A.grad.norm() == 0);  // dA = s B^T (...) vanishes with B = 0
}

TEST_CASE("cross-entropy is the mean negative log-softmax over counted targets") {
  auto m = test::tiny_model<double>(test::tiny_config(), 8, 0);
  auto inputs = random_tokens(6, m.cfg.vocab_size, 5);
  std::vector<int32_t> targets = {3, -1, 7, 0, -1, 10};
  Workspace<double> ws;
  const double loss = forward<double>(m, ws, inputs, targets, 1, 6);
  Mat<double> ref = reference_logits<double>(m, inputs);
  double want = 0;
  int n = 0;
  for (int i = 0; i < 6; ++i) {
    if (targets[i] < 0) continue;
    const double mx = ref.row(i).maxCoeff();
    want -= ref(i, targets[i]) - mx - std::log((ref.row(i).array() - mx).exp().sum());
    ++n;
  }
  CHECK(ws.counted == 4);
  CHECK(loss == Approx(want / n).epsilon(1e-12));
}

TEST_CASE("forward rejects bad shapes and token ids, naming the value") {
  auto m = test::tiny_model<float>(test::tiny_config(), 9, 0);
  Workspace<float> ws;
  std::vector<int32_t> t = {1, 2, 3, 4};
  CHECK_THROWS_WITH(forward<float>(m, ws, t, {}, 3, 2), Catch::Contains("batch 3 x seq 2"));
  std::vector<int32_t> bad = {1, 2, 99, 4};
  CHECK_THROWS_WITH(forward<float>(m, ws, bad, {}, 1, 4), Catch::Contains("token id 99"));
  std::vector<int32_t> none = {-1, -1, -1, -1};
  CHECK_THROWS_WITH(forward<float>(m, ws, t, none, 1, 4), Catch::Contains("no target"));
}
