#include "alloc/knapsack.hpp"

#include <Cbc_C_Interface.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <memory>
#include <numeric>

#include "common/error.hpp"

namespace loft::alloc {

namespace {

// The undominated items of a group, by storage ascending (cost then strictly descending).
std::vector<int> frontier(const std::vector<Item>& group) {
  std::vector<int> order(group.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    if (group[a].storage != group[b].storage) return group[a].storage < group[b].storage;
    return group[a].cost < group[b].cost;
  });
  std::vector<int> keep;
  for (int i : order)
    if (keep.empty() || group[i].cost < group[keep.back()].cost) keep.push_back(i);
  return keep;
}

// The lower convex hull of a frontier: costs decrease ever more slowly as storage grows.
std::vector<int> hull(const std::vector<Item>& group, const std::vector<int>& front) {
  std::vector<int> h;
  for (int i : front) {
    while (h.size() >= 2) {
      const Item& a = group[h[h.size() - 2]];
      const Item& b = group[h.back()];
      const Item& c = group[i];
      // b lies on or above the segment a-c: drop it.
      const double lhs = (b.cost - a.cost) * static_cast<double>(c.storage - a.storage);
      const double rhs = (c.cost - a.cost) * static_cast<double>(b.storage - a.storage);
      if (lhs >= rhs)
        h.pop_back();
      else
        break;
    }
    h.push_back(i);
  }
  return h;
}

void check(const Problem& p) {
  if (p.groups.empty()) fail("nothing to allocate: no tensors");
  for (size_t g = 0; g < p.groups.size(); ++g) {
    if (p.groups[g].empty()) fail("tensor {} has no candidate that can store it", g);
    for (const Item& it : p.groups[g])
      if (!(it.cost >= 0) || it.storage < 0)
        fail("tensor {}: a candidate has cost {} and storage {} (need cost >= 0, storage >= 0)", g,
             it.cost, it.storage);
  }
  const int64_t need = min_storage(p);
  if (p.capacity < need)
    fail(
        "the budget of {:.4f} bits per weight is below the minimum achievable with these "
        "candidates, {:.4f} bits per weight (every tensor at its smallest candidate); raise "
        "the budget or add smaller candidates",
        static_cast<double>(p.capacity) / p.weights, static_cast<double>(need) / p.weights);
}

// The storage unit of a problem: the gcd of every frontier item's storage above its group's
// smallest (1 when all groups have one item).
int64_t storage_unit(const Problem& p, const std::vector<std::vector<int>>& fronts) {
  int64_t unit = 0;
  for (size_t g = 0; g < p.groups.size(); ++g)
    for (int i : fronts[g])
      unit = std::gcd(unit, p.groups[g][i].storage - p.groups[g][fronts[g].front()].storage);
  return unit == 0 ? 1 : unit;
}

int64_t dp_cells(const Problem& p, const std::vector<std::vector<int>>& fronts) {
  const int64_t room = (p.capacity - min_storage(p)) / storage_unit(p, fronts);
  const auto groups = static_cast<int64_t>(p.groups.size());
  return room + 1 > kMaxDpCells / groups ? kMaxDpCells + 1 : groups * (room + 1);
}

std::vector<int> run_dp(const Problem& p, const std::vector<std::vector<int>>& fronts) {
  const int64_t unit = storage_unit(p, fronts);
  const int64_t room = (p.capacity - min_storage(p)) / unit;
  const auto width = static_cast<size_t>(room + 1);
  // best[r]: least cost of the groups so far within r units; non-increasing in r.
  std::vector<double> best(width, 0.0), next(width);
  std::vector<uint8_t> choice(p.groups.size() * width);  // frontier position per (group, r)
  for (size_t g = 0; g < p.groups.size(); ++g) {
    const auto& front = fronts[g];
    const int64_t gmin = p.groups[g][front.front()].storage;
    uint8_t* ch = choice.data() + g * width;
    for (size_t r = 0; r < width; ++r) {
      double b = INFINITY;
      uint8_t pick = 0;
      // Ascending storage, replaced only by a strictly smaller cost: ties keep less storage.
      for (size_t k = 0; k < front.size(); ++k) {
        const auto w = static_cast<size_t>((p.groups[g][front[k]].storage - gmin) / unit);
        if (w > r) break;
        const double c = best[r - w] + p.groups[g][front[k]].cost;
        if (c < b) b = c, pick = static_cast<uint8_t>(k);
      }
      next[r] = b;
      ch[r] = pick;
    }
    best.swap(next);
  }
  std::vector<int> pick(p.groups.size());
  size_t r = width - 1;
  for (size_t g = p.groups.size(); g-- > 0;) {
    const auto& front = fronts[g];
    const int k = choice[g * width + r];
    pick[g] = front[k];
    r -= static_cast<size_t>((p.groups[g][front[k]].storage - p.groups[g][front.front()].storage) /
                             unit);
  }
  return pick;
}

struct CbcDeleter {
  void operator()(Cbc_Model* m) const { Cbc_deleteModel(m); }
};

// One CBC run over the frontiers with the storage row's right-hand side lowered by `margin`
// bits (raised by the caller when floating tolerances let a solution exceed the capacity).
std::vector<int> run_cbc(const Problem& p, const std::vector<std::vector<int>>& fronts,
                         int64_t margin) {
  const int64_t base = min_storage(p);
  // The storage row in integer units, so that any sum is exact in a double and no tolerance
  // can admit an extra bit.
  const int64_t unit = storage_unit(p, fronts);
  // Costs as excess over the group's cheapest-storage item, rescaled to O(1).
  double cost_scale = 0;
  for (size_t g = 0; g < p.groups.size(); ++g)
    for (int i : fronts[g]) cost_scale = std::max(cost_scale, p.groups[g][i].cost);
  if (cost_scale <= 0) cost_scale = 1;
  std::vector<CoinBigIndex> starts{0};
  std::vector<int> rows;
  std::vector<double> values, lower, upper, obj;
  const int ngroups = static_cast<int>(p.groups.size());
  for (int g = 0; g < ngroups; ++g) {
    const int64_t gmin = p.groups[g][fronts[g].front()].storage;
    for (int i : fronts[g]) {
      const Item& it = p.groups[g][i];
      rows.push_back(g);
      values.push_back(1.0);
      if (it.storage > gmin) {  // no explicit zeros in the matrix
        rows.push_back(ngroups);
        values.push_back(static_cast<double>((it.storage - gmin) / unit));
      }
      starts.push_back(static_cast<CoinBigIndex>(rows.size()));
      lower.push_back(0);
      upper.push_back(1);
      obj.push_back(it.cost / cost_scale);
    }
  }
  std::vector<double> row_lo(ngroups + 1, 1.0), row_hi(ngroups + 1, 1.0);
  row_lo[ngroups] = -DBL_MAX;  // COIN_DBL_MAX: no lower bound
  row_hi[ngroups] = static_cast<double>((p.capacity - base - margin) / unit);

  std::unique_ptr<Cbc_Model, CbcDeleter> m(Cbc_newModel());
  const int ncols = static_cast<int>(obj.size());
  Cbc_loadProblem(m.get(), ncols, ngroups + 1, starts.data(), rows.data(), values.data(),
                  lower.data(), upper.data(), obj.data(), row_lo.data(), row_hi.data());
  for (int c = 0; c < ncols; ++c) Cbc_setInteger(m.get(), c);
  Cbc_setObjSense(m.get(), 1);
  Cbc_setLogLevel(m.get(), 0);
  Cbc_setAllowableGap(m.get(), 0);
  Cbc_setAllowableFractionGap(m.get(), 0);
  Cbc_setParameter(m.get(), "threads", "1");
  // CBC 2.10's integer preprocessing returns a suboptimal answer as "proven optimal" on some
  // of these problems (tests/alloc's exhaustive comparison finds them); the problem is small
  // enough to solve without it.
  Cbc_setParameter(m.get(), "preprocess", "off");
  Cbc_solve(m.get());
  if (!Cbc_isProvenOptimal(m.get()))
    fail("the MILP solver (CBC) did not prove an optimal allocation (status {}, secondary {})",
         Cbc_status(m.get()), Cbc_secondaryStatus(m.get()));
  const double* x = Cbc_getColSolution(m.get());
  std::vector<int> pick(ngroups, -1);
  int col = 0;
  for (int g = 0; g < ngroups; ++g) {
    double best = -1;
    for (int i : fronts[g]) {
      if (x[col] > best) best = x[col], pick[g] = i;
      ++col;
    }
    if (best < 0.5) fail("the MILP solver returned a fractional choice for tensor {}", g);
  }
  return pick;
}

}  // namespace

