// Initialisation methods: every registry row against a from-scratch recomputation of its trace,
// the LoftQ properties the papers rely on, the explicit LoRA scale, and determinism.
#include <omp.h>

#include <Eigen/SVD>
#include <cmath>
#include <fstream>
#include <random>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "init/init.hpp"
#include "init/stats_support.hpp"
#include "lowrank/nuclear.hpp"
#include "lowrank/products.hpp"
#include "support.hpp"

using namespace loft;
using namespace loft::init;

namespace {

// Weight-like: a decaying low-rank part plus noise, so low rank helps.
Matrix weight_like(Eigen::Index m, Eigen::Index n, uint64_t seed) {
  const int k = 12;
  Matrix u = test::gaussian(m, k, seed, 1.0f), v = test::gaussian(k, n, seed + 1, 1.0f);
  for (int i = 0; i < k; ++i) u.col(i) *= 0.01f * std::pow(0.8f, float(i));
  return u * v + test::gaussian(m, n, seed + 2, 0.01f);
}

bool identical(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::equal(a.data(), a.data() + a.size(), b.data());
}

double nuclear_reference(const Result& r, const Matrix& w) {
  const Eigen::MatrixXd e =
      w.cast<double>() - r.Q.cast<double>() - r.scale * (r.B.cast<double>() * r.A.cast<double>());
  return Eigen::JacobiSVD<Eigen::MatrixXd>(e).singularValues().sum();
}

Options opts(int steps, const char* svd = "exact", double alpha = 0) {
  Options o;
  o.steps = steps;
  o.svd = lowrank::parse_svd(svd);
  o.lora_alpha = alpha;
  o.seed = 3;
  return o;
}

const quant::Spec nf2 = quant::parse("nf2");

}  // namespace

TEST_CASE("every method: shapes, trace length, and W ~= Q + s B A as the trace says", "[init]") {
  for (const auto& method : methods()) {
    for (auto [m, n] : {std::pair<int, int>{48, 64}, {64, 48}}) {
      for (double alpha : {0.0, 16.0}) {
        INFO(method.name << " " << m << "x" << n << " alpha " << alpha);
        const Matrix w = weight_like(m, n, 1);
        const int rank = 8, steps = 3;
        Options o = opts(steps, "exact", alpha);
        const auto h = test::stats_for(method, w, o);
        const Result r = initialize(method.name, w, nf2, rank, o);
        REQUIRE(r.Q.rows() == m);
        REQUIRE(r.Q.cols() == n);
        REQUIRE(r.A.rows() == rank);
        REQUIRE(r.A.cols() == n);
        REQUIRE(r.B.rows() == m);
        REQUIRE(r.B.cols() == rank);
        CHECK(r.lora_alpha == (alpha > 0 ? alpha : rank));
        CHECK(r.scale == Approx(r.lora_alpha / rank));
        if (method.uses_steps) CHECK(r.steps_run == steps);
        const size_t expect = r.steps_run + 1;
        REQUIRE(r.trace.size() == expect);
        for (auto* v : {&r.trace.residual_rel, &r.trace.residual_vs_qlora,
                        &r.trace.residual_nuclear, &r.trace.seconds})
          CHECK(v->size() == expect);
        const double fro = residual_reference(w, r.Q, r.B, r.A, r.scale);
        CHECK(r.trace.residual_fro.back() == Approx(fro).epsilon(1e-5).margin(1e-9));
        CHECK(r.trace.residual_rel.back() == Approx(fro / w.cast<double>().norm()).epsilon(1e-5));
        for (size_t t = 1; t < expect; ++t) CHECK(r.trace.seconds[t] >= r.trace.seconds[t - 1]);
        CHECK(r.bits_per_weight == (method.quantizes ? quant::bits_per_weight(nf2) : 32.0));
      }
    }
  }
}

