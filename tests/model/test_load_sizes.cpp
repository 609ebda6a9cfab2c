// A config that claims more than its checkpoint holds fails before the model is allocated.
#include <chrono>
#include <filesystem>
#include <fstream>

#include "common/error.hpp"
#include "io/safetensors.hpp"
#include "model/llama.hpp"
#include "support.hpp"
#include "tiny.hpp"

using namespace loft;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

TEST_CASE("load_llama checks the config against the checkpoint's tensors first", "[model]") {
  const fs::path dir = fs::temp_directory_path() / ("loftlab-load-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto m = test::tiny_model<float>(test::tiny_config(true, false), 1, 0);
  std::vector<std::pair<std::string, Matrix>> tensors;
  for (auto* p : m.params()) tensors.emplace_back(p->name, p->value);
  io::write_safetensors(dir / "model.safetensors", tensors);
  const auto& c = m.cfg;
  auto config = [&](int layers, int hidden) {
    std::ofstream(dir / "config.json")
        << fmt::format(R"({{"hidden_size": {}, "intermediate_size": {}, "num_hidden_layers": {},
                           "num_attention_heads": {}, "num_key_value_heads": {},
                           "vocab_size": {}, "max_position_embeddings": {}}})",
                       c.dim, hidden, layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.seq_len);
  };
  config(c.n_layers, c.hidden_dim);
  CHECK(model::load_llama("hf:" + dir.string()).layers.size() == size_t(c.n_layers));
  // 4000 layers of 8 x 4000000 projections would be 1.5 TB: refused at once, naming the first
  // missing tensor; then a shape the files contradict.
  config(4000, 4000000);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(model::load_llama("hf:" + dir.string()),
                    Contains("no tensor 'model.layers.2.") && Contains("4000 layers"));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  config(c.n_layers, 4000000);
  CHECK_THROWS_WITH(model::load_llama("hf:" + dir.string()),
                    Contains("mlp.gate_proj.weight") && Contains("[4000000, 8]"));
  config(c.n_layers + 1, c.hidden_dim);
  CHECK_THROWS_WITH(model::load_llama("hf:" + dir.string()),
                    Contains("no tensor 'model.layers.2.input_layernorm.weight'"));
  fs::remove_all(dir);
}
