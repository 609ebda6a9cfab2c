// The knapsack solver against exhaustive enumeration, and its Lagrangian bound.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "alloc/knapsack.hpp"
#include "common/error.hpp"

using namespace loft;
using namespace loft::alloc;

namespace {

// Every combination, the smallest cost within the capacity (cost ties: any).
double exhaustive(const Problem& p, bool& feasible) {
  std::vector<size_t> idx(p.groups.size(), 0);
  double best = INFINITY;
  feasible = false;
  while (true) {
    int64_t s = 0;
    double c = 0;
    for (size_t g = 0; g < idx.size(); ++g) {
      s += p.groups[g][idx[g]].storage;
      c += p.groups[g][idx[g]].cost;
    }
    if (s <= p.capacity && c < best) best = c, feasible = true;
    size_t g = 0;
    while (g < idx.size() && ++idx[g] == p.groups[g].size()) idx[g++] = 0;
    if (g == idx.size()) return best;
  }
}

Problem random_problem(std::mt19937_64& rng) {
  std::uniform_int_distribution<int> ngroups(1, 5), nitems(1, 5), storage(1, 40);
  std::uniform_real_distribution<double> cost(0, 10);
  Problem p;
  const int g = ngroups(rng);
  for (int i = 0; i < g; ++i) {
    std::vector<Item> items(nitems(rng));
    for (auto& it : items) {
      it.storage = storage(rng);
      // Some exact ties in storage and cost, as identical candidates would give.
      it.cost = rng() % 5 == 0 ? 1.0 : cost(rng);
    }
    p.groups.push_back(items);
  }
  return p;
}

int64_t max_storage(const Problem& p) {
  int64_t total = 0;
  for (const auto& g : p.groups) {
    int64_t m = 0;
    for (const auto& it : g) m = std::max(m, it.storage);
    total += m;
  }
  return total;
}

}  // namespace

TEST_CASE("knapsack: the solver finds the exhaustive optimum at every budget", "[alloc]") {
  std::mt19937_64 rng(12345);
  int solved = 0;
  for (int trial = 0; trial < 25; ++trial) {
    Problem p = random_problem(rng);
    for (int64_t cap = min_storage(p); cap <= max_storage(p) + 1; ++cap) {
      p.capacity = cap;
      bool feasible = false;
      const double want = exhaustive(p, feasible);
      REQUIRE(feasible);
      for (Solver solver : {Solver::dp, Solver::cbc}) {
        const Solution s = solve(p, solver);
        INFO(solver_name(solver));
        int64_t storage = 0;
        double cost = 0;
        for (size_t g = 0; g < p.groups.size(); ++g) {
          storage += p.groups[g][s.pick[g]].storage;
          cost += p.groups[g][s.pick[g]].cost;
        }
        INFO("trial " << trial << " capacity " << cap);
        REQUIRE(storage <= cap);
        REQUIRE(storage == s.storage);
        REQUIRE(cost == Approx(want).epsilon(1e-12).margin(1e-12));
        REQUIRE(s.objective == Approx(want).epsilon(1e-12).margin(1e-12));
        // The bound is a bound, and tight when the budget holds every group's cheapest-cost item.
        REQUIRE(s.lower_bound <= s.objective + 1e-9);
        ++solved;
      }
    }
  }
  CHECK(solved > 800);  // budgets x solvers actually compared
}

TEST_CASE("knapsack: the Lagrangian bound is exact without integrality and below otherwise",
          "[alloc]") {
  // Upgrades: the first group's saves 4 for 10 bits (0.4 per bit), the second's 2 for 20.
  Problem p;
  p.groups = {{{10, 5.0}, {20, 1.0}}, {{10, 4.0}, {30, 2.0}}};
  p.capacity = 30;  // room 10: exactly the first upgrade, so the bound is the optimum
  auto [bound, l] = lagrangian_bound(p);
  CHECK(bound == Approx(5.0));
  CHECK(solve(p).objective == Approx(5.0));
  p.capacity = 40;  // room 20: the first upgrade, then half of the second
  std::tie(bound, l) = lagrangian_bound(p);
  CHECK(bound == Approx(4.0));
  CHECK(l == Approx(0.1));
  const Solution s = solve(p);
  CHECK(s.objective == Approx(5.0));  // the integer optimum: the second upgrade does not fit
  CHECK(s.gap() == Approx(1.0));
  p.capacity = 50;  // room for both
  CHECK(lagrangian_bound(p).first == Approx(3.0));
  CHECK(solve(p).objective == Approx(3.0));
}

TEST_CASE("knapsack: a budget below every allocation names the minimum bits per weight",
          "[alloc]") {
  Problem p;
  p.groups = {{{100, 1.0}, {300, 0.5}}, {{200, 2.0}}};
  p.weights = 100;
  p.capacity = 299;
  try {
    solve(p);
    FAIL("no error");
  } catch (const Error& e) {
    const std::string m = e.what();
    CHECK_THAT(m, Catch::Contains("2.9900 bits per weight"));
    CHECK_THAT(m, Catch::Contains("minimum achievable"));
    CHECK_THAT(m, Catch::Contains("3.0000 bits per weight"));
  }
  p.capacity = 300;
  CHECK(solve(p).pick == std::vector<int>{0, 0});
}

TEST_CASE("knapsack: ties keep the candidate listed first", "[alloc]") {
  Problem p;
  // Items 0 and 2 are identical; 1 is dominated (more storage, same cost).
  p.groups = {{{10, 1.0}, {20, 1.0}, {10, 1.0}}};
  p.capacity = 100;
  CHECK(solve(p, Solver::dp).pick == std::vector<int>{0});
  CHECK(solve(p, Solver::cbc).pick == std::vector<int>{0});
  // Equal totals: {0, 1} and {1, 0} both cost 3 in 30 bits; dp keeps the last group smaller.
  p.groups = {{{10, 2.0}, {20, 1.0}}, {{10, 2.0}, {20, 1.0}}};
  p.capacity = 30;
  CHECK(solve(p, Solver::dp).pick == std::vector<int>{1, 0});
}