TEST_CASE("lora keeps W, qlora's error is ||W - q(W)||, both start from B = 0", "[init]") {
  const Matrix w = weight_like(64, 64, 2);
  const Result lora = initialize("lora", w, nf2, 4, opts(0));
  CHECK(identical(lora.Q, w));
  CHECK(lora.B.isZero(0));
  CHECK(lora.trace.residual_fro[0] == 0.0);
  const Result qlora = initialize("qlora", w, nf2, 4, opts(0));
  CHECK(identical(qlora.Q, quant::fake_quantize(nf2, w)));
  CHECK(qlora.B.isZero(0));
  CHECK(qlora.trace.residual_vs_qlora[0] == 1.0);
  CHECK(qlora.trace.residual_fro[0] ==
        Approx((w - quant::fake_quantize(nf2, w)).cast<double>().norm()).epsilon(1e-6));
  CHECK(identical(lora.A, qlora.A));  // same seed, same A
  // Without a quantizer lora has no QLoRA baseline to compare with; the quantising methods
  // refuse to run.
  const Result bare = initialize("lora", w, std::nullopt, 4, opts(0));
  CHECK(identical(bare.Q, w));
  CHECK(identical(bare.A, lora.A));
  CHECK(std::isnan(bare.trace.residual_vs_qlora[0]));
  CHECK(lora.trace.residual_vs_qlora[0] == 0.0);
  for (const char* m : {"qlora", "loftq", "qpissa"})
    CHECK_THROWS_WITH(initialize(m, w, std::nullopt, 4, opts(1)),
                      Catch::Contains(m) && Catch::Contains("no quantizer"));
}

TEST_CASE("lora's A is PEFT's Kaiming-uniform: U(-1/sqrt(in), 1/sqrt(in)), seeded", "[init]") {
  const int rank = 16, in = 400;
  const Matrix a = kaiming_uniform_a(rank, in, 9);
  const double bound = 1.0 / std::sqrt(double(in));
  CHECK(a.maxCoeff() < bound);
  CHECK(a.minCoeff() >= -bound);
  CHECK(a.maxCoeff() > 0.99 * bound);  // the whole interval is used
  CHECK(a.minCoeff() < -0.99 * bound);
  const double mean = a.cast<double>().mean();
  const double var = (a.cast<double>().array() - mean).square().mean();
  CHECK(std::abs(mean) < 0.05 * bound);
  CHECK(var == Approx(bound * bound / 3).epsilon(0.05));
  CHECK(identical(a, kaiming_uniform_a(rank, in, 9)));
  CHECK(!identical(a, kaiming_uniform_a(rank, in, 10)));
}

TEST_CASE("loftq: T = 0 is qlora exactly, T = 1 is below qlora, more steps do not hurt much",
          "[init]") {
  const Matrix w = weight_like(96, 64, 4);
  const Result qlora = initialize("qlora", w, nf2, 8, opts(0));
  const Result t0 = initialize("loftq", w, nf2, 8, opts(0));
  CHECK(identical(t0.Q, qlora.Q));
  CHECK(identical(t0.A, qlora.A));
  CHECK(identical(t0.B, qlora.B));
  CHECK(t0.trace.residual_fro == qlora.trace.residual_fro);
  for (const char* svd : {"exact", "randomized"}) {
    INFO(svd);
    const Result t1 = initialize("loftq", w, nf2, 8, opts(1, svd));
    CHECK(t1.trace.residual_fro[0] == qlora.trace.residual_fro[0]);  // t = 0 is QLoRA's error
    CHECK(t1.trace.residual_vs_qlora[0] == 1.0);
    CHECK(t1.trace.residual_fro[1] < 0.9 * qlora.trace.residual_fro[0]);
    const Result t5 = initialize("loftq", w, nf2, 8, opts(5, svd));
    CHECK(t5.trace.residual_fro[5] < t1.trace.residual_fro[1] * 1.02);
    CHECK(t5.trace.residual_vs_qlora[5] ==
          Approx(t5.trace.residual_fro[5] / qlora.trace.residual_fro[0]));
  }
}

