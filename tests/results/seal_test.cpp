// The seal (io/results/seal.hpp): every file the store writes ends with one, and a point file
// whose bytes changed in any way after it was written is refused before HDF5 reads it.
#include <filesystem>
#include <fstream>
#include <iterator>

#include "common/error.hpp"
#include "io/results/merge.hpp"
#include "io/results/seal.hpp"
#include "io/results/store.hpp"
#include "results/fixtures.hpp"
#include "support.hpp"

namespace fs = std::filesystem;
using namespace loft::results;
using Catch::Matchers::Contains;
using loft::test::sample_record;
using loft::test::ScratchDir;

namespace {

std::string bytes_of(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void put(const fs::path& file, const std::string& bytes) {
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
}

// check_point_file's problem with `bytes` as the point file of `id` (empty = valid).
std::string problem_with(const fs::path& dir, const std::string& id, const std::string& bytes) {
  put(point_path(dir, id), bytes);
  const auto c = check_point_file(dir, id);
  return c.state == PointFileCheck::State::valid ? std::string() : c.problem;
}

}  // namespace

TEST_CASE("point files and results.h5 end with a seal that verifies") {
  ScratchDir dir;
  write_point(dir.path, "a", sample_record("loftq", 2), {"t", "cfg"});
  write_point(dir.path, "b", sample_record("qlora", 0), {"t", "cfg"});
  merge(dir.path);
  for (const fs::path& f : {point_path(dir.path, "a"), dir.path / "results.h5"}) {
    const std::string b = bytes_of(f);
    CHECK(check_seal(b) == SealState::sealed);
    CHECK(b.substr(b.size() - kSealBytes, 8) == "LOFTSEAL");
  }
}

TEST_CASE("a point file cut short, with any byte changed or with bytes added is not a point") {
  ScratchDir dir;
  write_point(dir.path, "p", sample_record("loftq", 2), {"t", "cfg"});
  const std::string good = bytes_of(point_path(dir.path, "p"));
  REQUIRE(problem_with(dir.path, "p", good).empty());
  // Named: Catch's || keeps references to its operands.
  const auto damaged = Contains("damaged");
  const auto unsealed = Contains("not written whole by loftlab");
  const auto refused = damaged || unsealed;
  // Every length short of the whole file (sampled; each of the seal's own bytes).
  for (size_t n = 0; n < good.size(); n += (n + kSealBytes >= good.size() ? 1 : 97)) {
    INFO("cut to " << n << " of " << good.size() << " bytes");
    CHECK_THAT(problem_with(dir.path, "p", good.substr(0, n)), refused);
  }
  // One bit changed anywhere, in the HDF5 image or in the seal.
  for (size_t at = 0; at < good.size(); at += (at + kSealBytes >= good.size() ? 1 : 53)) {
    INFO("bit flipped at byte " << at);
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x04);
    CHECK_THAT(problem_with(dir.path, "p", bad), refused);
  }
  CHECK_THAT(problem_with(dir.path, "p", good + "x"), refused);
  CHECK_THAT(problem_with(dir.path, "p", good + good), refused);
  put(point_path(dir.path, "p"), good.substr(0, good.size() / 2));
  CHECK_THROWS_WITH(read_point_file(point_path(dir.path, "p")), refused);
  CHECK_THROWS_WITH(merge(dir.path), Contains("p.h5") && refused);
}

TEST_CASE("an unsealed HDF5 file can be inspected but is not a point") {
  ScratchDir dir;
  write_point(dir.path, "p", sample_record("loftq", 2), {"t", "cfg"});
  const std::string good = bytes_of(point_path(dir.path, "p"));
  put(point_path(dir.path, "p"), good.substr(0, good.size() - kSealBytes));
  CHECK(read_point(point_path(dir.path, "p"), "p").record.params.at("method") ==
        Value(std::string("loftq")));
  CHECK_THAT(check_point_file(dir.path, "p").problem,
             Contains("p.h5") && Contains("lacks the checksum seal"));
}

TEST_CASE("a damaged file that sends libhdf5 into an endless loop is refused at once") {
  // A fuzzer-made point file: HDF5 1.10 loops forever reading its variable-length attribute
  // from a corrupt global heap. It has no seal, so HDF5 never sees it.
  const fs::path input =
      fs::path(LOFTLAB_SOURCE_DIR) / "tests/fuzz/corpus/point_file/hdf5-global-heap-loop";
  REQUIRE(fs::exists(input));
  ScratchDir dir;
  fs::create_directories(points_dir(dir.path));
  CHECK_THAT(problem_with(dir.path, "p", bytes_of(input)), Contains("lacks the checksum seal"));
}
