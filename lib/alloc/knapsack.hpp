#pragma once
// The multiple-choice knapsack: pick exactly one item from every group so that the total
// storage stays within the capacity and the total cost is smallest. Two exact solvers:
//
//   dp   a dynamic programme over integer storage, in units of the gcd of every item's storage
//        above its group's smallest: best[g][r] = the least cost of groups 0..g within r units.
//        Costs are only added (in group order, the order the objective is summed in) and
//        compared, so the answer is exact in double precision. Time and memory are
//        groups x (room / unit + 1), hence `automatic` uses it up to kMaxDpCells cells.
//   cbc  the same as a 0/1 integer programme solved by COIN-OR CBC (branch and cut, no gap
//        allowed, single-threaded), the storage row in integer units and the answer checked in
//        integer storage afterwards. It is exact to CBC's tolerances (about 1e-9 of the
//        largest cost), so items whose costs differ by less than that may be confused.
// tests/alloc compares both with exhaustive enumeration.
//
// Ties. Before solving, each group keeps only its undominated items: an item is dropped when
// another has no more storage and no more cost, and of two items with equal storage and cost
// the one listed first is kept. dp then breaks ties of equal total cost towards the smaller
// storage of the last group, then of the one before, and so on; cbc returns the first optimum
// its deterministic search meets. Neither depends on the caller's thread count.
//
// The bound. The Lagrangian dual max_{l >= 0} sum_g min_i (cost_gi + l storage_gi) - l capacity
// equals the LP relaxation of the problem, computed greedily over the lower convex hull of every
// group (Sinha and Zoltners): the gap objective - bound says how much integrality costs.
#include <cstdint>
#include <vector>

namespace loft::alloc {

struct Item {
  int64_t storage = 0;  // bits
  double cost = 0;      // >= 0
};

struct Problem {
  std::vector<std::vector<Item>> groups;  // one per tensor, each non-empty
  int64_t capacity = 0;                   // bits
  double weights = 1;                     // for messages in bits per weight
};

enum class Solver { automatic, dp, cbc };
inline constexpr int64_t kMaxDpCells = int64_t{1} << 28;  // 256 MB of choices

struct Solution {
  std::vector<int> pick;  // item index per group
  double objective = 0;   // sum of the picked costs, in group order
  int64_t storage = 0;
  double lower_bound = 0;      // the Lagrangian (= LP) bound
  double multiplier = 0;       // its l: the cost one more bit of storage saves at the margin
  Solver solver = Solver::dp;  // the one that ran
  double gap() const { return objective - lower_bound; }
};

int64_t min_storage(const Problem& p);  // every group at its smallest item

// The Lagrangian bound and its multiplier (bound, l). Requires a feasible problem.
std::pair<double, double> lagrangian_bound(const Problem& p);

// Throws loft::Error when capacity < min_storage(p), naming the minimum in bits per weight,
// and when the solver fails to prove optimality.
Solution solve(const Problem& p, Solver solver = Solver::automatic);
const char* solver_name(Solver s);

}  // namespace loft::alloc
