// SweepLock: one sweep per results folder; a killed holder never blocks the next sweep.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/results/lock.hpp"
#include "results/fixtures.hpp"
#include "support.hpp"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using loft::results::SweepLock;
using loft::test::ScratchDir;

TEST_CASE("a second lock on a held folder is refused naming the holder; freed on release") {
  ScratchDir dir;
  fs::path results = dir.path / "results" / "quick";  // created by the lock
  {
    SweepLock held(results);
    REQUIRE(fs::exists(SweepLock::lock_file(results)));
    REQUIRE_THROWS_WITH(SweepLock(results), Contains("in use by another sweep") &&
                                                Contains("pid " + std::to_string(getpid())) &&
                                                Contains("--out"));
    REQUIRE_FALSE(SweepLock::try_acquire(results).has_value());
    SweepLock moved = std::move(held);  // moving keeps it held
    REQUIRE_FALSE(SweepLock::try_acquire(results).has_value());
  }
  REQUIRE(SweepLock::try_acquire(results).has_value());
}

TEST_CASE("a lock whose holder was killed does not block the next sweep") {
  ScratchDir dir;
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(ready[0]);
    try {  // never return into Catch from the child
      SweepLock l(dir.path);
      char c = 1;
      if (write(ready[1], &c, 1) != 1) _exit(1);
      for (;;) pause();
    } catch (...) {
      _exit(1);
    }
  }
  close(ready[1]);
  char c = 0;
  REQUIRE(read(ready[0], &c, 1) == 1);
  close(ready[0]);

  REQUIRE_THROWS_WITH(SweepLock(dir.path), Contains("pid " + std::to_string(child)));
  kill(child, SIGKILL);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));

  REQUIRE(fs::exists(SweepLock::lock_file(dir.path)));  // the stale file is there, yet:
  SweepLock next(dir.path);
  REQUIRE(next.file() == SweepLock::lock_file(dir.path));
}

TEST_CASE("a merge and a sweep exclude each other, and neither runs beside a shard") {
  ScratchDir dir;
  {
    SweepLock merging = SweepLock::whole_folder(dir.path, "merge");
    REQUIRE_THROWS_WITH(SweepLock::whole_folder(dir.path, "sweep"),
                        Contains("in use") && Contains("loftlab merge"));
    REQUIRE_THROWS_WITH(SweepLock::shard(dir.path, 0, 2),
                        Contains("a merge is running") && Contains("loftlab merge, pid"));
  }
  {
    SweepLock shard = SweepLock::shard(dir.path, 1, 2);
    REQUIRE_THROWS_WITH(SweepLock::whole_folder(dir.path, "merge"), Contains("shard 1-of-2"));
    SweepLock other = SweepLock::shard(dir.path, 0, 2);  // shards run side by side
  }
  SweepLock free = SweepLock::whole_folder(dir.path, "merge");
}
