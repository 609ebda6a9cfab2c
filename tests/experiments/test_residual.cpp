// The residual experiment: normalisation (what collapses, what is an error) and what a point
// records, checked against independent recomputation from the source's matrices.
#include <fmt/format.h>
#include <omp.h>
#include <Eigen/SVD>
#include <cmath>
#include <fstream>

#include "common/error.hpp"
#include "experiments/experiment.hpp"
#include "io/io_test_util.hpp"
#include "io/safetensors.hpp"
#include "io/source.hpp"
#include "quant/quantizer.hpp"
#include "support.hpp"

using namespace loft;
using Catch::Matchers::Contains;

namespace {

const exp::Experiment& residual() {
  return exp::find_experiment("residual");
}

const char* kSource = "synthetic:lowrank:shape=64x48:count=2:seed=4";

// The experiment's defaults, overridden by `set`.
std::map<std::string, std::string> raw(std::map<std::string, std::string> set) {
  std::map<std::string, std::string> r;
  for (const auto& k : residual().keys) r[k.name] = k.default_value;
  r["source"] = kSource;
  for (auto& [k, v] : set) r[k] = v;
  return r;
}

exp::Params norm(std::map<std::string, std::string> set) {
  return residual().normalise(raw(set));
}

std::string text(const exp::Params& p, const char* k) {
  return std::get<std::string>(p.at(k));
}

double nuclear_reference(const Matrix& e) {
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(e.cast<double>());
  return svd.singularValues().sum();
}

// Equal bit for bit, NaN (not computed) equal to NaN.
bool same_values(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return false;
  for (size_t t = 0; t < a.size(); ++t)
    if (!(a[t] == b[t] || (std::isnan(a[t]) && std::isnan(b[t])))) return false;
  return true;
}

// This process's resident file-backed pages (RssFile of /proc/self/status) in bytes; -1 where
// the kernel does not report it.
long resident_file_bytes() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("RssFile:", 0) == 0) return std::stol(line.substr(8)) * 1024;
  return -1;
}

}  // namespace

TEST_CASE("residual normalise drops what a method does not use, so points collapse", "[residual]") {
  const auto qlora = norm({{"method", "qlora"}, {"rank", "8"}, {"steps", "5"}, {"seed", "3"}});
  CHECK(qlora == norm({{"method", "qlora"}, {"rank", "16"}, {"steps", "1"}, {"stop", "rise"}}));
  CHECK(qlora.count("rank") == 0);
  CHECK(qlora.count("steps") == 0);
  CHECK(qlora.count("svd") == 0);
  // LoftQ with no step is QLoRA.
  CHECK(norm({{"method", "loftq"}, {"steps", "0"}, {"rank", "4"}}) == qlora);

  const auto loftq = norm({{"method", "loftq"}, {"quant", "nf2:b64"}, {"steps", "1"}});
  CHECK(text(loftq, "quant") == "nf2");  // canonical spec
  CHECK(std::get<int64_t>(loftq.at("bits")) == 2);
  CHECK(std::get<int64_t>(loftq.at("rank")) == 16);
  CHECK(loftq.count("stop") == 0);   // one step: nothing to stop
  CHECK(loftq.count("seed") == 0);   // exact SVD: nothing random reaches the residual
  CHECK(loftq.count("alpha") == 0);  // the factors absorb s
  CHECK(loftq == norm({{"method", "loftq"}, {"quant", "nf2"}, {"seed", "9"}, {"alpha", "4"}}));
  const auto randomized = norm({{"method", "loftq"}, {"svd", "randomized"}, {"steps", "2"}});
  CHECK(std::get<int64_t>(randomized.at("seed")) == 0);
  CHECK(text(randomized, "stop") == "none");
  CHECK(text(randomized, "svd").rfind("randomized", 0) == 0);
  // qpissa with 0 steps is QPiSSA itself, a point of its own.
  CHECK(text(norm({{"method", "qpissa"}, {"steps", "0"}}), "method") == "qpissa");
}

TEST_CASE("residual normalise: per-tensor rules are canonical text", "[residual]") {
  const auto p = norm({{"method", "loftq"},
                       {"quant", " synthetic.0.* = nf4 ;*=nf2"},
                       {"rank", "synthetic.0.*=8; *=4"}});
  CHECK(text(p, "quant") == text(norm({{"method", "loftq"},
                                       {"quant", "synthetic.0.*=nf4; *=nf2"},
                                       {"rank", "synthetic.0.*=8; *=4"}}),
                                 "quant"));
  CHECK(p.count("bits") == 0);  // no single bit width
  CHECK(std::holds_alternative<std::string>(p.at("rank")));
}

