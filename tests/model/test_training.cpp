// AdamW, the schedule, batching, the training loop and adapter attachment.
#include <cmath>

#include "model/adapters.hpp"
#include "model/forward.hpp"
#include "model/train.hpp"
#include "quant/quantizer.hpp"
#include "support.hpp"
#include "tiny.hpp"

using namespace loft;
using namespace loft::model;

TEST_CASE("the schedule warms up linearly, then decays by a cosine to min_lr_ratio * lr") {
  AdamWConfig c;
  c.lr = 0.01;
  c.warmup = 4;
  c.total_steps = 20;
  c.min_lr_ratio = 0.1;
  CHECK(schedule_lr(c, 0) == Approx(0.0025));
  CHECK(schedule_lr(c, 3) == Approx(0.01));
  CHECK(schedule_lr(c, 4) == Approx(0.01));
  CHECK(schedule_lr(c, 19) == Approx(0.001));
  const double mid = 4 + (19 - 4) / 2.0;
  CHECK(schedule_lr(c, static_cast<int>(mid)) < 0.01);
  for (int t = 5; t < 20; ++t) CHECK(schedule_lr(c, t) < schedule_lr(c, t - 1));
}

TEST_CASE("AdamW: bias-corrected first step, decoupled weight decay, clipping") {
  auto m = test::tiny_model<float>(test::tiny_config(), 1, 0);
  set_trainable(m, TrainMode::full);
  zero_grads(m);
  AdamWConfig c;
  c.lr = 0.1;
  c.weight_decay = 0.5;
  c.clip = 0;
  c.min_lr_ratio = 1;
  const Mat<float> w0 = m.layers[0].q.weight.value, n0 = m.norm.value;
  m.layers[0].q.weight.grad(0, 0) = 3.0f;
  m.layers[0].q.weight.grad(0, 1) = -0.001f;
  AdamW opt(m, c);
  opt.step();
  const Mat<float>& w = m.layers[0].q.weight.value;
  // m_hat / sqrt(v_hat) = g / |g| on the first step, whatever |g|; decay is lr * wd * w.
  CHECK(w(0, 0) == Approx(w0(0, 0) * (1 - 0.05) - 0.1).epsilon(1e-5));
  CHECK(w(0, 1) == Approx(w0(0, 1) * (1 - 0.05) + 0.1).epsilon(1e-5));
  CHECK(w(1, 1) == Approx(w0(1, 1) * (1 - 0.05)).epsilon(1e-6));  // zero gradient: decay only
  CHECK((m.norm.value - n0).norm() == 0);                         // norms are not decayed

  // Clipping scales the gradient to the clip norm before the moments see it.
  auto m2 = test::tiny_model<float>(test::tiny_config(), 1, 0);
  set_trainable(m2, TrainMode::full);
  zero_grads(m2);
  m2.embed.grad(0, 0) = 30.0f;
  m2.embed.grad(0, 1) = 40.0f;
  c.clip = 5.0;
  AdamW opt2(m2, c);
  CHECK(opt2.step() == Approx(50.0));
  CHECK(opt2.m[0](0, 0) == Approx((1 - c.beta1) * 3.0));
  CHECK(opt2.m[0](0, 1) == Approx((1 - c.beta1) * 4.0));
}

TEST_CASE("batches are fixed by (seed, step) and targets are inputs shifted by one") {
  std::vector<int32_t> tokens(500);
  for (int i = 0; i < 500; ++i) tokens[i] = i % 11;
  std::vector<int32_t> a, at, b, bt, c, ct;
  sample_batch(tokens, 4, 16, 3, 7, a, at);
  sample_batch(tokens, 4, 16, 3, 7, b, bt);
  sample_batch(tokens, 4, 16, 3, 8, c, ct);
  CHECK(a == b);
  CHECK(at == bt);
  CHECK(a != c);
  for (size_t i = 0; i < a.size(); ++i) CHECK(at[i] == (a[i] + 1) % 11);
  std::vector<int32_t> tiny(10);
  CHECK_THROWS_WITH(sample_batch(tiny, 1, 16, 0, 0, a, at), Catch::Contains("fewer than seq_len"));
}

