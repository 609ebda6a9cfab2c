#include "io/results/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/error.hpp"
#include "common/files.hpp"
#include "io/results/store.hpp"

namespace fs = std::filesystem;

namespace loft::results {
namespace {

// What the holder wrote into the lock file ("pid P on host H since T"), for the refusal message.
std::string holder_of(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line.empty() ? "holder not yet recorded" : line;
}

}  // namespace

fs::path SweepLock::lock_file(const fs::path& results_dir) {
  return results_dir / ".sweep.lock";
}

bool SweepLock::acquire(const fs::path& results_dir, std::string_view holder) {
  std::error_code ec;
  fs::create_directories(results_dir, ec);
  if (ec) fail("cannot create results folder {}: {}", results_dir.string(), ec.message());
  file_ = lock_file(results_dir);
  const int fd = open_persistent_file(file_, "lock file");
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) return false;
    fail("cannot lock {}: {}", file_.string(), std::strerror(err));
  }
  fd_ = fd;
  // Who holds it, for the message another sweep prints; best effort (the lock is the flock).
  const std::string who = fmt::format("loftlab {}, pid {} on host {} since {}\n", holder,
                                      ::getpid(), host_name(), utc_now());
  if (::ftruncate(fd_, 0) == 0) {
    ssize_t n = ::pwrite(fd_, who.data(), who.size(), 0);
    (void)n;
  }
  return true;
}

SweepLock::SweepLock(const fs::path& results_dir, std::string_view holder) {
  if (!acquire(results_dir, holder))
    fail(
        "results folder {} is in use by another sweep or merge ({}); wait for it to finish (a "
        "sweep merges its points itself when it ends), or give this run another folder "
        "(--out DIR)",
        results_dir.string(), holder_of(file_));
}

std::optional<SweepLock> SweepLock::try_acquire(const fs::path& results_dir,
                                                std::string_view holder) {
  SweepLock l;
  if (!l.acquire(results_dir, holder)) return std::nullopt;
  return l;
}

SweepLock SweepLock::whole_folder(const fs::path& dir, std::string_view holder) {
  SweepLock lock(dir, holder);
  const fs::path shards = dir / ".shards";
  std::error_code ec;
  if (fs::is_directory(shards, ec))
    for (const auto& e : fs::directory_iterator(shards))
      if (e.is_directory() && !try_acquire(e.path(), holder))
        fail(
            "results folder {} is in use by another sweep: shard {} is running (wait for the "
            "shards to end, or use --out for another folder)",
            dir.string(), e.path().filename().string());
  return lock;
}

SweepLock SweepLock::shard(const fs::path& dir, int index, int count) {
  SweepLock lock(dir / ".shards" / fmt::format("{}-of-{}", index, count), "sweep --shard");
  if (!try_acquire(dir, "sweep --shard")) {
    const std::string holder = holder_of(lock_file(dir));
    fail(
        "results folder {} is in use by another sweep: {} is running there ({}) (wait for it, "
        "or use --out for another folder)",
        dir.string(), holder.starts_with("loftlab merge") ? "a merge" : "a full (unsharded) sweep",
        holder);
  }
  return lock;
}

SweepLock::SweepLock(SweepLock&& o) noexcept : fd_(o.fd_), file_(std::move(o.file_)) {
  o.fd_ = -1;
}

SweepLock& SweepLock::operator=(SweepLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    file_ = std::move(o.file_);
    o.fd_ = -1;
  }
  return *this;
}

SweepLock::~SweepLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

}  // namespace loft::results
