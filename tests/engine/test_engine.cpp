// The whole-model engine: streaming (results independent of the job count, errors naming the
// tensor), the plan's per-tensor choices, stage files, and the PEFT adapter config.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "engine/export.hpp"
#include "engine/peft.hpp"
#include "engine/plan.hpp"
#include "engine/stream.hpp"
#include "support.hpp"

using namespace loft;
namespace fs = std::filesystem;

namespace {

// A source of seeded matrices, counting the pages it is asked to release.
class Fake final : public io::TensorSource {
 public:
  std::vector<io::TensorInfo> tensors;
  mutable std::atomic<int> released{0};
  std::vector<io::TensorInfo> list() const override { return tensors; }
  Matrix load(const std::string& name) const override {
    for (const auto& t : tensors)
      if (t.name == name) {
        if (name.find("bad") != std::string::npos) throw Error("unreadable");
        const auto rows = t.shape[0], cols = t.shape.size() > 1 ? t.shape[1] : 1;
        return test::gaussian(rows, cols, derive_seed(1, name), 1.0f);
      }
    throw Error("no such tensor");
  }
  void release(const std::string&) const override { ++released; }
  std::string describe() const override { return "fake"; }
};

std::vector<io::TensorInfo> model_tensors() {
  return {{"embed.weight", {32, 16}, "F32"},
          {"layers.0.norm.weight", {16}, "F32"},
          {"layers.0.proj.weight", {32, 64}, "F32"},
          {"layers.1.proj.weight", {64, 64}, "BF16"},
          {"layers.1.conv.weight", {4, 4, 4}, "F32"}};
}

}  // namespace

TEST_CASE("engine: stream_tensors gives the same results for any job count") {
  Fake src;
  src.tensors = model_tensors();
  const std::vector<std::string> names = {"embed.weight", "layers.0.proj.weight",
                                          "layers.1.proj.weight"};
  auto sums = [&](int jobs) {
    std::map<size_t, double> out;
    std::mutex mu;
    engine::StreamOptions o;
    o.jobs = jobs;
    size_t last = 0;
    o.on_done = [&](size_t done, size_t) { last = done; };
    engine::stream_tensors(
        src, names,
        [&](size_t i, Matrix&& w) {
          std::lock_guard lock(mu);
          out[i] = w.cast<double>().squaredNorm();
        },
        o);
    CHECK(last == names.size());
    return out;
  };
  const auto one = sums(1);
  CHECK(one.size() == 3);
  CHECK(sums(3) == one);
  CHECK(src.released == 6);  // every loaded tensor's pages dropped
}

TEST_CASE("engine: stream_tensors stops at the first error and names the tensor") {
  Fake src;
  src.tensors = model_tensors();
  src.tensors.push_back({"layers.2.bad.weight", {8, 8}, "F32"});
  std::atomic<int> ran{0};
  const std::vector<std::string> names = {"layers.2.bad.weight", "embed.weight"};
  engine::StreamOptions o;
  CHECK_THROWS_WITH(engine::stream_tensors(
                        src, names, [&](size_t, Matrix&&) { ++ran; }, o),
                    Catch::Contains("layers.2.bad.weight") && Catch::Contains("unreadable"));
  CHECK(ran == 0);
}

TEST_CASE("engine: the plan initialises 2-D targets with their rules and copies the rest") {
  Fake src;
  src.tensors = model_tensors();
  const auto& loftq = init::find_method("loftq");
  const auto plan =
      engine::make_plan(src, "*proj*", loftq, init::parse_quant_rules("layers.0.*=nf2; *=nf4"),
                        init::parse_rank_rules("layers.1.*=8; *=4"));
  REQUIRE(plan.tensors.size() == 5);
  CHECK(plan.targets == 2);
  CHECK(plan.files == std::vector<std::string>{"model.safetensors"});
  CHECK_FALSE(plan.tensors[0].target);
  CHECK(plan.tensors[2].target);
  CHECK(plan.tensors[2].module == "layers.0.proj");
  REQUIRE(plan.tensors[2].quant);
  CHECK(quant::format(*plan.tensors[2].quant) == "nf2");
  CHECK(plan.tensors[2].rank.fixed == 4);
  CHECK(quant::format(plan.tensors[3].quant.value()) == "nf4");
  CHECK(plan.tensors[3].rank.fixed == 8);
  CHECK_FALSE(plan.tensors[0].quant);  // copied, not quantised
  // lora does not quantise: its targets carry no quantizer.
  const auto bare = engine::make_plan(src, "*proj*", init::find_method("lora"),
                                      init::parse_quant_rules("nf4"), init::parse_rank_rules("4"));
  CHECK(bare.tensors[2].target);
  CHECK_FALSE(bare.tensors[2].quant);
  CHECK_THROWS_WITH(engine::make_plan(src, "layers.0.norm.weight", loftq,
                                      init::parse_quant_rules("nf4"), init::parse_rank_rules("4")),
                    Catch::Contains("1-D"));
  CHECK_THROWS_WITH(engine::make_plan(src, "layers.1.conv.weight", loftq,
                                      init::parse_quant_rules("nf4"), init::parse_rank_rules("4")),
                    Catch::Contains("3-D"));
  CHECK_THROWS_WITH(engine::make_plan(src, "*proj*", loftq, init::parse_quant_rules("nf4"),
                                      init::parse_rank_rules("40")),
                    Catch::Contains("exceeds min(out, in) = 32"));
}

TEST_CASE("engine: a stage file round-trips the trace and is refused for another tensor") {
  const fs::path dir = fs::temp_directory_path() / ("loftlab-engine-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const Matrix w = test::gaussian(32, 64, 3, 1.0f);
  const auto res = init::initialize("loftq", w, quant::parse("nf4"), 4, {});
  engine::write_stage(dir / "t.safetensors", "a.weight", res, "BF16");
  const auto s = engine::read_stage(dir / "t.safetensors", "a.weight");
  REQUIRE(s);
  CHECK(s->rank == 4);
  CHECK(s->alpha == res.lora_alpha);
  CHECK(s->trace.residual_fro == res.trace.residual_fro);
  CHECK(std::isnan(s->trace.residual_nuclear.back()) ==
        std::isnan(res.trace.residual_nuclear.back()));
  CHECK_FALSE(engine::read_stage(dir / "t.safetensors", "b.weight"));
  CHECK_FALSE(engine::read_stage(dir / "absent.safetensors", "a.weight"));
  fs::remove_all(dir);
}

TEST_CASE("engine: the adapter config takes the most common rank and alpha as defaults") {
  const auto text = engine::adapter_config(
      {{"m.a", 8, 16}, {"m.b", 8, 16}, {"m.c", 4, 16}, {"m.d", 8, 8}}, "/base");
  const auto j = nlohmann::json::parse(text);
  CHECK(j["peft_type"] == "LORA");
  CHECK(j["r"] == 8);
  CHECK(j["lora_alpha"] == 16.0);
  CHECK(j["rank_pattern"] == nlohmann::json{{"m.c", 4}});
  CHECK(j["alpha_pattern"] == nlohmann::json{{"m.d", 8.0}});
  CHECK(j["target_modules"].size() == 4);
  CHECK(engine::lora_a_key("m.a") == "base_model.model.m.a.lora_A.weight");
  CHECK(engine::lora_b_key("m.a") == "base_model.model.m.a.lora_B.weight");
  CHECK_THROWS(engine::adapter_config({}, "/base"));
}