int64_t min_storage(const Problem& p) {
  int64_t total = 0;
  for (const auto& g : p.groups) {
    int64_t m = g.front().storage;
    for (const Item& it : g) m = std::min(m, it.storage);
    total += m;
  }
  return total;
}

std::pair<double, double> lagrangian_bound(const Problem& p) {
  check(p);
  struct Step {
    double efficiency;  // cost saved per bit
    int64_t storage;
    double saving;
  };
  std::vector<Step> steps;
  double cost = 0;
  for (const auto& g : p.groups) {
    const auto h = hull(g, frontier(g));
    cost += g[h.front()].cost;
    for (size_t k = 1; k < h.size(); ++k) {
      const int64_t ds = g[h[k]].storage - g[h[k - 1]].storage;
      const double dc = g[h[k - 1]].cost - g[h[k]].cost;
      steps.push_back({dc / static_cast<double>(ds), ds, dc});
    }
  }
  // Within a group the hull's efficiencies decrease, so this order takes its steps in order.
  std::stable_sort(steps.begin(), steps.end(),
                   [](const Step& a, const Step& b) { return a.efficiency > b.efficiency; });
  int64_t room = p.capacity - min_storage(p);
  for (const Step& s : steps) {
    if (s.storage <= room) {
      room -= s.storage;
      cost -= s.saving;
      continue;
    }
    cost -= s.saving * static_cast<double>(room) / static_cast<double>(s.storage);
    return {cost, s.efficiency};
  }
  return {cost, 0.0};
}

