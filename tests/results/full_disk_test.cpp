// A write that fails (disk full, file size limit) is an error, never a crash, and leaves nothing
// that looks complete: no point file that does not verify, no results.h5 half written, and no
// temporary. The failure is produced with RLIMIT_FSIZE in a child process (writes past the limit
// fail with EFBIG once SIGXFSZ is ignored), which needs no privileges.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/error.hpp"
#include "io/results/merge.hpp"
#include "io/results/store.hpp"
#include "results/fixtures.hpp"
#include "support.hpp"

namespace fs = std::filesystem;
using namespace loft::results;
using loft::test::sample_record;
using loft::test::ScratchDir;

namespace {

// Runs f in a child whose files may not grow past `limit` bytes; the child then exits through
// exit(), so HDF5's atexit cleanup runs as in the CLI. Returns the child's exit code, or
// 128 + the signal that killed it.
template <typename F>
int with_file_limit(rlim_t limit, F f) {
  const pid_t child = fork();
  if (child == 0) {
    for (int s : {SIGSEGV, SIGABRT, SIGBUS, SIGILL, SIGFPE}) signal(s, SIG_DFL);  // not Catch's
    signal(SIGXFSZ, SIG_IGN);
    const rlimit r{limit, limit};
    setrlimit(RLIMIT_FSIZE, &r);
    int code = 0;
    try {
      f();
    } catch (const loft::Error&) {
      code = 3;  // the expected clean failure
    } catch (...) {
      code = 4;
    }
    std::exit(code);
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Every file left in the folder is a valid point (or results.h5 that merge rebuilt whole).
void check_nothing_half_written(const fs::path& dir) {
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    INFO(e.path());
    CHECK(name.find(".tmp.") == std::string::npos);
    if (e.path().parent_path().filename() == "points")
      CHECK(check_point_file(dir, e.path().stem().string()).state == PointFileCheck::State::valid);
  }
}

}  // namespace

TEST_CASE("a point write that fails on a full disk is an error, not a crash") {
  // Many small datasets (the failure lands in HDF5's metadata) and a few large ones (the data).
  for (auto [tensors, values] : {std::pair<int, size_t>{400, 8}, {12, 20000}}) {
    INFO(tensors << " tensors of " << values << " values");
    ScratchDir dir;
    Record r = sample_record("loftq", 2);
    for (int t = 0; t < tensors; ++t)
      r.layers[fmt::format("model.layers.{}.w", t)]["residual_fro"].assign(values, 0.5);
    const int code = with_file_limit(48 << 10, [&] {
      for (int i = 0; i < 1000; ++i) write_point(dir.path, fmt::format("p{}", i), r, {});
    });
    CHECK(code == 3);
    check_nothing_half_written(dir.path);
  }
}

TEST_CASE("a merge that fails on a full disk is an error and keeps the old results.h5") {
  ScratchDir dir;
  Record r = sample_record("loftq", 2);
  r.layers["model.big.weight"]["residual_fro"].assign(3000, 0.5);
  for (int i = 0; i < 30; ++i) write_point(dir.path, fmt::format("p{}", i), r, {});
  const auto first = merge(dir.path);
  const auto size = fs::file_size(first.file);
  write_point(dir.path, "extra", r, {});
  const int code = with_file_limit(size / 2, [&] { merge(dir.path); });
  CHECK(code == 3);
  CHECK(fs::file_size(first.file) == size);  // the previous merge, whole
  CHECK(point_ids(first.file).size() == 30);
  check_nothing_half_written(dir.path);
}