TEST_CASE("residual normalise: bad values name the key, the value and what is valid",
          "[residual][errors]") {
  auto err = [](std::map<std::string, std::string> set) {
    try {
      norm(set);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    FAIL("accepted");
    return std::string();
  };
  CHECK_THAT(err({{"rank", "abc"}}), Contains("rank") && Contains("abc"));
  CHECK_THAT(err({{"steps", "-1"}}), Contains("steps") && Contains("-1"));
  CHECK_THAT(err({{"alpha", "0"}}), Contains("alpha") && Contains("positive"));
  CHECK_THAT(err({{"stop", "maybe"}}), Contains("stop") && Contains("rise"));
  CHECK_THAT(err({{"svd", "qr"}}), Contains("svd") && Contains("qr"));
  CHECK_THAT(err({{"quant", "nf5"}}), Contains("quant") && Contains("nf5"));
  CHECK_THAT(err({{"method", "loftx"}}), Contains("loftx") && Contains("loftq"));
  CHECK_THAT(err({{"method", "lora"}}), Contains("does not quantise") && Contains("qpissa"));
  CHECK_THAT(err({{"source", "hf:/no/such/folder"}}), Contains("/no/such/folder"));
  CHECK_THAT(err({{"layers", "*.q_proj.*"}}), Contains("*.q_proj.*") && Contains("matches no"));
}

TEST_CASE("a residual point's metrics agree with a recomputation from the matrices", "[residual]") {
  const std::string method = GENERATE("loftq", "qpissa");
  const auto p = norm({{"method", method}, {"quant", "nf2"}, {"rank", "4"}, {"steps", "2"}});
  const auto r = residual().run(p, {});
  CHECK(r.status == "complete");
  REQUIRE(r.layers.size() == 2);
  const auto src = io::open_source(kSource);
  const auto spec = quant::parse("nf2");
  double rel = 0, red_fro = 0, red_nuc = 0;
  for (const auto& [name, traces] : r.layers) {
    const auto& fro = traces.at("residual_fro");
    REQUIRE(fro.size() == 3);  // t = 0, 1, 2
    for (const char* k : {"residual_rel", "residual_vs_qlora", "residual_nuclear", "seconds"})
      CHECK(traces.at(k).size() == 3);
    const Matrix w = src->load(name);
    const Matrix e = w - quant::fake_quantize(spec, w);
    const double qlora_fro = e.cast<double>().norm();
    if (method == "loftq") CHECK(fro[0] == Approx(qlora_fro).epsilon(1e-6));  // t = 0: QLoRA
    rel += fro.back() / w.cast<double>().norm();
    red_fro += 1 - fro.back() / qlora_fro;
    red_nuc += 1 - traces.at("residual_nuclear").back() / nuclear_reference(e);
  }
  CHECK(r.metrics.at("tensors") == 2);
  CHECK(r.metrics.at("mean_residual_rel") == Approx(rel / 2).epsilon(1e-6));
  CHECK(r.metrics.at("err_reduction_fro") == Approx(red_fro / 2).epsilon(1e-5));
  CHECK(r.metrics.at("err_reduction_nuclear") == Approx(red_nuc / 2).epsilon(1e-5));
  CHECK(r.metrics.at("err_reduction_fro") > 0);
  CHECK(r.metrics.at("bits_per_weight") == Approx(quant::bits_per_weight(spec)));
  CHECK(r.metrics.at("seconds") >= 0);

  // QLoRA is its own reference: no reduction, one trace entry.
  const auto q = residual().run(norm({{"method", "qlora"}, {"quant", "nf2"}}), {});
  CHECK(q.metrics.at("err_reduction_fro") == Approx(0).margin(1e-12));
  CHECK(q.metrics.at("err_reduction_nuclear") == Approx(0).margin(1e-6));
  CHECK(q.layers.begin()->second.at("residual_fro").size() == 1);
}

TEST_CASE("a residual point does not depend on the thread count", "[residual]") {
  const auto p = norm({{"method", "qpissa"},
                       {"quant", "nf3"},
                       {"rank", "8"},
                       {"steps", "3"},
                       {"source", "synthetic:gaussian:shape=96x64:count=3:seed=1"}});
  exp::Context one, two;
  one.threads = 1;
  two.threads = 2;
  const auto a = residual().run(p, one);
  const auto b = residual().run(p, two);
  for (const auto& [name, traces] : a.layers)
    for (const auto& [k, v] : traces)
      if (k != "seconds") CHECK(same_values(b.layers.at(name).at(k), v));
  for (const auto& [k, v] : a.metrics)
    if (k != "seconds") CHECK(b.metrics.at(k) == v);
}

TEST_CASE("a failing tensor fails the point, naming the tensor", "[residual][errors]") {
  const auto p = norm({{"method", "loftq"}, {"rank", "60"}});  // 60 > min(64, 48)
  CHECK_THROWS_WITH(residual().run(p, {}), Contains("synthetic.0.weight") && Contains("rank"));
}

TEST_CASE("residual on the real stories260K projections", "[residual][data]") {
  LOFT_REQUIRE_DATA(data);
  const auto p = norm({{"source", "hf:" + (data / "stories260K-hf").string()},
                       {"layers", "*.q_proj.*, *.down_proj.*"},
                       {"method", "loftq"},
                       {"quant", "nf2"},
                       {"rank", "8"},
                       {"steps", "2"}});
  const auto r = residual().run(p, {});
  CHECK(r.metrics.at("tensors") == 10);  // 5 layers x 2 projection types
  CHECK(r.layers.count("model.layers.4.mlp.down_proj.weight") == 1);
  CHECK(r.metrics.at("err_reduction_fro") > 0.05);
  CHECK(r.metrics.at("err_reduction_fro") < 1);
  CHECK(r.metrics.at("mean_residual_rel") > 0);
}

TEST_CASE("residual: points differing only in steps share a chain and equal their lone runs",
          "[residual]") {
  for (const char* svd : {"exact", "randomized"})
    for (const char* nuclear : {"ends", "every", "none"}) {
      INFO(svd << " nuclear " << nuclear);
      std::vector<exp::Params> points;
      for (const char* steps : {"1", "2", "5"})
        points.push_back(
            norm({{"method", "loftq"}, {"steps", steps}, {"svd", svd}, {"nuclear", nuclear}}));
      CHECK(residual().chain_key(points[0]) == residual().chain_key(points[2]));
      const auto chained = residual().run_chain(points, {});
      REQUIRE(chained.size() == points.size());
      for (size_t k = 0; k < points.size(); ++k) {
        const auto alone = residual().run(points[k], {});
        CHECK(chained[k].params == points[k]);
        for (const auto& [name, m] : alone.metrics) {
          if (name == "seconds") continue;
          CHECK(same_values({chained[k].metrics.at(name)}, {m}));
        }
        for (const auto& [tensor, sets] : alone.layers)
          for (const auto& [set, values] : sets) {
            if (set == "seconds") continue;
            CHECK(same_values(chained[k].layers.at(tensor).at(set), values));
          }
      }
    }
  // nuclear is a key: written when not the default, an error naming the valid choices.
  CHECK(norm({{"nuclear", "ends"}}).count("nuclear") == 0);
  CHECK(text(norm({{"nuclear", "none"}}), "nuclear") == "none");
  CHECK_THROWS_WITH(norm({{"nuclear", "both"}}), Contains("none, ends, every"));
  // stop = rise does not chain with stop = none.
  CHECK(residual().chain_key(norm({{"steps", "2"}, {"stop", "rise"}})) !=
        residual().chain_key(norm({{"steps", "1"}})));
  CHECK(residual().chain_key(norm({{"steps", "2"}})) ==
        residual().chain_key(norm({{"steps", "1"}})));
}

TEST_CASE("residual: a point drops each tensor's mapped pages once read", "[residual]") {
  if (resident_file_bytes() < 0) {
    WARN("skipped: /proc/self/status has no RssFile");
    return;
  }
  // 12 tensors of 4 MB in one mapped shard: without the release, the file's pages stay mapped
  // and the resident set grows by the whole 48 MB as the walk goes on.
  test::TempDir dir("residual-release");
  constexpr int kTensors = 12;
  constexpr long kTensorBytes = 256L * 4096 * 4;
  std::vector<std::pair<std::string, Matrix>> tensors;
  for (int i = 0; i < kTensors; ++i)
    tensors.emplace_back(fmt::format("model.layers.{}.mlp.up_proj.weight", i),
                         test::gaussian(256, 4096, 40 + i, 0.02f));
  io::write_safetensors(dir / "model.safetensors", tensors);
  tensors.clear();
  const std::string spec = "hf:" + dir.path().string();

  // The measure sees mapped pages: loading every tensor without releasing keeps them resident.
  {
    const auto src = io::open_source(spec);
    const long before = resident_file_bytes();
    for (const auto& t : src->list()) src->load(t.name);
    CHECK(resident_file_bytes() - before >= kTensors * kTensorBytes * 3 / 4);
  }
  const auto p = norm({{"source", spec}, {"method", "qlora"}, {"nuclear", "none"}});
  const long before = resident_file_bytes();
  long peak = 0;
  exp::Context ctx;
  ctx.threads = 1;
  ctx.progress = [&](double, const std::string&) {
    peak = std::max(peak, resident_file_bytes() - before);
  };
  const auto r = residual().run(p, ctx);
  CHECK(r.metrics.at("tensors") == kTensors);
  INFO("peak growth of resident file pages: " << peak << " bytes");
  CHECK(peak < 2 * kTensorBytes);
}