const char* solver_name(Solver s) {
  return s == Solver::dp ? "dp" : s == Solver::cbc ? "cbc" : "automatic";
}

Solution solve(const Problem& p, Solver solver) {
  check(p);
  std::vector<std::vector<int>> fronts;
  for (const auto& g : p.groups) {
    fronts.push_back(frontier(g));
    if (fronts.back().size() > 255) fail("a tensor has more than 255 candidates");
  }
  if (solver == Solver::automatic)
    solver = dp_cells(p, fronts) <= kMaxDpCells ? Solver::dp : Solver::cbc;
  if (solver == Solver::dp && dp_cells(p, fronts) > kMaxDpCells)
    fail("the dynamic programme would need more than {} cells; use the cbc solver", kMaxDpCells);
  Solution s;
  s.solver = solver;
  int64_t margin = 0;
  for (int attempt = 0;; ++attempt) {
    s.pick = solver == Solver::dp ? run_dp(p, fronts) : run_cbc(p, fronts, margin);
    s.storage = 0;
    for (size_t g = 0; g < p.groups.size(); ++g) s.storage += p.groups[g][s.pick[g]].storage;
    if (s.storage <= p.capacity) break;
    // The solver's feasibility tolerance admitted a few bits too many: tighten and re-solve.
    if (attempt == 4)
      fail("the MILP solver keeps exceeding the budget ({} bits over {})", s.storage - p.capacity,
           p.capacity);
    margin += s.storage - p.capacity;
  }
  s.objective = 0;
  for (size_t g = 0; g < p.groups.size(); ++g) s.objective += p.groups[g][s.pick[g]].cost;
  std::tie(s.lower_bound, s.multiplier) = lagrangian_bound(p);
  return s;
}

}  // namespace loft::alloc
