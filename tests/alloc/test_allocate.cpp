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
