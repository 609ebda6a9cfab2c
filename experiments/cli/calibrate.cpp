// loftlab calibrate MODEL --corpus C --tokens N --out FILE: the calibration statistics of the
// data-aware init methods (model/calibrate.hpp), written as one HDF5 file.
#include <fmt/format.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <vector>

#include "common/error.hpp"
#include "experiments/cli/commands.hpp"
#include "experiments/cli/options.hpp"
#include "io/npy.hpp"
#include "io/source.hpp"
#include "model/calibrate.hpp"
#include "model/token_data.hpp"
#include "text/corpus.hpp"

namespace po = boost::program_options;

namespace loft::cli {

namespace {

namespace fs = std::filesystem;

// What --dump-inputs writes: the token windows and every layer input the statistics summed, so
// that H can be checked against X^T X outside loftlab. Held in memory, hence the cap.
class InputDump {
 public:
  static constexpr size_t kMaxBytes = size_t{1} << 30;

  explicit InputDump(fs::path dir) : dir_(std::move(dir)) {
    if (fs::is_symlink(dir_))
      fail("--dump-inputs {}: is a symbolic link; give a new folder", dir_.string());
    if (fs::exists(dir_) && !(fs::is_directory(dir_) && fs::is_empty(dir_)))
      fail("--dump-inputs {}: exists and is not an empty folder; give a new folder", dir_.string());
  }

  void windows(std::span<const int32_t> w) { tokens_.insert(tokens_.end(), w.begin(), w.end()); }

  void input(const std::string& group, const model::Mat<float>& x) {
    bytes_ += static_cast<size_t>(x.size()) * sizeof(float);
    if (bytes_ > kMaxBytes)
      fail("--dump-inputs would hold more than {} MiB of layer inputs: use fewer --tokens",
           kMaxBytes >> 20);
    auto& [width, values] = inputs_[group];
    width = x.cols();
    values.insert(values.end(), x.data(), x.data() + x.size());
  }

  // DIR/tokens.npy (sequences x seq_len, int32) and DIR/<group>.npy (tokens x width, float32).
  void write(int seq_len) const {
    fs::create_directories(dir_);
    const int64_t tshape[2] = {static_cast<int64_t>(tokens_.size()) / seq_len, seq_len};
    io::write_npy(dir_ / "tokens.npy", std::span<const int32_t>(tokens_), tshape);
    for (const auto& [group, in] : inputs_) {
      const int64_t shape[2] = {static_cast<int64_t>(in.second.size()) / in.first, in.first};
      io::write_npy(dir_ / (group + ".npy"), std::span<const float>(in.second), shape);
    }
  }

 private:
  fs::path dir_;
  std::vector<int32_t> tokens_;
  std::map<std::string, std::pair<int64_t, std::vector<float>>> inputs_;
  size_t bytes_ = 0;
};

}  // namespace

int cmd_calibrate(int argc, char** argv) {
  model::CalibKey key;
  model::CalibOptions opt;
  std::string out, tokenizer, dump;
  po::options_description desc(
      "usage: loftlab calibrate MODEL --corpus C --tokens N --out FILE [options]\n\n"
      "Runs the model's forward over N tokens of the corpus's training split (seeded random\n"
      "windows of --seq-len tokens) and writes, for every linear layer, the input second\n"
      "moment H = sum x^T x (float64; q/k/v share one, gate/up another) and with --fisher the\n"
      "diagonal empirical Fisher of each weight. An existing FILE with the same key (model,\n"
      "corpus, tokenizer, tokens, seq-len, seed) is kept; one with another key is an error\n"
      "naming the difference.\n\nMODEL: " +
      io::source_forms(true) + "\n\noptions");
  desc.add_options()("help,h", "print this help")("corpus", po::value(&key.corpus)->required(),
                                                  text::corpus_names().c_str())(
      "tokens", po::value(&key.tokens)->default_value(16384), "calibration tokens")(
      "out", po::value(&out)->required(), "the calibration file (.h5) to write")(
      "tokenizer", po::value(&tokenizer)->default_value("auto"),
      "llama2c:FILE or byte; auto = byte for pretrained:NAME, else required")(
      "seq-len", po::value(&key.seq_len)->default_value(128), "tokens per sequence")(
      "batch", po::value(&opt.batch)->default_value(8), "sequences per forward")(
      "seed", po::value(&key.seed)->default_value(0), "seed of the window positions")(
      "fisher", "also the diagonal empirical Fisher (one backward per batch)")(
      "layers-per-pass", po::value(&opt.layers_per_pass)->default_value(0),
      "hold the H of this many layers at a time, one forward pass each (0 = as many as fit in "
      "1 GiB, at least one)")(
      "dump-inputs", po::value(&dump),
      "also write the token windows (DIR/tokens.npy) and every linear layer's inputs "
      "(DIR/<layer>.npy, tokens x width) that H sums, to check H = X^T X outside loftlab; "
      "needs a new --out and a new folder, and at most 1 GiB of inputs");
  const auto parsed =
      parse_command_line(argc, argv, desc, "calibrate", Positional{"MODEL", &key.model});
  if (!parsed) return 0;
  const po::variables_map& vm = *parsed;
  if (key.tokens < 1) fail("--tokens {} is not valid (1 or more)", key.tokens);
  if (key.seq_len < 1) fail("--seq-len {} is not valid (1 or more)", key.seq_len);
  if (opt.batch < 1) fail("--batch {} is not valid (1 or more)", opt.batch);
  if (opt.layers_per_pass < 0)
    fail("--layers-per-pass {} is not valid (0 or more)", opt.layers_per_pass);
  key.fisher = vm.count("fisher") > 0;
  key.tokenizer = model::resolve_tokenizer(key.model, tokenizer);
  const auto start = std::chrono::steady_clock::now();
  opt.progress = [&](double f) {
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print(stderr, "\rcalibrate: {:5.1f}%  ETA {:.0f} s   ", 100 * f,
               f > 0 ? s * (1 - f) / f : 0);
  };
  std::optional<InputDump> inputs;
  if (!dump.empty()) {
    if (fs::exists(out) || fs::is_symlink(out))
      fail("--dump-inputs computes the statistics afresh, but --out {} exists: give a new file",
           out);
    inputs.emplace(dump);
    opt.on_windows = [&](std::span<const int32_t> w) { inputs->windows(w); };
    opt.on_input = [&](const std::string& g, const model::Mat<float>& x) { inputs->input(g, x); };
  }
  bool computed = false;
  const auto s = model::load_or_calibrate(key, out, opt, &computed);
  if (inputs) inputs->write(key.seq_len);
  if (computed) fmt::print(stderr, "\n");
  fmt::print("{} {}: {} layer inputs{}, {} tokens, {:.2f} s ({:.0f} tokens/s)\n",
             computed ? "wrote" : "kept existing", out, s.h.size(),
             key.fisher ? fmt::format(", {} Fisher", s.fisher.size()) : "", s.tokens_used,
             s.seconds, s.seconds > 0 ? double(s.tokens_used) / s.seconds : 0.0);
  return 0;
}

}  // namespace loft::cli