TEST_CASE("qpissa: T = 0 is QPiSSA (q of W minus its top-r SVD), and steps refine it", "[init]") {
  const Matrix w = weight_like(64, 96, 5);
  const Result r0 = initialize("qpissa", w, nf2, 8, opts(0));
  const lowrank::TruncatedSvd top = lowrank::truncated_svd(lowrank::parse_svd("exact"), w, 8);
  const Matrix pissa = top.reconstruct();
  CHECK(((r0.B * r0.A) - pissa).cwiseAbs().maxCoeff() < 1e-5);
  Matrix rest;  // W - s B A as the library forms it (its rounding decides ties of q)
  lowrank::subtract_product(w, float(r0.scale), r0.B, r0.A, rest);
  CHECK(identical(r0.Q, quant::fake_quantize(nf2, rest)));
  const Result r3 = initialize("qpissa", w, nf2, 8, opts(3));
  CHECK(r3.trace.residual_fro[0] == r0.trace.residual_fro[0]);
  CHECK(r3.trace.residual_fro[3] < r3.trace.residual_fro[0]);
}

TEST_CASE("full rank (r = min(m, n)) leaves about no residual", "[init]") {
  for (const char* method : {"loftq", "qpissa"}) {
    for (const char* svd : {"exact", "randomized"}) {
      for (auto [m, n] : {std::pair<int, int>{32, 48}, {48, 32}}) {
        INFO(method << " " << svd << " " << m << "x" << n);
        const Matrix w = test::gaussian(m, n, 6, 0.02f);
        const Result r = initialize(method, w, nf2, std::min(m, n), opts(2, svd));
        CHECK(r.trace.residual_rel.back() < 1e-5);
        CHECK(residual_reference(w, r.Q, r.B, r.A, r.scale) < 1e-5 * w.norm());
      }
    }
  }
}

TEST_CASE("nuclear norm: free with exact-gesdd (all values), optional otherwise", "[init]") {
  const Matrix w = weight_like(48, 64, 7);
  const Result ex = initialize("loftq", w, nf2, 6, opts(2, "exact-gesdd"));
  // t = 0 too: loftq's first SVD is of the t = 0 error itself.
  const Result ex0 = initialize("loftq", w, nf2, 6, opts(0 + 1, "exact-gesdd"));
  const Matrix e0 = w - ex0.Q;  // B_0 A_0 = 0
  CHECK(ex0.trace.residual_nuclear[0] ==
        Approx(Eigen::JacobiSVD<Eigen::MatrixXd>(e0.cast<double>()).singularValues().sum())
            .epsilon(1e-4));
  CHECK(ex.trace.residual_nuclear.back() == Approx(nuclear_reference(ex, w)).epsilon(1e-4));

  Options off = opts(2, "randomized");
  off.nuclear = Nuclear::none;
  const Result rnd = initialize("loftq", w, nf2, 6, off);
  for (double v : rnd.trace.residual_nuclear) CHECK(std::isnan(v));
  Options on = opts(2, "randomized");
  on.nuclear = Nuclear::every;
  const Result rnd_on = initialize("loftq", w, nf2, 6, on);
  for (double v : rnd_on.trace.residual_nuclear) CHECK(!std::isnan(v));
  CHECK(rnd_on.trace.residual_nuclear.back() == Approx(nuclear_reference(rnd_on, w)).epsilon(1e-4));
  CHECK(identical(rnd_on.Q, rnd.Q));  // the diagnostic does not change the result
  // The default, ends: t = 0 and the returned state only.
  const Result rnd_ends = initialize("loftq", w, nf2, 6, opts(2, "randomized"));
  CHECK(rnd_ends.trace.residual_nuclear[0] == rnd_on.trace.residual_nuclear[0]);
  CHECK(std::isnan(rnd_ends.trace.residual_nuclear[1]));
  CHECK(rnd_ends.trace.residual_nuclear[2] == rnd_on.trace.residual_nuclear[2]);
  const Result qlora = initialize("qlora", w, nf2, 6, on);
  CHECK(qlora.trace.residual_nuclear[0] == Approx(nuclear_reference(qlora, w)).epsilon(1e-4));
  // A known ||W - q(W)||_* is taken as t = 0's value instead of being computed.
  Options known = opts(2, "randomized");
  known.qlora_nuclear = 123.5;
  CHECK(initialize("loftq", w, nf2, 6, known).trace.residual_nuclear[0] == 123.5);
  // exact (sgesvdx, top r only) pays for the values only when asked.
  Options exact_off = opts(2);
  exact_off.nuclear = Nuclear::none;
  for (double v : initialize("loftq", w, nf2, 6, exact_off).trace.residual_nuclear)
    CHECK(std::isnan(v));
  Options exact_on = opts(2);
  exact_on.nuclear = Nuclear::every;
  const Result ex_on = initialize("loftq", w, nf2, 6, exact_on);
  CHECK(ex_on.trace.residual_nuclear[0] == Approx(ex0.trace.residual_nuclear[0]).epsilon(1e-4));
  CHECK(ex_on.trace.residual_nuclear.back() == Approx(nuclear_reference(ex_on, w)).epsilon(1e-4));
  CHECK(parse_nuclear("every") == Nuclear::every);
  CHECK_THROWS_WITH(parse_nuclear("all"), Catch::Contains("none, ends, every"));
}

