// SVD spec strings ("exact", "randomized:p=10:q=2"): a loft::Error or a spec whose canonical form
// round-trips.
#include "lowrank/svd.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(loft::fuzz::as_text(data, size));
  loft::fuzz::expect_clean([&] {
    const auto spec = loft::lowrank::parse_svd(text);
    const std::string canonical = loft::lowrank::format(spec);
    loft::fuzz::require(loft::lowrank::format(loft::lowrank::parse_svd(canonical)) == canonical,
                        "the canonical form of a parsed SVD spec parses back to itself");
  });
  return 0;
}
