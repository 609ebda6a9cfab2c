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
