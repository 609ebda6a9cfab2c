// The allocation cost cache ($LOFTLAB_COST_CACHE/alloc_costs.h5, read by every budget point): a
// loft::Error, or entries that survive a store-and-save round trip unchanged.
#include "experiments/cost_cache.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  loft::fuzz::fresh();
  loft::fuzz::put("alloc_costs.h5", loft::fuzz::as_text(data, size));
  loft::fuzz::expect_clean([&] {
    loft::exp::CostCache cache(loft::fuzz::scratch());
    const size_t before = cache.size();
    loft::alloc::Entry e;
    e.applicable = true;
    e.cost = 1.5;
    e.proxy = 2.5;
    e.storage = 300;
    e.adapter = 40;
    e.rank = 4;
    cache.store("fuzz|a key no input holds", e);
    cache.save();
    loft::exp::CostCache again(loft::fuzz::scratch());
    loft::fuzz::require(again.size() == before + 1, "a saved cache reads back whole");
    const auto back = again.find("fuzz|a key no input holds");
    loft::fuzz::require(back && back->cost == e.cost && back->proxy == e.proxy &&
                            back->storage == e.storage && back->rank == e.rank,
                        "a stored entry reads back as stored");
  });
  return 0;
}
