// common/files: atomic writes that never write through a link, non-blocking reads that refuse
// anything but a regular file, and the lock-file opener that refuses links and hard links.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "common/error.hpp"
#include "common/files.hpp"
#include "support.hpp"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

struct Scratch {
  fs::path path = fs::temp_directory_path() / ("loftlab-files-" + std::to_string(::getpid()));
  Scratch() {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

size_t entries(const fs::path& dir) {
  return static_cast<size_t>(std::distance(fs::directory_iterator(dir), {}));
}

}  // namespace

TEST_CASE("atomic files: all or nothing, and a link at the name is replaced, not followed",
          "[files]") {
  Scratch s;
  const fs::path victim = s.path / "victim.txt", file = s.path / "out.txt";
  std::ofstream(victim) << "precious";
  fs::create_symlink(victim, file);
  loft::write_file_atomic(file, "new content");
  CHECK(slurp(victim) == "precious");
  CHECK_FALSE(fs::is_symlink(file));
  CHECK(slurp(file) == "new content");
  {
    loft::AtomicFile f(file);
    f.write(std::string(3 << 20, 'x'));  // past the buffer: really written to the temporary
  }                                      // destroyed without commit
  CHECK(slurp(file) == "new content");
  CHECK(entries(s.path) == 2);  // no temporary left
}

TEST_CASE("create_new_file refuses anything already at the name, a link above all", "[files]") {
  Scratch s;
  const fs::path victim = s.path / "victim.txt", link = s.path / "link";
  std::ofstream(victim) << "precious";
  fs::create_symlink(victim, link);
  CHECK_THROWS_WITH(loft::create_new_file(link), Contains("symbolic link") && Contains("link"));
  fs::create_symlink(s.path / "missing", s.path / "dangling");
  CHECK_THROWS_WITH(loft::create_new_file(s.path / "dangling"), Contains("symbolic link"));
  CHECK_FALSE(fs::exists(s.path / "missing"));
  CHECK_THROWS_WITH(loft::create_new_file(victim), Contains("exists"));
  CHECK(slurp(victim) == "precious");
}

TEST_CASE("reads refuse FIFOs, folders and oversized files without blocking", "[files]") {
  Scratch s;
  const fs::path fifo = s.path / "config.ini";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH(loft::read_regular_file(fifo, "sweep config", 1 << 20),
                    Contains("sweep config") && Contains("config.ini") && Contains("FIFO"));
  CHECK_THROWS_WITH(loft::require_regular_file(fifo, "tokenizer"), Contains("FIFO"));
  CHECK_THROWS_WITH(loft::require_regular_file(s.path, "tokenizer"), Contains("folder"));
  CHECK_THROWS_WITH(loft::require_regular_file(s.path / "none", "tokenizer"),
                    Contains("none") && Contains("No such file"));
  std::ofstream(s.path / "big") << std::string(100, 'x');
  CHECK_THROWS_WITH(loft::read_regular_file(s.path / "big", "config.json", 99),
                    Contains("100 bytes"));
  CHECK(loft::read_regular_file(s.path / "big", "config.json", 100).size() == 100);
}

TEST_CASE("persistent files (locks) refuse links, hard links and non-files", "[files]") {
  Scratch s;
  const fs::path victim = s.path / "victim.txt";
  std::ofstream(victim) << "precious";
  fs::create_symlink(victim, s.path / "sym.lock");
  CHECK_THROWS_WITH(loft::open_persistent_file(s.path / "sym.lock", "lock file"),
                    Contains("lock file") && Contains("symbolic link"));
  fs::create_hard_link(victim, s.path / "hard.lock");
  CHECK_THROWS_WITH(loft::open_persistent_file(s.path / "hard.lock", "lock file"),
                    Contains("2 hard links"));
  REQUIRE(::mkfifo((s.path / "fifo.lock").c_str(), 0600) == 0);
  CHECK_THROWS_WITH(loft::open_persistent_file(s.path / "fifo.lock", "lock file"),
                    Contains("FIFO"));
  CHECK(slurp(victim) == "precious");
  const int fd = loft::open_persistent_file(s.path / "ok.lock", "lock file");
  CHECK(fd >= 0);
  ::close(fd);
}