TEST_CASE("nuclear norm of a step's error: the directions B spans bound its zero values",
          "[init]") {
  // Square, unweighted: E = W - Q - s B A is (I - U U^T)(W - Q), so rank of E's singular values
  // sit at zero; the trace's value is the Gram route told so (lowrank/nuclear.hpp), and exact.
  const Matrix w = weight_like(96, 96, 8);
  for (const char* method : {"loftq", "qpissa"}) {
    INFO(method);
    Options o = opts(2, "randomized", 16);
    const Result res = initialize(method, w, nf2, 8, o);
    Matrix e;
    lowrank::subtract_product(w, static_cast<float>(res.scale), res.B, res.A, e);
    e -= res.Q;
    const lowrank::SmallValues known = lowrank::left_null_bound(e, res.B);
    CHECK(known.count == 8);
    CHECK(res.trace.residual_nuclear.back() == lowrank::nuclear_norm(e, res.B));
    CHECK(res.trace.residual_nuclear.back() == Approx(nuclear_reference(res, w)).epsilon(1e-5));
  }
}

// Everything of a trace but the wall seconds, bit for bit.
void check_same_trace(const Trace& a, const Trace& b) {
  REQUIRE(a.size() == b.size());
  for (size_t t = 0; t < a.size(); ++t) {
    CHECK(a.residual_fro[t] == b.residual_fro[t]);
    CHECK(a.residual_rel[t] == b.residual_rel[t]);
    CHECK(a.residual_vs_qlora[t] == b.residual_vs_qlora[t]);
    const double x = a.residual_nuclear[t], y = b.residual_nuclear[t];
    INFO("t = " << t << ": " << x << " vs " << y);
    CHECK(((std::isnan(x) && std::isnan(y)) || x == y));
  }
}

TEST_CASE("a chain over steps emits what each step count gives alone, bit for bit", "[init]") {
  const Matrix w = weight_like(64, 48, 11);
  const std::vector<int> steps = {0, 1, 2, 5};
  for (const char* method : {"loftq", "qpissa", "qlora"})
    for (const char* svd : {"exact", "exact-gesdd", "randomized"})
      for (Nuclear nuc : {Nuclear::none, Nuclear::ends, Nuclear::every})
        for (bool rise : {false, true}) {
          INFO(method << " " << svd << " nuclear " << format(nuc) << " rise " << rise);
          Options o = opts(1, svd);
          o.nuclear = nuc;
          o.stop_on_rise = rise;
          std::vector<int> seen;
          initialize_chain(method, w, nf2, 6, o, steps, [&](int t, const Result& r) {
            seen.push_back(t);
            Options alone = o;
            alone.steps = t;
            const Result a = initialize(method, w, nf2, 6, alone);
            check_same_trace(r.trace, a.trace);
            CHECK(r.steps_run == a.steps_run);
            CHECK(identical(r.Q, a.Q));
            CHECK(identical(r.A, a.A));
            CHECK(identical(r.B, a.B));
          });
          CHECK(seen == steps);
        }
  // And where stop = rise does stop inside the chain (int2, heavy noise, rank 2: as below).
  bool saw_rise = false;
  for (uint64_t seed = 0; seed < 40 && !saw_rise; ++seed) {
    const Matrix g = test::gaussian(64, 64, 100 + seed, 0.02f);
    const quant::Spec int2 = quant::parse("int2");
    Options o = opts(5, "randomized");
    o.seed = seed;
    o.stop_on_rise = true;
    if (initialize("loftq", g, int2, 2, o).steps_run >= 5) continue;
    saw_rise = true;
    for (Nuclear nuc : {Nuclear::none, Nuclear::ends, Nuclear::every}) {
      o.nuclear = nuc;
      initialize_chain("loftq", g, int2, 2, o, steps, [&](int t, const Result& r) {
        Options alone = o;
        alone.steps = t;
        const Result a = initialize("loftq", g, int2, 2, alone);
        check_same_trace(r.trace, a.trace);
        CHECK(identical(r.Q, a.Q));
      });
    }
  }
  CHECK(saw_rise);
  Options o = opts(2);
  CHECK_THROWS(
      initialize_chain("loftq", w, nf2, 6, o, std::vector<int>{2, 1}, [](int, const Result&) {}));
}

