// The budget spec parser: every option, the canonical form, and errors quoting the input.
#include <catch2/catch.hpp>

#include "alloc/budget.hpp"
#include "alloc/storage.hpp"
#include "common/error.hpp"
#include "quant/quantizer.hpp"
#include "support.hpp"

using namespace loft;
using namespace loft::alloc;

TEST_CASE("budget spec: defaults and options", "[alloc]") {
  const auto b = parse_budget("budget:3.0");
  CHECK(b.bits == 3.0);
  CHECK(candidate_specs(b).size() == 4 * 3 * 2);
  CHECK(format(b) == "budget:3");
  const auto c = parse_budget(" budget:2.5:candidates=nf2,nf4:blocks=64+128:dq=no:adapter ");
  CHECK(c.candidates == std::vector<std::string>{"nf2", "nf4"});
  CHECK(c.blocks == std::vector<int>{64, 128});
  CHECK(c.adapter);
  const auto specs = candidate_specs(c);
  REQUIRE(specs.size() == 4);
  CHECK(quant::format(specs[0]) == "nf2");  // b64 is nf2's default block
  CHECK(quant::format(specs[1]) == "nf2:b128");
  CHECK(format(c) == "budget:2.5:candidates=nf2+nf4:blocks=64+128:dq=no:adapter");
  CHECK(format(parse_budget(format(c))) == format(c));
  CHECK(is_budget("budget:3"));
  CHECK_FALSE(is_budget("nf4"));
  CHECK_FALSE(is_budget("budgets:3"));
}

TEST_CASE("budget spec: errors show the value as written", "[alloc]") {
  auto err = [](const char* text) {
    try {
      parse_budget(text);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(err("budget:"), Catch::Contains("'budget:'"));
  CHECK_THAT(err("budget:abc"), Catch::Contains("'abc' are not a positive number"));
  CHECK_THAT(err("budget:-1"), Catch::Contains("'-1'"));
  CHECK_THAT(err("budget:3x"), Catch::Contains("'3x'"));
  CHECK_THAT(err("budget:3:candidates=nf5"), Catch::Contains("candidate 'nf5'"));
  CHECK_THAT(err("budget:3:candidates=nf4:b32"), Catch::Contains("option 'b32' needs a value"));
  CHECK_THAT(err("budget:3:candidates=nf4:dq"), Catch::Contains("'dq' needs a value"));
  CHECK_THAT(err("budget:3:blocks=64,x"), Catch::Contains("block 'x'"));
  CHECK_THAT(err("budget:3:blocks=64,64"), Catch::Contains("twice"));
  CHECK_THAT(err("budget:3:blocks=7"), Catch::Contains("nf2:b7"));
  CHECK_THAT(err("budget:3:dq=maybe"), Catch::Contains("'maybe'"));
  CHECK_THAT(err("budget:3:adapter:adapter"), Catch::Contains("twice"));
  CHECK_THAT(err("budget:3:adapter=1"), Catch::Contains("takes no value"));
  CHECK_THAT(err("budget:3:speed=9"), Catch::Contains("'speed=9'"));
}

TEST_CASE("storage bits: the registry's accounting, exactly what quantising stores", "[alloc]") {
  for (const auto* text : {"nf2", "nf3:b32", "nf4:b128:dq", "nf8:b32:dq", "nf3:b64:dq"})
    for (int64_t count : {2048, 4096, 11008, 64 * 256 * 3}) {
      const auto spec = quant::parse(text);
      if (count % spec.block) continue;
      const Matrix w = test::gaussian(1, count, 7, 1.0f);
      const auto q = quant::quantize(spec, std::span<const float>(w.data(), w.size()));
      INFO(text << " " << count);
      CHECK(static_cast<double>(storage_bits(spec, count)) == q.storage_bits());
    }
  // A large matrix approaches bits_per_weight.
  const auto spec = quant::parse("nf4:dq");
  const int64_t big = int64_t{4096} * 4096;
  CHECK(static_cast<double>(storage_bits(spec, big)) / static_cast<double>(big) ==
        Approx(quant::bits_per_weight(spec)).epsilon(1e-6));
  CHECK_THROWS_AS(storage_bits(quant::parse("nf4:b128"), 64), Error);
}
