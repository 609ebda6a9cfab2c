// Per-tensor rank and quantizer rules ("model.layers.{0..3}.*=nf4; *=nf2", "energy:0.9") and the
// globs inside them, matched against a fuzzed tensor name: a loft::Error or rules whose canonical
// form round-trips; no glob may hang.
#include "common/glob.hpp"
#include "init/patterns.hpp"
#include "init/rank.hpp"
#include "quant/quantizer.hpp"
#include "support.hpp"

namespace {

template <typename Parse>
void check_rules(const std::string& text, const std::string& tensor, Parse parse) {
  loft::fuzz::expect_clean([&] {
    const auto rules = parse(text);
    const std::string canonical = loft::init::format(rules);
    loft::fuzz::require(loft::init::format(parse(canonical)) == canonical,
                        "the canonical form of parsed rules parses back to itself");
    (void)rules.find(tensor);
    (void)rules.single();
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const std::string tensor = in.ConsumeRandomLengthString(128);
  const std::string text = in.ConsumeRemainingBytesAsString();
  loft::fuzz::expect_clean([&] { (void)loft::glob_match(text, tensor); });
  loft::fuzz::expect_clean([&] { (void)loft::init::split_rules(text); });
  check_rules(text, tensor, loft::init::parse_rank_rules);
  check_rules(text, tensor, loft::init::parse_quant_rules);
  return 0;
}
