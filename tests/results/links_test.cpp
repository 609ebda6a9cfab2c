// The results folder is written only where it says: the lock file, the point files, their
// temporaries and results.h5 never write through a symbolic link or a hard link.
#include <fstream>

#include "io/results/h5.hpp"
#include "io/results/lock.hpp"
#include "io/results/merge.hpp"
#include "io/results/store.hpp"
#include "results/fixtures.hpp"
#include "support.hpp"

namespace fs = std::filesystem;
using namespace loft::results;
using Catch::Matchers::Contains;
using loft::test::ScratchDir;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST_CASE("a lock file that is a link or a hard link is refused, its target untouched") {
  ScratchDir dir;
  const fs::path victim = dir.path / "victim", results = dir.path / "r";
  std::ofstream(victim) << "precious";
  fs::create_directories(results);
  fs::create_symlink(victim, SweepLock::lock_file(results));
  CHECK_THROWS_WITH(SweepLock(results), Contains(".sweep.lock") && Contains("symbolic link"));
  fs::remove(SweepLock::lock_file(results));
  fs::create_hard_link(victim, SweepLock::lock_file(results));
  CHECK_THROWS_WITH(SweepLock(results), Contains("hard links"));
  CHECK(slurp(victim) == "precious");
}

TEST_CASE("point files are not written into a points/ that is a link") {
  ScratchDir dir;
  const fs::path elsewhere = dir.path / "elsewhere", results = dir.path / "r";
  fs::create_directories(elsewhere);
  fs::create_directories(results);
  fs::create_directory_symlink(elsewhere, points_dir(results));
  CHECK_THROWS_WITH(write_point(results, "p1", loft::test::sample_record("loftq", 2), {}),
                    Contains("symbolic link"));
  CHECK(fs::is_empty(elsewhere));
}

TEST_CASE("point files and results.h5 replace a link at their name, never follow it") {
  ScratchDir dir;
  const fs::path victim = dir.path / "victim";
  std::ofstream(victim) << "precious";
  const fs::path results = dir.path / "r";
  fs::create_directories(points_dir(results));
  fs::create_symlink(victim, point_path(results, "p1"));
  write_point(results, "p1", loft::test::sample_record("loftq", 2), {"r", ""});
  CHECK_FALSE(fs::is_symlink(point_path(results, "p1")));
  CHECK(slurp(victim) == "precious");
  fs::create_symlink(victim, results / "results.h5");
  merge(results);
  CHECK_FALSE(fs::is_symlink(results / "results.h5"));
  CHECK(point_ids(results / "results.h5") == std::vector<std::string>{"p1"});
  CHECK(slurp(victim) == "precious");
}
