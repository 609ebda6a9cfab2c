// The stories260K test vectors of ../shared/data/README.md (an independent implementation of the
// same model), from the llama2.c checkpoint and from both Hugging Face folders.
#include "model/forward.hpp"
#include "model/generate.hpp"
#include "support.hpp"

using namespace loft;
using namespace loft::model;

namespace {

const std::vector<int32_t> kLily = {1,   403, 407, 261, 378, 432, 383, 286, 261, 376, 298,
                                    315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410,
                                    408, 419, 292, 411, 322, 265, 282, 295, 433, 426};
const std::vector<int32_t> kGreedy = {403, 407, 261, 378, 432, 383, 286, 261, 376, 298,
                                      315, 421, 395, 317, 426, 338, 401, 396, 267, 337,
                                      410, 408, 419, 292, 411, 322, 265, 282, 295, 433,
                                      426, 385, 328, 432, 358, 394, 261, 370, 432, 352};

double teacher_forced_nll(Llama<float>& m) {
  std::vector<int32_t> in(kLily.begin(), kLily.end() - 1), tg(kLily.begin() + 1, kLily.end());
  Workspace<float> ws;
  return forward<float>(m, ws, in, tg, 1, static_cast<int>(in.size()));
}

void check_f32_vectors(Llama<float>& m) {
  Workspace<float> ws;
  std::vector<int32_t> bos = {1};
  forward<float>(m, ws, bos, {}, 1, 1);
  const std::pair<int, float> top5[] = {
      {403, 17.0235f}, {385, 15.4062f}, {410, 13.1083f}, {317, 12.7692f}, {407, 12.4181f}};
  std::vector<int> order(m.cfg.vocab_size);
  for (int i = 0; i < m.cfg.vocab_size; ++i) order[i] = i;
  std::partial_sort(order.begin(), order.begin() + 5, order.end(),
                    [&](int a, int b) { return ws.logits(0, a) > ws.logits(0, b); });
  for (int i = 0; i < 5; ++i) {
    INFO("rank " << i);
    CHECK(order[i] == top5[i].first);
    CHECK(std::abs(ws.logits(0, top5[i].first) - top5[i].second) < 1e-4f);
  }
  CHECK(std::abs(teacher_forced_nll(m) - 0.180355) < 1e-4);
  CHECK(greedy(m, {1}, 40) == kGreedy);
}

}  // namespace

TEST_CASE("stories260K from llama2c: matches the test vectors (logits, NLL, greedy ids)") {
  LOFT_REQUIRE_DATA(data);
  auto m = load_llama("llama2c:" + (data / "stories260K.bin").string());
  CHECK_FALSE(m.cfg.rope_half_split);
  check_f32_vectors(m);
}

TEST_CASE("stories260K from hf: (half-split RoPE) matches the same test vectors") {
  LOFT_REQUIRE_DATA(data);
  auto m = load_llama("hf:" + (data / "stories260K-hf").string());
  CHECK(m.cfg.rope_half_split);
  check_f32_vectors(m);
}

TEST_CASE("stories260K from the BF16 folder decodes the same greedy ids") {
  LOFT_REQUIRE_DATA(data);
  auto m = load_llama("hf:" + (data / "stories260K-hf-bf16").string());
  CHECK(greedy(m, {1}, 40) == kGreedy);
  // BF16 rounding moves the NLL a little, not much.
  CHECK(std::abs(teacher_forced_nll(m) - 0.180355) < 0.05);
}

TEST_CASE("the batched forward of stories260K matches the per-token reference") {
  LOFT_REQUIRE_DATA(data);
  auto m = load_llama("llama2c:" + (data / "stories260K.bin").string());
  std::vector<int32_t> two(kLily.begin(), kLily.begin() + 16);
  two.insert(two.end(), kLily.begin() + 16, kLily.end());
  Workspace<float> ws;
  forward<float>(m, ws, two, {}, 2, 16);
  for (int b = 0; b < 2; ++b) {
    Mat<float> ref = reference_logits<float>(m, std::span<const int32_t>(two).subspan(b * 16, 16));
    CHECK((ws.logits.middleRows(b * 16, 16) - ref).cwiseAbs().maxCoeff() < 1e-4f);
  }
}
