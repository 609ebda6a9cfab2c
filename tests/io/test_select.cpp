// Layer selection by globs and the default linear-weights rule.
#include "common/error.hpp"
#include "io/select.hpp"
#include "support.hpp"

using namespace loft;

namespace {

std::vector<io::TensorInfo> llama_tensors() {
  std::vector<io::TensorInfo> t = {{"model.embed_tokens.weight", {512, 64}, "F32"}};
  for (int i = 0; i < 2; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    t.push_back({p + "input_layernorm.weight", {64}, "F32"});
    for (const char* n : {"q", "k", "v", "o"})
      t.push_back({p + "self_attn." + n + "_proj.weight", {64, 64}, "F32"});
    t.push_back({p + "post_attention_layernorm.weight", {64}, "F32"});
    for (const char* n : {"gate", "up", "down"})
      t.push_back({p + "mlp." + n + "_proj.weight", {172, 64}, "F32"});
  }
  t.push_back({"model.norm.weight", {64}, "F32"});
  t.push_back({"lm_head.weight", {512, 64}, "F32"});
  return t;
}

std::vector<std::string> names(const std::vector<io::TensorInfo>& t) {
  std::vector<std::string> out;
  for (const auto& x : t) out.push_back(x.name);
  return out;
}

}  // namespace

TEST_CASE("select: layer globs take integer ranges, as quantizer rules do") {
  const auto all = llama_tensors();
  CHECK(names(io::select_tensors(all, "model.layers.{1..1}.*")).size() == 7);
  CHECK(names(io::select_tensors(all, "model.layers.{0..1}.self_attn.q_proj.weight")) ==
        std::vector<std::string>{"model.layers.0.self_attn.q_proj.weight",
                                 "model.layers.1.self_attn.q_proj.weight"});
  // A range is a wildcard, so norms stay out unless the glob names them.
  CHECK(names(io::select_tensors(all, "model.layers.{0..1}.*norm*")).size() == 4);
  CHECK_THROWS_WITH(io::select_tensors(all, "model.layers.{2..9}.*"),
                    Catch::Contains("'model.layers.{2..9}.*' matches no tensor"));
}

TEST_CASE("select: default and wildcard globs take linear weights only") {
  const auto all = llama_tensors();
  const auto lin = io::select_tensors(all, "");
  CHECK(lin.size() == 2 * 7 + 1);  // 7 projections per layer + lm_head
  CHECK(names(io::select_tensors(all, "*")) == names(lin));
  for (const auto& t : lin) CHECK(io::is_linear_weight(t));
  CHECK(names(io::select_tensors(all, "*proj*")).size() == 14);
  CHECK(names(io::select_tensors(all, " *q_proj* , model.layers.1.mlp.down_proj.weight ")) ==
        std::vector<std::string>{"model.layers.0.self_attn.q_proj.weight",
                                 "model.layers.1.self_attn.q_proj.weight",
                                 "model.layers.1.mlp.down_proj.weight"});
  // Overlapping globs select each tensor once, in source order.
  CHECK(io::select_tensors(all, "*mlp*,*up_proj*").size() == 6);
}

TEST_CASE("select: embeddings and norms only when a glob names them") {
  const auto all = llama_tensors();
  CHECK(names(io::select_tensors(all, "*embed*")) ==
        std::vector<std::string>{"model.embed_tokens.weight"});
  CHECK(io::select_tensors(all, "*norm*").size() == 5);  // 2 per layer + final
  CHECK(names(io::select_tensors(all, "model.norm.weight")) ==
        std::vector<std::string>{"model.norm.weight"});
  CHECK(io::select_tensors(all, "*,*embed_tokens*").size() == 16);
  CHECK_THROWS_WITH(io::select_tensors(all, "model.*.weight,model.n*"),
                    Catch::Contains("'model.n*'") && Catch::Contains("model.norm.weight") &&
                        Catch::Contains("names them"));
}

TEST_CASE("select: a glob that matches nothing names itself and lists tensors") {
  const auto all = llama_tensors();
  CHECK_THROWS_WITH(io::select_tensors(all, "*proj*, *attention.wq*"),
                    Catch::Contains("'*attention.wq*' matches no tensor") &&
                        Catch::Contains("model.embed_tokens.weight [512x64]") &&
                        Catch::Contains("tensors in all"));
}

TEST_CASE("select: all-linear is every linear weight but the output head, as PEFT's") {
  const auto all = llama_tensors();
  const auto sel = names(io::select_tensors(all, "all-linear"));
  CHECK(sel == names(io::select_tensors(all, "*proj*")));
  // With another glob it adds to it; it is a keyword only as a whole entry.
  CHECK(names(io::select_tensors(all, "all-linear, lm_head.weight")) ==
        names(io::select_tensors(all, "*")));
  CHECK_THROWS_WITH(io::select_tensors(all, "all-linear*"), Catch::Contains("matches no tensor"));
  // The llama2c-style head name is left out too; a source of heads alone selects nothing.
  const std::vector<io::TensorInfo> heads = {{"output.weight", {512, 64}, "F32"},
                                             {"tok_embeddings.weight", {512, 64}, "F32"}};
  CHECK_THROWS_WITH(io::select_tensors(heads, "all-linear"),
                    Catch::Contains("no linear weight besides an output head"));
}
