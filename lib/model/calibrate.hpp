#pragma once
// Calibration statistics for data-aware initialisation (init/weighting.hpp): the Llama forward
// over N tokens of a corpus's training split, accumulating for every linear layer the input
// second moment H = sum x^T x in float64 (q/k/v share one H, gate/up another: they share their
// input) and optionally the diagonal empirical Fisher of the LM loss with respect to each weight,
// the mean over batches of the squared batch gradient (the existing backward).
//
// The sequences are seeded random windows of seq_len tokens (train.hpp's sample_batch), as many
// as cover `tokens`. Memory beyond the model and one batch's activations: the statistics of the
// layers of one pass; `layers_per_pass` = k runs the forward ceil(n_layers / k) times and holds
// k layers' H at a time; 0 (the default) holds as many layers as fit in `stats_bytes` (at least
// one), so a small model takes one pass and a 7B-shaped one (1.4 GB of H per layer) one per
// layer, and the peak does not grow with depth. The Fisher needs the model's gradients (the size
// of the linear weights) on top.
//
// The file (HDF5; results/README.md "Calibration files") is keyed by everything in CalibKey; a
// file computed for another key is refused, naming the field that differs.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <span>
#include <string>

#include "common/matrix.hpp"
#include "init/weighting.hpp"
#include "model/llama.hpp"

namespace loft::model {

struct CalibKey {
  std::string model, corpus, tokenizer;
  int64_t tokens = 16384;
  int seq_len = 128;
  uint64_t seed = 0;
  bool fisher = false;
};

struct CalibStats {
  CalibKey key;
  int64_t tokens_used = 0;  // sequences * seq_len (tokens rounded up to whole sequences)
  int passes = 0;           // forward passes over the tokens (not stored in the file)
  double seconds = 0;
  std::map<std::string, MatrixD> h;       // by input group (input_group())
  std::map<std::string, MatrixD> fisher;  // by weight name

  // The statistics of one weight (null where absent).
  init::LayerStats layer(const std::string& weight_name) const;
};

// The H key of a linear weight: q/k/v map to q_proj's name and up to gate_proj's, since they
// read the same input; any other name maps to itself.
std::string input_group(const std::string& weight_name);

struct CalibOptions {
  int batch = 8;
  int layers_per_pass = 0;
  size_t stats_bytes = size_t{1} << 30;  // the budget of layers_per_pass = 0
  int only_layer = -1;                   // >= 0: the statistics of this layer alone (one pass)
  std::function<void(double fraction)> progress;
  // Optional views of what is accumulated, for checking H from outside (`loftlab calibrate
  // --dump-inputs`): the token windows of every batch (rows x seq_len, once per batch) and every
  // linear layer's input of every batch (rows * seq_len x width) under its input group's name.
  std::function<void(std::span<const int32_t> windows)> on_windows;
  std::function<void(const std::string& group, const Mat<float>& x)> on_input;
};

// Loads key.model and key.corpus's training split (key.tokenizer), then calibrate_model.
CalibStats calibrate(const CalibKey& key, const CalibOptions& options = {});
// The statistics of a loaded model over `tokens` (key names them; tests pass tiny models).
CalibStats calibrate_model(Llama<float>& m, const std::vector<int32_t>& tokens, const CalibKey& key,
                           const CalibOptions& options = {});

void write_calibration(const CalibStats& stats, const std::filesystem::path& path);
CalibStats read_calibration(const std::filesystem::path& path);
// Throws naming the first field of `key` that the file's key does not match.
void check_key(const CalibKey& file, const CalibKey& wanted, const std::filesystem::path& path);

// The file at `path` when it exists with this key (an error when it has another), else the
// statistics computed and written there. `computed` (optional) says which happened.
CalibStats load_or_calibrate(const CalibKey& key, const std::filesystem::path& path,
                             const CalibOptions& options = {}, bool* computed = nullptr);

}  // namespace loft::model
