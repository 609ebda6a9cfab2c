// Quantizer spec strings ("nf4", "int4:asym:b128:dq", as --set grid.quant= or --quant takes them):
// parse and validate never fail but with a loft::Error, and the canonical form round-trips.
#include "quant/quantizer.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(loft::fuzz::as_text(data, size));
  loft::fuzz::expect_clean([&] {
    const auto spec = loft::quant::parse(text);
    loft::quant::validate(spec);
    const std::string canonical = loft::quant::format(spec);
    loft::fuzz::require(loft::quant::format(loft::quant::parse(canonical)) == canonical,
                        "the canonical form of a parsed spec parses back to itself");
    (void)loft::quant::bits_per_weight(spec);
  });
  return 0;
}
