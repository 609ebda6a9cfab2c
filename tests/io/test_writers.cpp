// Every file writer of lib/io writes atomically and never through a symbolic link: a link at the
// output name is replaced by the new file and its target stays untouched.
#include <filesystem>

#include "io/llama2c.hpp"
#include "io/npy.hpp"
#include "io/safetensors.hpp"
#include "io_test_util.hpp"
#include "support.hpp"

using namespace loft;
namespace fs = std::filesystem;
using loft::test::read_bytes;
using loft::test::TempDir;
using loft::test::write_bytes;

TEST_CASE("npy, safetensors and llama2c writers replace a link instead of following it", "[io]") {
  TempDir dir("writers");
  const fs::path victim = dir / "victim";
  write_bytes(victim, "precious");
  const Matrix m = Matrix::Constant(2, 4, 0.5f);
  const io::LlamaConfig c = test::tiny_config(true);
  struct Writer {
    const char* name;
    std::function<void(const fs::path&)> write;
  };
  const Writer writers[] = {
      {"w.npy", [&](const fs::path& p) { io::write_npy(p, m); }},
      {"w.safetensors",
       [&](const fs::path& p) {
         io::write_safetensors(p, {{"w", m}});
       }},
      {"w.bin",
       [&](const fs::path& p) {
         io::write_llama2c(p, c, [&](const std::string& n) {
           for (const auto& e : io::llama2c_layout(c))
             if (e.name == n)
               return Matrix(Matrix::Zero(e.shape.size() == 2 ? e.shape[0] : 1, e.shape.back()));
           return Matrix();
         });
       }},
  };
  for (const auto& w : writers) {
    INFO(w.name);
    const fs::path out = dir / w.name;
    fs::create_symlink(victim, out);
    w.write(out);
    CHECK(read_bytes(victim) == "precious");
    CHECK_FALSE(fs::is_symlink(out));
    CHECK(fs::file_size(out) > 8);
  }
  CHECK(io::read_npy(dir / "w.npy") == m);
  CHECK(io::SafetensorsFile(dir / "w.safetensors").load("w") == m);
  CHECK(io::open_llama2c(dir / "w.bin")->list().size() == io::llama2c_layout(c).size());
  // Nothing but the outputs and the victim: no temporaries left.
  CHECK(std::distance(fs::directory_iterator(dir.path()), {}) == 4);
}