TEST_CASE("a chain over steps hands every target the chain's own state, not a copy", "[init]") {
  // A sweep over steps keeps only traces: a copy of Q per earlier target would be one matrix the
  // size of W each (180 MB at the FFN shape of a 7B model).
  const Matrix w = weight_like(64, 48, 11);
  for (const char* method : {"loftq", "qpissa"}) {
    INFO(method);
    std::vector<const float*> q_storage;
    initialize_chain(method, w, nf2, 6, opts(5), std::vector<int>{1, 2, 5},
                     [&](int, const Result& r) { q_storage.push_back(r.Q.data()); });
    // The last target sees the chain's own state; a copy freed before the next might be
    // reallocated at the same address, so each is compared with the last, not its neighbour.
    REQUIRE(q_storage.size() == 3);
    CHECK(q_storage[0] == q_storage[2]);
    CHECK(q_storage[1] == q_storage[2]);
  }
}

TEST_CASE("loftq with the warm-started randomized SVD stays close to exact", "[init]") {
  // On 4096x4096 nf2 r64 T5 the default (w = 0) ends 0.17% above exact and w = 1 0.006%
  // (bench/README.md). This small matrix with a flat noise tail is harder for any sketch: both
  // end about 1% above exact (measured 1.1% and 0.97% for nf2).
  const Matrix w = weight_like(256, 192, 13);
  for (const char* quant : {"nf2", "nf4"}) {
    INFO(quant);
    const quant::Spec q = quant::parse(quant);
    const double exact = initialize("loftq", w, q, 16, opts(5)).trace.residual_fro.back();
    const Result warm = initialize("loftq", w, q, 16, opts(5, "randomized-warm"));
    CHECK(warm.trace.residual_fro.back() <= exact * 1.015);
    CHECK(residual_reference(w, warm.Q, warm.B, warm.A, warm.scale) ==
          Approx(warm.trace.residual_fro.back()).epsilon(1e-5));
    const Result warm1 = initialize("loftq", w, q, 16, opts(5, "randomized-warm:w=1"));
    CHECK(warm1.trace.residual_fro.back() <= exact * 1.015);
    CHECK(warm1.trace.residual_fro.back() <= warm.trace.residual_fro.back() * 1.001);
  }
}

