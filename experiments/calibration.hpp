#pragma once
// What the experiments share about calibration statistics (model/calibrate.hpp): which points
// need them, the keys that say how to compute them, the parameters they add to a point, and one
// computation per key per process (and per cache folder).
#include <memory>
#include <string>
#include <vector>

#include "experiments/experiment.hpp"
#include "init/init.hpp"
#include "model/calibrate.hpp"

namespace loft::exp {

// A method that uses calibration statistics: qera, or loftq/qpissa with weight = act or fisher.
bool data_aware(const init::Method& m, init::Weight w);

// weight, scale, damping, calib_corpus (with this default), calib_tokens, calib_seq_len.
std::vector<Key> calibration_keys(const std::string& default_corpus);

// Where a point's statistics come from: the model whose forward gives them, its tokenizer (as
// the config says it; resolved here) and the corpus (already resolved by the experiment).
struct CalibSource {
  std::string model, tokenizer, corpus;
};

// The parameters a point adds: with `aware`, its weighting (weight, scale, damping as they apply
// to the method); always the calibration key (calib_model, calib_corpus, calib_tokenizer,
// calib_tokens, calib_seq_len, and calib_fisher for weight = fisher). Throws naming what is
// missing: a corpus of "none", a model that has no forward pass.
void add_calibration(const KeyValues& in, const init::Method& m, init::Weight weight, bool aware,
                     const CalibSource& source, Params& p);

// calib_inputs = quantized: the statistics depend on the point's own initialisation, so they are
// computed with it (model::attach_adapters_on_quantized_inputs), not by calibration().
bool quantized_inputs(const Params& p);

// The statistics a point's calibration parameters describe, and their identity as text.
model::CalibKey calib_key(const Params& p);
std::string calib_text(const model::CalibKey& key);
// Computed once per key per process; with ctx.cache_dir, once per key per folder (a file named
// by a hash of the key, refused when its key differs). Says on stderr which happened.
std::shared_ptr<const model::CalibStats> calibration(const Params& p, const Context& ctx);

// The init options a point's weighting parameters give (weight, scale, damping).
void weighting_options(const Params& p, init::Options& options);

}  // namespace loft::exp
