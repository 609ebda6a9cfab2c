// A sharded Hugging Face folder: a fuzzed model.safetensors.index.json over two fixed shards (one
// in a subfolder): a loft::Error or a source that lists and loads every tensor of the index.
#include "io/hf.hpp"
#include "io/safetensors.hpp"
#include "support.hpp"

namespace {

const std::filesystem::path& model_dir() {
  static const std::filesystem::path dir = [] {
    const auto d = loft::fuzz::scratch() / "m";
    std::filesystem::create_directories(d / "sub");
    const loft::Matrix a = loft::Matrix::Constant(2, 3, 0.5f),
                       b = loft::Matrix::Constant(1, 4, 2.0f);
    loft::io::write_safetensors(d / "model-00001-of-00002.safetensors",
                                {{"a.weight", a}, {"b.weight", b}});
    loft::io::write_safetensors(d / "sub" / "model-00002-of-00002.safetensors", {{"c.weight", a}});
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& dir = model_dir();
  loft::fuzz::put("m/model.safetensors.index.json", loft::fuzz::as_text(data, size));
  loft::fuzz::expect_clean([&] { loft::fuzz::exercise(*loft::io::open_hf(dir)); });
  return 0;
}