TEST_CASE("training learns a periodic sequence, in full and in LoRA mode") {
  std::vector<int32_t> tokens(2000);
  for (int i = 0; i < 2000; ++i) tokens[i] = (i * 7 + i / 5) % 11;
  for (TrainMode mode : {TrainMode::full, TrainMode::adapters}) {
    auto m = test::tiny_model<float>(test::tiny_config(), 2, mode == TrainMode::full ? 0 : 4, 0.2);
    if (mode == TrainMode::adapters)
      for (auto* l : m.linears()) l->B.value.setZero();  // LoRA starts at the base model
    set_trainable(m, mode);
    TrainConfig tc;
    tc.steps = 150;
    tc.batch = 8;
    tc.seq_len = 12;
    tc.opt.lr = 0.03;
    tc.opt.warmup = 5;
    tc.eval_every = 50;
    AdamW opt(m, tc.opt);
    const double before = evaluate(m, tokens, 12, 8, 240);
    auto curves = train(m, opt, tokens, tokens, tc);
    INFO("mode " << (mode == TrainMode::full ? "full" : "lora") << " before " << before << " after "
                 << curves.eval_loss.back());
    CHECK_FALSE(curves.diverged);
    CHECK(curves.loss.size() == 150);
    CHECK(curves.eval_step == std::vector<double>{50, 100, 150});
    // A frozen random base with rank-4 adapters learns less than full training, but still much.
    CHECK(curves.eval_loss.back() < (mode == TrainMode::full ? 0.5 : 0.75) * before);
    CHECK(curves.tokens_per_s > 0);
  }
}

TEST_CASE("attach_adapters: qlora starts at q(W) with B = 0; loftq starts closer to W") {
  auto base = test::tiny_model<float>(test::tiny_config(), 3, 0);
  std::vector<int32_t> in = {1, 2, 3, 4, 5, 6, 7, 8}, tg = {2, 3, 4, 5, 6, 7, 8, 9};
  Workspace<float> ws;

  auto qlora = base;
  AdapterSpec spec;
  spec.method = "qlora";
  spec.quant = "nf2:b32";
  spec.rank = "2";
  auto s = attach_adapters(qlora, spec);
  CHECK(s.tensors == 14);
  auto fq = base;
  for (auto* l : fq.linears())
    l->weight.value = quant::fake_quantize(quant::parse("nf2:b32"), l->weight.value);
  for (auto* l : qlora.linears()) CHECK(l->B.value.norm() == 0);
  CHECK(forward<float>(qlora, ws, in, tg, 1, 8) == forward<float>(fq, ws, in, tg, 1, 8));

  auto loftq = base;
  spec.method = "loftq";
  spec.steps = 2;
  auto s2 = attach_adapters(loftq, spec);
  CHECK(s2.residual_rel < s.residual_rel);
  CHECK(s2.bits_per_weight == Approx(s.bits_per_weight));

  auto partial = base;
  spec.targets = "*mlp*";
  CHECK(attach_adapters(partial, spec).tensors == 6);
  CHECK_FALSE(partial.layers[0].q.has_adapter());
  CHECK(partial.layers[0].q.weight.value == base.layers[0].q.weight.value);
  spec.targets = "*attn*, *nothing*";
  CHECK_THROWS_WITH(attach_adapters(partial, spec), Catch::Contains("'*nothing*'"));
}

TEST_CASE("stories260K at 2 bits: LoftQ's initial model predicts better than QLoRA's") {
  LOFT_REQUIRE_DATA(data);
  auto base = load_llama("llama2c:" + (data / "stories260K.bin").string());
  std::vector<int32_t> lily = {1,   403, 407, 261, 378, 432, 383, 286, 261, 376, 298,
                               315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410,
                               408, 419, 292, 411, 322, 265, 282, 295, 433, 426};
  std::vector<int32_t> in(lily.begin(), lily.end() - 1), tg(lily.begin() + 1, lily.end());
  auto nll = [&](const std::string& method) {
    auto m = base;
    AdapterSpec spec;
    spec.method = method;
    spec.quant = "nf2";
    spec.rank = "8";
    spec.steps = 1;
    attach_adapters(m, spec);
    Workspace<float> ws;
    return forward<float>(m, ws, in, tg, 1, static_cast<int>(in.size()));
  };
  const double q = nll("qlora"), l = nll("loftq"), lora = nll("lora");
  INFO("qlora " << q << " loftq " << l << " lora " << lora);
  CHECK(l < q);
  CHECK(std::abs(lora - 0.180355) < 1e-4);  // lora does not quantise: B = 0 is the base model
}
