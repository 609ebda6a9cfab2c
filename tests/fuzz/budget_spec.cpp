// Storage budget specs (`budget:3.0:candidates=nf2+nf3:blocks=64+128:dq=both:adapter`, as
// `quant =` takes them): parse never fails but with a loft::Error, the canonical form round-trips,
// and every candidate it names is a valid quantizer.
#include "alloc/budget.hpp"
#include "quant/quantizer.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(loft::fuzz::as_text(data, size));
  loft::fuzz::expect_clean([&] {
    if (!loft::alloc::is_budget(text)) return;
    const auto spec = loft::alloc::parse_budget(text);
    const std::string canonical = loft::alloc::format(spec);
    loft::fuzz::require(loft::alloc::format(loft::alloc::parse_budget(canonical)) == canonical,
                        "the canonical form of a parsed budget parses back to itself");
    for (const auto& q : loft::alloc::candidate_specs(spec)) loft::quant::validate(q);
  });
  return 0;
}
