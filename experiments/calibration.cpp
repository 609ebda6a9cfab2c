// Calibration statistics in the experiments (calibration.hpp).
#include "experiments/calibration.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <map>
#include <mutex>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "io/source.hpp"
#include "model/token_data.hpp"
#include "text/corpus.hpp"

namespace loft::exp {

bool data_aware(const init::Method& m, init::Weight w) {
  return m.needs != init::Needs::nothing || (m.uses_steps && w != init::Weight::none);
}

std::vector<Key> calibration_keys(const std::string& default_corpus) {
  return {
      {"weight", "none", "loftq/qpissa low-rank step weighting: none, act (H), fisher"},
      {"scale", "exact", "act weighting (qera, weight = act): exact (chol H) or diag"},
      number_key("damping", "0.01", true,
                 "lambda added to H's diagonal relative to its mean (weighted methods)"),
      {"calib_corpus", default_corpus,
       "calibration corpus of data-aware methods (its training split): " + text::corpus_names()},
      integer_key("calib_tokens", "16384", 1, INT64_MAX, "calibration tokens"),
      integer_key("calib_seq_len", "128", 1, 1 << 20, "calibration sequence length"),
      {"calib_inputs", "float",
       "float: statistics of the unquantised model; quantized: block by block from the model "
       "whose earlier blocks already hold their initialisation (ApiQ; finetune, classify)"},
  };
}

void add_calibration(const KeyValues& in, const init::Method& m, init::Weight weight, bool aware,
                     const CalibSource& source, Params& p) {
  if (aware) {
    if (m.uses_steps) p["weight"] = std::string(init::name(weight));
    const bool act = m.needs == init::Needs::calibration || weight == init::Weight::act;
    if (act) p["scale"] = std::string(init::name(init::parse_scale(in.text("scale"))));
    p["damping"] = in.number("damping");
  }
  if (source.corpus == "none")
    fail("method '{}'{} needs calibration statistics: set calib_corpus ({})", m.name,
         m.uses_steps ? fmt::format(" with weight = {}", init::name(weight)) : "",
         text::corpus_names());
  const auto& model = source.model;
  if (model.rfind("llama2c:", 0) != 0 && model.rfind("hf:", 0) != 0 &&
      model.rfind("pretrained:", 0) != 0)
    fail(
        "calib_model: '{}' is not a model (valid: {}); the calibration statistics need a forward "
        "pass",
        model, io::source_forms(true));
  p["calib_model"] = model;
  p["calib_corpus"] = source.corpus;
  p["calib_tokenizer"] = model::resolve_tokenizer(model, source.tokenizer);
  p["calib_tokens"] = in.integer("calib_tokens");
  p["calib_seq_len"] = in.integer("calib_seq_len");
  // Only the step methods weigh by the Fisher; qera with weight = fisher is qera.
  if (m.uses_steps && weight == init::Weight::fisher) p["calib_fisher"] = int64_t{1};
  const auto& inputs = in.text("calib_inputs");
  if (inputs != "float" && inputs != "quantized")
    fail("calib_inputs = '{}' (valid: float, quantized)", inputs);
  // Only an init that reads H depends on where H comes from (the Fisher weighting does not).
  const bool reads_h = m.needs == init::Needs::calibration || weight == init::Weight::act;
  if (aware && reads_h && inputs == "quantized") p["calib_inputs"] = inputs;
}

bool quantized_inputs(const Params& p) {
  return p.count("calib_inputs") > 0;
}

model::CalibKey calib_key(const Params& p) {
  auto text = [&](const char* k) { return std::get<std::string>(p.at(k)); };
  model::CalibKey key;
  key.model = text("calib_model");
  key.corpus = text("calib_corpus");
  key.tokenizer = text("calib_tokenizer");
  key.tokens = std::get<int64_t>(p.at("calib_tokens"));
  key.seq_len = static_cast<int>(std::get<int64_t>(p.at("calib_seq_len")));
  key.fisher = p.count("calib_fisher") > 0;
  return key;
}

std::string calib_text(const model::CalibKey& key) {
  return fmt::format("{}\n{}\n{}\n{}\n{}\n{}", key.model, key.corpus, key.tokenizer, key.tokens,
                     key.seq_len, key.fisher);
}

std::shared_ptr<const model::CalibStats> calibration(const Params& p, const Context& ctx) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const model::CalibStats>> cache;
  const auto key = calib_key(p);
  const std::string text = calib_text(key);
  std::lock_guard lock(mu);
  if (auto it = cache.find(text); it != cache.end()) return it->second;
  std::shared_ptr<const model::CalibStats> stats;
  if (ctx.cache_dir.empty()) {
    stats = std::make_shared<model::CalibStats>(model::calibrate(key));
  } else {
    std::filesystem::create_directories(ctx.cache_dir);
    const auto path = std::filesystem::path(ctx.cache_dir) /
                      fmt::format("calib-{:016x}.h5", derive_seed(0, text));
    bool computed = false;
    stats = std::make_shared<model::CalibStats>(model::load_or_calibrate(key, path, {}, &computed));
    fmt::print(stderr, "calibration: {} {}\n", computed ? "computed" : "reused", path.string());
  }
  cache.emplace(text, stats);
  return stats;
}

void weighting_options(const Params& p, init::Options& options) {
  if (p.count("weight")) options.weight = init::parse_weight(std::get<std::string>(p.at("weight")));
  if (p.count("scale")) options.scale = init::parse_scale(std::get<std::string>(p.at("scale")));
  if (p.count("damping")) options.damping = std::get<double>(p.at("damping"));
}

}  // namespace loft::exp
