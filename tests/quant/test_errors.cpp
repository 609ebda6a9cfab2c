// Every bad input is a loft::Error whose message names the value at fault and what is valid.
#include <cmath>
#include <limits>
#include <string>

#include "common/error.hpp"
#include "quant_test_support.hpp"

using namespace loft::quant;
using Catch::Matchers::Contains;

TEST_CASE("bad specs are errors that list what is valid") {
  CHECK_THROWS_WITH(parse(""), Contains("valid names: nf2, nf3, nf4, nf8, fp4"));
  CHECK_THROWS_WITH(parse("bogus"), Contains("unknown quantizer 'bogus'") && Contains("int4:asym"));
  CHECK_THROWS_WITH(parse("NF4"), Contains("valid names"));  // names are case-sensitive
  CHECK_THROWS_WITH(parse("nf5"), Contains("unsupported bits") && Contains("nf2, nf3, nf4, nf8"));
  CHECK_THROWS_WITH(parse("int9"), Contains("unsupported bits") && Contains("int2..int8"));
  CHECK_THROWS_WITH(parse("int1:asym"), Contains("unsupported bits"));
  CHECK_THROWS_WITH(parse("fp8"), Contains("unsupported bits") && Contains("fp4"));
  CHECK_THROWS_WITH(parse("uniform1"), Contains("uniform2..uniform8"));
  CHECK_THROWS_WITH(parse("nf4:b63"), Contains("'b63'") && Contains("multiple of 8"));
  CHECK_THROWS_WITH(parse("nf4:b0"), Contains("multiple of 8"));
  CHECK_THROWS_WITH(parse("nf4:b"), Contains("unknown option 'b'"));
  CHECK_THROWS_WITH(parse("nf4:bx"), Contains("bad block size 'bx'"));
  CHECK_THROWS_WITH(parse("nf4:b64x"), Contains("bad block size"));
  CHECK_THROWS_WITH(parse("nf4:b-64"), Contains("bad block size"));
  CHECK_THROWS_WITH(parse("nf4:b99999999999"), Contains("bad block size"));
  CHECK_THROWS_WITH(parse("nf4:b2097152"), Contains("1048576"));
  CHECK_THROWS_WITH(parse("nf4:b64:b32"), Contains("twice"));
  CHECK_THROWS_WITH(parse("nf4:dq:dq"), Contains("twice"));
  CHECK_THROWS_WITH(parse("nf4:"), Contains("unknown option ''") && Contains("valid options"));
  CHECK_THROWS_WITH(parse("nf4:fast"), Contains("unknown option 'fast'") && Contains("dq"));
  CHECK_THROWS_WITH(parse("nf4:meanstd"), Contains("only uniform2..uniform8"));
  CHECK_THROWS_WITH(parse("nf4:asym"), Contains("only int2..int8 have :asym"));
  CHECK_THROWS_WITH(parse("int4:asym:asym"), Contains("twice"));
}

TEST_CASE("options parse in any order into the canonical form") {
  CHECK(format(parse("nf4:b64")) == "nf4");
  CHECK(format(parse("nf4:dq:b128")) == "nf4:b128:dq");
  CHECK(format(parse("int4:b32:asym")) == "int4:asym:b32");
  CHECK(format(parse("uniform3:dq:meanstd")) == "uniform3:meanstd:dq");
  const Spec s = parse("int3:asym:dq");
  CHECK(s.name == "int3:asym");
  CHECK(s.bits == 3);
  CHECK(s.block == 64);
  CHECK(s.double_quant);
  CHECK(!s.meanstd);
}

TEST_CASE("hand-built specs are validated") {
  Spec s;
  s.name = "nf4";
  s.bits = 5;
  CHECK_THROWS_WITH(validate(s), Contains("unsupported bits") && Contains("nf4 has 4 bits"));
  s.bits = 4;
  s.block = 12;
  CHECK_THROWS_WITH(validate(s), Contains("bad block size 12"));
  s.block = 64;
  s.meanstd = true;
  CHECK_THROWS_WITH(validate(s), Contains("meanstd does not apply to nf4"));
  s.name = "nf7";
  CHECK_THROWS_WITH(validate(s), Contains("unknown quantizer 'nf7'") && Contains("valid names"));
  const std::vector<float> x(64, 1.0f);
  CHECK_THROWS_AS(quantize(s, x), loft::Error);
  CHECK_THROWS_AS(bits_per_weight(s), loft::Error);
}

TEST_CASE("a count not divisible by the block size is an error") {
  const std::vector<float> x(100, 1.0f);
  for (const char* spec : {"nf4", "int4:asym", "uniform2:meanstd:b32"}) {
    INFO(spec);
    CHECK_THROWS_WITH(quantize(parse(spec), x),
                      Contains("100 values") && Contains("multiple of the block size"));
  }
  const loft::Matrix w = loft::Matrix::Ones(3, 7);
  CHECK_THROWS_WITH(fake_quantize(parse("nf4"), w), Contains("21 values"));
}

TEST_CASE("NaN and Inf are errors naming the index, on both kernels and every row") {
  const float bad[] = {std::numeric_limits<float>::quiet_NaN(),
                       std::numeric_limits<float>::infinity(),
                       -std::numeric_limits<float>::infinity()};
  for (const Spec& s : loft::test::all_specs()) {
    for (float v : bad) {
      for (Kernel k : {Kernel::reference, Kernel::fast}) {
        auto x = loft::test::gaussian(s.block * 4, 9, "nonfinite");
        x[s.block * 2 + 5] = v;
        INFO(format(s) << " value " << v);
        CHECK_THROWS_WITH(
            quantize(s, x, k),
            Contains(fmt::format("flat index {}", s.block * 2 + 5)) && Contains("finite"));
      }
    }
  }
  loft::Matrix w = loft::Matrix::Zero(4, 32);
  w(2, 17) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(fake_quantize(parse("nf4"), w), Contains("row 2, column 17"));
}

TEST_CASE("corrupt quantised buffers are errors, not crashes") {
  const auto x = loft::test::gaussian(256, 10, "corrupt");
  const Quantized good = quantize(parse("int4"), x);
  std::vector<float> out(x.size());

  Quantized q = good;
  q.scales.pop_back();
  CHECK_THROWS_WITH(dequantize(q, out), Contains("scales has 3 entries, expected 4"));
  q = good;
  q.codes.resize(3);
  CHECK_THROWS_WITH(dequantize(q, out), Contains("codes"));
  q = good;
  q.codes[5] = 0xff;  // int4 has 15 levels: code 15 is unused
  for (Kernel k : {Kernel::reference, Kernel::fast})
    CHECK_THROWS_WITH(dequantize(q, out, k),
                      Contains("code 15 at index 10") && Contains("valid codes: 0..14"));
  std::vector<float> small(10);
  CHECK_THROWS_WITH(dequantize(good, small), Contains("output holds 10 values"));
  const Quantized dq = quantize(parse("nf4:dq"), x);
  q = dq;
  q.scale_absmax.clear();
  CHECK_THROWS_WITH(dequantize(q, out), Contains("scale_absmax"));
  const Quantized asym = quantize(parse("int4:asym"), x);
  q = asym;
  q.zero_points.clear();
  CHECK_THROWS_WITH(dequantize(q, out), Contains("zero_points"));
  CHECK_THROWS_AS(good.code(x.size()), loft::Error);
}
