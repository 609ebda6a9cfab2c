// Per-tensor rank and quant rules in the experiments' normalisation: a rule is a rule however many
// there are. Only a bare value (the glob '*') is a plain rank or a single quantizer, so
// "synthetic.0.weight=5" is a different point from "5", and a tensor no rule matches fails.
#include "common/error.hpp"
#include "experiments/experiment.hpp"
#include "io/io_test_util.hpp"
#include "io/llama2c.hpp"
#include "model/tiny.hpp"
#include "support.hpp"
#include "sweep/point.hpp"

using namespace loft;
using Catch::Matchers::Contains;

namespace {

exp::Params normalise(const char* experiment, std::map<std::string, std::string> set) {
  const auto& e = exp::find_experiment(experiment);
  std::map<std::string, std::string> raw;
  for (const auto& k : e.keys) raw[k.name] = k.default_value;
  for (auto& [k, v] : set) raw[k] = v;
  return e.normalise(raw);
}

}  // namespace

TEST_CASE("residual: a one-rule rank or quant list with a glob is a rule", "[residual][rules]") {
  const std::string src = "synthetic:gaussian:shape=32x32:count=2";
  auto norm = [&](const char* rank, const char* quant) {
    return normalise("residual", {{"source", src}, {"rank", rank}, {"quant", quant}});
  };
  const auto plain = norm("5", "nf2");
  CHECK(std::get<int64_t>(plain.at("rank")) == 5);
  CHECK(std::get<int64_t>(plain.at("bits")) == 2);
  CHECK(norm("*=5", "*=nf2") == plain);  // '*' is the bare value

  const auto rule = norm("synthetic.0.weight=5", "nf2");
  CHECK(std::get<std::string>(rule.at("rank")) == "synthetic.0.weight=5");
  CHECK(sweep::point_id(rule) != sweep::point_id(plain));
  const auto quant_rule = norm("5", "synthetic.0.weight=nf2");
  CHECK(std::get<std::string>(quant_rule.at("quant")) == "synthetic.0.weight=nf2");
  CHECK(quant_rule.count("bits") == 0);  // not every tensor has that width

  // synthetic.1.weight matches no rule: the point fails, naming it, instead of using rank 5.
  const auto& residual = exp::find_experiment("residual");
  CHECK_THROWS_WITH(residual.run(rule, {}),
                    Contains("synthetic.1.weight") && Contains("no rule matches"));
  CHECK_THROWS_WITH(residual.run(quant_rule, {}),
                    Contains("synthetic.1.weight") && Contains("no rule matches"));
  // A glob that matches every tensor is still a rule (its own point), and runs.
  const auto all = norm("synthetic.*=5", "nf2");
  CHECK(sweep::point_id(all) != sweep::point_id(plain));
  CHECK(residual.run(all, {}).status == "complete");
}

TEST_CASE("finetune: a one-rule rank list with a glob is a rule", "[finetune][rules]") {
  test::TempDir dir("rules");
  io::LlamaConfig c = test::tiny_config();
  c.vocab_size = 258;  // the byte tokenizer's
  const auto m = model::make_llama<float>(c);
  std::map<std::string, Matrix> w;
  for (auto* p : const_cast<model::Llama<float>&>(m).params())
    w[p->name] = Matrix::Constant(p->value.rows(), p->value.cols(), 0.01f);
  io::write_llama2c(dir / "m.bin", c, [&](const std::string& n) { return w.at(n); });
  auto norm = [&](const char* rank, const char* quant) {
    return normalise("finetune", {{"model", "llama2c:" + (dir / "m.bin").string()},
                                  {"tokenizer", "byte"},
                                  {"method", "loftq"},
                                  {"rank", rank},
                                  {"quant", quant}});
  };
  const auto plain = norm("4", "nf4");
  CHECK(std::get<int64_t>(plain.at("rank")) == 4);
  CHECK(std::get<int64_t>(plain.at("bits")) == 4);
  CHECK(norm("*=4", "*=nf4") == plain);
  const auto rule = norm("model.layers.0.*=4", "nf4");
  CHECK(std::get<std::string>(rule.at("rank")) == "model.layers.0.*=4");
  CHECK(sweep::point_id(rule) != sweep::point_id(plain));
  CHECK(norm("4", "model.layers.0.*=nf4").count("bits") == 0);
}