TEST_CASE("stop = rise keeps the best step and a trace that ends at it", "[init]") {
  // A matrix where the alternation does not decrease monotonically: int2 on heavy noise with a
  // tiny rank rises after the first steps on some seeds; search a few to find one that rises.
  bool saw_rise = false;
  for (uint64_t seed = 0; seed < 40 && !saw_rise; ++seed) {
    const Matrix w = test::gaussian(64, 64, 100 + seed, 0.02f);
    const quant::Spec q = quant::parse("int2");
    Options full = opts(6, "randomized");
    full.seed = seed;
    const Result all = initialize("loftq", w, q, 2, full);
    const auto& f = all.trace.residual_fro;
    size_t rise = 0;
    for (size_t t = 1; t < f.size() && !rise; ++t)
      if (f[t] > f[t - 1]) rise = t;
    if (!rise) continue;
    saw_rise = true;
    Options stop = full;
    stop.stop_on_rise = true;
    const Result best = initialize("loftq", w, q, 2, stop);
    REQUIRE(best.trace.size() == rise);
    CHECK(best.steps_run == int(rise));
    for (size_t t = 0; t < rise; ++t) CHECK(best.trace.residual_fro[t] == f[t]);
    CHECK(residual_reference(w, best.Q, best.B, best.A, best.scale) ==
          Approx(f[rise - 1]).epsilon(1e-5));
  }
  CHECK(saw_rise);
}

TEST_CASE("same seed, same result with 1 and 2 threads", "[init]") {
  const Matrix w = weight_like(512, 384, 8);
  const int saved = omp_get_max_threads();
  for (const auto& method : methods()) {
    INFO(method.name);
    Options o = opts(2, "randomized");
    const auto h = test::stats_for(method, w, o);
    omp_set_num_threads(1);
    const Result one = initialize(method.name, w, nf2, 16, o);
    omp_set_num_threads(2);
    const Result two = initialize(method.name, w, nf2, 16, o);
    CHECK(identical(one.Q, two.Q));
    CHECK(identical(one.A, two.A));
    CHECK(identical(one.B, two.B));
    CHECK(one.trace.residual_fro == two.trace.residual_fro);
  }
  omp_set_num_threads(saved);
}

TEST_CASE("bad inputs are errors that say what is valid", "[init]") {
  const Matrix w = test::gaussian(32, 64, 1, 0.02f);
  CHECK_THROWS_WITH(initialize("loftQ", w, nf2, 4),
                    Catch::Contains("loftQ") && Catch::Contains("qpissa"));
  CHECK_THROWS_WITH(initialize("loftq", w, nf2, 33), Catch::Contains("1..32"));
  CHECK_THROWS_WITH(initialize("loftq", w, nf2, 0), Catch::Contains("rank 0"));
  CHECK_THROWS_WITH(initialize("loftq", w, nf2, 4, opts(-1)), Catch::Contains("steps"));
  Matrix bad = w;
  bad(1, 1) = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH(initialize("qlora", bad, nf2, 4), Catch::Contains("NaN or Inf"));
  CHECK_THROWS_AS(initialize("qlora", test::gaussian(3, 5, 1, 0.02f), nf2, 2),
                  Error);  // 15 values: no block
}

// A real layer: wq of layer 0 of stories260K (64 x 64), read straight from the llama2.c file.
TEST_CASE("loftq on a real layer (stories260K wq[0]) beats qlora at every bit width", "[init]") {
  LOFT_REQUIRE_DATA(data);
  std::ifstream f(data / "stories260K.bin", std::ios::binary);
  int32_t header[7];
  f.read(reinterpret_cast<char*>(header), sizeof header);
  const int dim = header[0], layers = header[2], vocab = std::abs(header[5]);
  REQUIRE(dim == 64);
  f.seekg(sizeof header + sizeof(float) * (size_t(vocab) * dim + size_t(layers) * dim));
  Matrix w(dim, dim);
  f.read(reinterpret_cast<char*>(w.data()), sizeof(float) * w.size());
  REQUIRE(f);
  for (const char* q : {"nf2", "nf3", "nf4"}) {
    INFO(q);
    const quant::Spec spec = quant::parse(q);
    const Result r = initialize("loftq", w, spec, 8, opts(5));
    CHECK(r.trace.residual_fro[0] == Approx(frobenius_distance(w, quant::fake_quantize(spec, w))));
    CHECK(r.trace.residual_fro[5] < 0.95 * r.trace.residual_fro[0]);
    CHECK(r.trace.residual_fro[5] ==
          Approx(residual_reference(w, r.Q, r.B, r.A, r.scale)).epsilon(1e-5));
  }
}
