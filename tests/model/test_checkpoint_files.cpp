// The training state is written atomically and never through a link.
#include <filesystem>
#include <fstream>

#include "model/checkpoint.hpp"
#include "support.hpp"
#include "tiny.hpp"

using namespace loft;
namespace fs = std::filesystem;

TEST_CASE("save_training_state replaces a link at its path, leaving the target alone", "[model]") {
  const fs::path dir = fs::temp_directory_path() / ("loftlab-ckpt-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "victim") << "precious";
  fs::create_symlink(dir / "victim", dir / "resume.state");
  auto m = test::tiny_model<float>(test::tiny_config(), 1, 0);
  model::set_trainable(m, model::TrainMode::full);
  model::AdamW opt(m, {});
  model::save_training_state(dir / "resume.state", m, opt);
  std::ifstream in(dir / "victim");
  std::string text;
  std::getline(in, text);
  CHECK(text == "precious");
  CHECK_FALSE(fs::is_symlink(dir / "resume.state"));
  auto back = test::tiny_model<float>(test::tiny_config(), 2, 0);
  model::set_trainable(back, model::TrainMode::full);
  model::AdamW opt2(back, {});
  model::load_training_state(dir / "resume.state", back, opt2);
  CHECK(back.embed.value == m.embed.value);
  fs::remove_all(dir);
}

TEST_CASE("a training state with a bad name length is refused, not allocated", "[model]") {
  const fs::path dir = fs::temp_directory_path() / ("loftlab-ckpt2-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto m = test::tiny_model<float>(test::tiny_config(), 1, 0);
  model::set_trainable(m, model::TrainMode::full);
  model::AdamW opt(m, {});
  model::save_training_state(dir / "s", m, opt);
  // The first tensor's name length follows magic (8), config (8 x 4), step and count (2 x 4).
  std::fstream f(dir / "s", std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(8 + 8 * 4 + 2 * 4);
  const int32_t huge = -2;
  f.write(reinterpret_cast<const char*>(&huge), 4);
  f.close();
  CHECK_THROWS_WITH(model::load_training_state(dir / "s", m, opt),
                    Catch::Contains("-2 bytes") && Catch::Contains("embed_tokens"));
  fs::remove_all(dir);
}
