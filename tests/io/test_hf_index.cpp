// model.safetensors.index.json shard paths: resolved as paths relative to the model folder
// (subfolders allowed), confined to it (no '..', no absolute path, no symlink leading out, except
// into the Hugging Face cache's blobs/ of the same repository), and every tensor the index names
// is found or the folder is refused.
#include <filesystem>

#include "common/error.hpp"
#include "io/safetensors.hpp"
#include "io/source.hpp"
#include "io_test_util.hpp"
#include "support.hpp"

using namespace loft;
namespace fs = std::filesystem;
using loft::test::error_of;
using loft::test::TempDir;
using loft::test::write_bytes;

namespace {

void index(const fs::path& dir, const std::string& a_shard, const std::string& b_shard) {
  write_bytes(dir / "model.safetensors.index.json", R"({"weight_map": {"x.a.weight": ")" + a_shard +
                                                        R"(", "x.b.weight": ")" + b_shard +
                                                        R"("}})");
}

void shard(const fs::path& file, const std::string& tensor, float v) {
  fs::create_directories(file.parent_path());
  io::write_safetensors(file, {{tensor, Matrix::Constant(2, 3, v)}});
}

std::string open_error(const fs::path& dir) {
  return error_of([&] { io::open_source("hf:" + dir.string()); });
}

}  // namespace

TEST_CASE("hf index: shard paths with subfolders resolve inside the model folder", "[hf]") {
  TempDir dir("hf-sub");
  const fs::path m = dir / "model";
  shard(m / "sub" / "model-00001-of-00002.safetensors", "x.a.weight", 1);
  shard(m / "model-00002-of-00002.safetensors", "x.b.weight", 2);
  index(m, "sub/model-00001-of-00002.safetensors", "./model-00002-of-00002.safetensors");
  const auto src = io::open_source("hf:" + m.string());
  REQUIRE(src->list().size() == 2);
  CHECK(src->load("x.a.weight")(0, 0) == 1);
  CHECK(src->load("x.b.weight")(1, 2) == 2);
}

TEST_CASE("hf index: every tensor the index names must be found", "[hf]") {
  TempDir dir("hf-missing");
  const fs::path m = dir / "model";
  shard(m / "one.safetensors", "x.a.weight", 1);
  index(m, "one.safetensors", "one.safetensors");  // x.b.weight is not in one.safetensors
  CHECK_THAT(open_error(m), Catch::Contains("x.b.weight") && Catch::Contains("one.safetensors"));
  index(m, "one.safetensors", "two.safetensors");
  CHECK_THAT(open_error(m), Catch::Contains("two.safetensors") && Catch::Contains("x.b.weight"));
}

TEST_CASE("hf index: shard paths may not leave the model folder", "[hf]") {
  TempDir dir("hf-escape");
  const fs::path m = dir / "model";
  shard(m / "in.safetensors", "x.a.weight", 1);
  shard(dir / "outside" / "out.safetensors", "x.b.weight", 2);
  index(m, "in.safetensors", "../outside/out.safetensors");
  CHECK_THAT(open_error(m), Catch::Contains("../outside/out.safetensors") &&
                                Catch::Contains("inside the model folder"));
  index(m, "in.safetensors", (dir / "outside" / "out.safetensors").string());
  CHECK_THAT(open_error(m), Catch::Contains("out.safetensors") && Catch::Contains("absolute"));
  index(m, "in.safetensors", "sub/../../outside/out.safetensors");
  CHECK_THAT(open_error(m), Catch::Contains("inside the model folder"));
  index(m, "in.safetensors", "");
  CHECK_THAT(open_error(m), Catch::Contains("x.b.weight"));
  // A symlinked folder or file leading out of the model folder.
  fs::create_directory_symlink(dir / "outside", m / "linked");
  index(m, "in.safetensors", "linked/out.safetensors");
  CHECK_THAT(open_error(m),
             Catch::Contains("linked/out.safetensors") && Catch::Contains("symbolic link"));
  fs::create_symlink(dir / "outside" / "out.safetensors", m / "out.safetensors");
  index(m, "in.safetensors", "out.safetensors");
  CHECK_THAT(open_error(m), Catch::Contains("symbolic link"));
  // A link that stays inside is fine.
  shard(m / "real" / "b.safetensors", "x.b.weight", 3);
  fs::create_symlink("real/b.safetensors", m / "alias.safetensors");
  index(m, "in.safetensors", "alias.safetensors");
  CHECK(io::open_source("hf:" + m.string())->load("x.b.weight")(0, 0) == 3);
}

TEST_CASE("hf index: a Hugging Face cache snapshot (links into ../../blobs) opens", "[hf]") {
  TempDir dir("hf-cache");
  const fs::path repo = dir / "models--org--name";
  const fs::path snap = repo / "snapshots" / "0123abc";
  shard(repo / "blobs" / "aaaa", "x.a.weight", 1);
  shard(repo / "blobs" / "bbbb", "x.b.weight", 2);
  fs::create_directories(snap);
  fs::create_symlink("../../blobs/aaaa", snap / "model-00001-of-00002.safetensors");
  fs::create_symlink("../../blobs/bbbb", snap / "model-00002-of-00002.safetensors");
  index(snap, "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors");
  const auto src = io::open_source("hf:" + snap.string());
  CHECK(src->list().size() == 2);
  CHECK(src->load("x.b.weight")(0, 0) == 2);
  // Another repository's blobs are outside.
  shard(dir / "models--other--x" / "blobs" / "cccc", "x.b.weight", 3);
  fs::remove(snap / "model-00002-of-00002.safetensors");
  fs::create_symlink("../../../models--other--x/blobs/cccc",
                     snap / "model-00002-of-00002.safetensors");
  CHECK_THAT(open_error(snap), Catch::Contains("symbolic link"));
}
