// Allocations over real cost tables: never worse than a uniform choice of the same storage, and
// the same whatever the thread count.
#include <catch2/catch.hpp>

#include <map>

#include "alloc/allocate.hpp"
#include "alloc/storage.hpp"
#include "common/error.hpp"
#include "support.hpp"

using namespace loft;
using namespace loft::alloc;

namespace {

struct Model {
  std::vector<TensorInfo> tensors;
  std::map<std::string, Matrix> weights;
};

// Tensors of different shapes and spreads, so that bits matter more for some than others.
Model small_model() {
  Model m;
  const int shapes[][2] = {{64, 64}, {32, 64}, {64, 128}, {128, 64}, {64, 64}};
  for (int i = 0; i < 5; ++i) {
    const std::string name = "layers." + std::to_string(i) + ".weight";
    m.tensors.push_back({name, shapes[i][0], shapes[i][1]});
    m.weights[name] = test::gaussian(shapes[i][0], shapes[i][1], 100 + i, 0.02f * (i + 1));
  }
  return m;
}

CostTable table_of(const Model& m, const BudgetSpec& b, const std::string& method, int threads) {
  CostSettings s;
  s.method = method;
  s.rank = init::parse_rank_rules("4");
  s.threads = threads;
  return compute_costs(
      m.tensors, [&](const std::string& n) { return m.weights.at(n); }, candidate_specs(b), s);
}

}  // namespace

TEST_CASE("allocate: a budget equal to a uniform configuration's storage does no worse",
          "[alloc]") {
  const Model m = small_model();
  for (const char* method : {"qlora", "loftq"}) {
    const auto b0 = parse_budget("budget:8:blocks=32+64");
    const CostTable t = table_of(m, b0, method, 2);
    for (size_t u = 0; u < t.candidates.size(); ++u) {
      int64_t storage = 0;
      double cost = 0;
      for (size_t i = 0; i < t.tensors.size(); ++i) {
        storage += t.entries[i][u].storage;
        cost += t.entries[i][u].cost;
      }
      BudgetSpec b = b0;
      b.bits = static_cast<double>(storage) / static_cast<double>(t.weights());
      const Allocation a = allocate(t, b);
      INFO(method << " uniform " << quant::format(t.candidates[u]));

      CHECK(a.objective <= cost);
      CHECK(a.budget_bits <= b.bits + 1e-12);
      CHECK(a.lower_bound <= a.objective * (1 + 1e-9));  // summed in another order
    }
  }
}

TEST_CASE("allocate: the same table and allocation at any thread count", "[alloc]") {
  const Model m = small_model();
  const auto b = parse_budget("budget:3.2:candidates=nf2+nf3+nf4:blocks=32+64");
  const CostTable t1 = table_of(m, b, "loftq", 1), t2 = table_of(m, b, "loftq", 2);
  for (size_t i = 0; i < t1.tensors.size(); ++i)
    for (size_t c = 0; c < t1.candidates.size(); ++c) {
      CHECK(t1.entries[i][c].cost == t2.entries[i][c].cost);
      CHECK(t1.entries[i][c].proxy == t2.entries[i][c].proxy);
    }
  const Allocation a1 = allocate(t1, b), a2 = allocate(t2, b);
  CHECK(a1.pick == a2.pick);
  CHECK(init::format(a1.rules) == init::format(a2.rules));
  CHECK(a1.bits_per_weight <= 3.2);
  // The residual after loftq is below the proxy: the costs are the method's, not q(W)'s.
  CHECK(t1.entries[0][0].cost < t1.entries[0][0].proxy);
}

