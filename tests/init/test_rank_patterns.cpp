// Rank choices (fixed, energy) and per-tensor rules (globs -> quantizer / rank).
#include <Eigen/SVD>
#include <random>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "init/patterns.hpp"
#include "init/rank.hpp"
#include "lowrank/svd.hpp"
#include "support.hpp"

using namespace loft;
using namespace loft::init;

TEST_CASE("rank specs: fixed and energy, round trip and errors", "[init]") {
  CHECK(parse_rank("64").fixed == 64);
  CHECK(parse_rank("energy:0.5").energy == 0.5);
  for (const char* s : {"8", "energy:0.5", "energy:1", "energy:0.25"})
    CHECK(format(parse_rank(s)) == s);
  for (const char* bad : {"0", "-3", "x", "8.5", "energy:0", "energy:1.5", "energy:", "energy:a"})
    CHECK_THROWS_WITH(parse_rank(bad), Catch::Contains(bad) && Catch::Contains("valid"));
}

TEST_CASE("energy_rank is the smallest r reaching the energy fraction", "[init]") {
  Eigen::VectorXf v(4);
  v << 3, 2, 1, 1;                   // energies 9, 4, 1, 1 of 15
  CHECK(energy_rank(v, 0.5) == 1);   // 9/15 = 0.6
  CHECK(energy_rank(v, 0.61) == 2);  // 13/15
  CHECK(energy_rank(v, 0.9) == 3);   // 14/15
  CHECK(energy_rank(v, 1.0) == 4);
}

TEST_CASE("resolve_rank with energy uses the spectrum of W - q(W)", "[init]") {
  Rng rng = make_rng(1, "test");
  std::normal_distribution<float> d(0.0f, 0.02f);
  Matrix w(64, 48);
  for (Eigen::Index i = 0; i < w.size(); ++i) w.data()[i] = d(rng);
  const quant::Spec q = quant::parse("nf2");
  const int r = resolve_rank(parse_rank("energy:0.5"), w, q);
  const Eigen::VectorXd s =
      Eigen::JacobiSVD<Eigen::MatrixXd>((w - quant::fake_quantize(q, w)).cast<double>())
          .singularValues();
  const double total = s.squaredNorm();
  CHECK(s.head(r).squaredNorm() >= 0.5 * total);
  CHECK(s.head(r - 1).squaredNorm() < 0.5 * total);
  CHECK(resolve_rank(parse_rank("12"), w, q) == 12);
}

TEST_CASE("per-tensor quantizers: the LoftQ mixed-precision line", "[init]") {
  const auto rules = parse_quant_rules("model.layers.{0..1}.* = nf4; *=nf2");
  CHECK(quant::format(rules.at("model.layers.0.self_attn.q_proj.weight")) == "nf4");
  CHECK(quant::format(rules.at("model.layers.1.mlp.down_proj.weight")) == "nf4");
  CHECK(quant::format(rules.at("model.layers.2.mlp.down_proj.weight")) == "nf2");
  CHECK(format(rules) == "model.layers.{0..1}.*=nf4; nf2");
  CHECK(format(parse_quant_rules(format(rules))) == format(rules));
  // commas are accepted where nothing else splits on them
  CHECK(format(parse_quant_rules("model.layers.[0-1].*=nf4,*=nf2")) ==
        "model.layers.[0-1].*=nf4; nf2");
  CHECK(quant::format(parse_quant_rules("nf3").at("anything")) == "nf3");
}

TEST_CASE("per-tensor ranks and rule errors", "[init]") {
  const auto ranks = parse_rank_rules("*q_proj*=16; *mlp*=energy:0.5; 8");
  CHECK(ranks.at("model.layers.0.self_attn.q_proj.weight").fixed == 16);
  CHECK(ranks.at("model.layers.0.mlp.up_proj.weight").energy == 0.5);
  CHECK(ranks.at("lm_head.weight").fixed == 8);
  CHECK(format(ranks) == "*q_proj*=16; *mlp*=energy:0.5; 8");
  CHECK_THROWS_WITH(parse_rank_rules("*q_proj*=16").at("model.layers.0.mlp.up_proj.weight"),
                    Catch::Contains("up_proj") && Catch::Contains("*q_proj*"));
  CHECK_THROWS_WITH(parse_quant_rules("*=nf5"), Catch::Contains("*=nf5"));
  CHECK_THROWS_WITH(parse_quant_rules("a=nf4;;nf2"), Catch::Contains("empty rule"));
  CHECK_THROWS_WITH(parse_quant_rules("=nf4"), Catch::Contains("GLOB=VALUE"));
  CHECK_THROWS_WITH(parse_rank_rules("*=0"), Catch::Contains("*=0"));
}

TEST_CASE("only a bare value is a single value; one rule with a glob is a rule", "[init]") {
  CHECK(parse_rank_rules("5").single()->fixed == 5);
  CHECK(parse_rank_rules(" * = 5 ").single()->fixed == 5);
  CHECK(parse_rank_rules("synthetic.0.weight=5").single() == nullptr);
  CHECK(parse_rank_rules("a=5; 4").single() == nullptr);
  CHECK(parse_quant_rules("nf2").single()->bits == 2);
  CHECK(parse_quant_rules("*proj*=nf2").single() == nullptr);
}