TEST_CASE("allocate: the rules name every tensor and parse back", "[alloc]") {
  const Model m = small_model();
  const auto b = parse_budget("budget:3:candidates=nf2+nf4:blocks=64:adapter");
  const CostTable t = table_of(m, b, "qlora", 2);
  const Allocation a = allocate(t, b);
  const auto back = init::parse_quant_rules(init::format(a.rules));
  for (size_t i = 0; i < t.tensors.size(); ++i)
    CHECK(quant::format(back.at(t.tensors[i].name)) == quant::format(t.candidates[a.pick[i]]));
  CHECK(a.adapter_bits_per_weight == 0);  // qlora's rank: no adapter storage counted here
  // The smallest candidate is nf2 with double-quantised scales, whatever the tensor.
  int64_t least = 0;
  for (const auto& ti : t.tensors) least += storage_bits(quant::parse("nf2:dq"), ti.rows * ti.cols);
  const auto want = fmt::format("minimum achievable with these candidates, {:.4f} bits",
                                static_cast<double>(least) / static_cast<double>(t.weights()));
  CHECK_THROWS_WITH(allocate(t, parse_budget("budget:1:candidates=nf2+nf4:blocks=64")),
                    Catch::Contains(want));
}

TEST_CASE("allocate: a data-aware method's cost is the weighted residual it minimises", "[alloc]") {
  const Model m = small_model();
  // Inputs whose directions differ in scale by 30x, so weighting changes the residuals.
  std::map<std::string, MatrixD> h;
  for (const auto& t : m.tensors) {
    Matrix x = test::gaussian(256, t.cols, 7, 1.0f);
    for (int64_t j = 0; j < t.cols; ++j) x.col(j) *= 1.0f + 29.0f * float(j % 5 == 0);
    h[t.name] = x.cast<double>().transpose() * x.cast<double>();
  }
  const auto b = parse_budget("budget:3:candidates=nf2+nf3:blocks=64");
  const auto candidates = candidate_specs(b);
  auto weights = [&](const std::string& n) { return m.weights.at(n); };
  struct Case {
    const char* method;
    init::Weight weight;
    bool weighted;
  };
  for (const Case c :
       {Case{"qera", init::Weight::none, true}, Case{"loftq", init::Weight::act, true},
        Case{"loftq", init::Weight::none, false}}) {
    INFO(c.method << " weight " << init::name(c.weight));
    CostSettings s;
    s.method = c.method;
    s.rank = init::parse_rank_rules("4");
    s.options.weight = c.weight;
    s.stats = [&](const std::string& n) { return init::LayerStats{&h.at(n), nullptr}; };
    s.stats_id = "calibration key";
    CHECK(weighted_cost(init::find_method(c.method), s.options) == c.weighted);
    const CostTable t = compute_costs(m.tensors, weights, candidates, s);
    for (size_t i = 0; i < t.tensors.size(); ++i)
      for (size_t k = 0; k < candidates.size(); ++k) {
        const auto& w = m.weights.at(t.tensors[i].name);
        init::Options o = s.options;
        if (c.weighted) o.stats = s.stats(t.tensors[i].name);
        const auto res = init::initialize(c.method, w, candidates[k], 4, o);
        const double r = c.weighted ? res.trace.residual_act.back() : res.trace.residual_fro.back();
        CHECK(t.entries[i][k].cost == r * r);
        const double p = init::frobenius_distance(w, quant::fake_quantize(candidates[k], w));
        CHECK(t.entries[i][k].proxy == p * p);  // the proxy stays QLoRA's plain error
        CHECK(t.entries[i][k].rank == 4);
      }
    // The statistics are part of what a cached cost depends on, and qera's rank too.
    CostSettings other = s;
    other.stats_id = "another calibration";
    other.rank = init::parse_rank_rules("8");
    CHECK((cost_key(s, "layers.0.weight", candidates[0]) !=
           cost_key(other, "layers.0.weight", candidates[0])));
    CostSettings bare = s;
    bare.stats = nullptr;
    if (c.weighted)
      CHECK_THROWS_WITH(compute_costs(m.tensors, weights, candidates, bare),
                        Catch::Contains("calibration statistics"));
  }
}
