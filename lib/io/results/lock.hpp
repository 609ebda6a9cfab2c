#pragma once
// One sweep at a time per results folder. SweepLock holds flock(2) on <results_dir>/.sweep.lock
// for its lifetime: a second sweep on the folder is refused with a message naming the holder,
// and since the kernel drops the lock when its holder dies (kill -9 included), a lock left by a
// killed run never blocks the next one. The lock file itself stays; it is never the signal.
// On NFS, Linux implements flock with fcntl byte-range locks, which NFS servers honour.
#include <filesystem>
#include <optional>
#include <string>

namespace loft::results {

class SweepLock {
 public:
  // Creates the folder if needed and takes the lock, or throws loft::Error ("results folder X is
  // in use by another sweep (pid P on host H since T) ...").
  explicit SweepLock(const std::filesystem::path& results_dir);
  // The same, but returns nullopt instead of throwing when another process holds the lock.
  static std::optional<SweepLock> try_acquire(const std::filesystem::path& results_dir);

  SweepLock(SweepLock&& o) noexcept;
  SweepLock& operator=(SweepLock&& o) noexcept;
  SweepLock(const SweepLock&) = delete;
  SweepLock& operator=(const SweepLock&) = delete;
  ~SweepLock();  // releases the lock

  const std::filesystem::path& file() const { return file_; }
  static std::filesystem::path lock_file(const std::filesystem::path& results_dir);

 private:
  SweepLock() = default;
  // Returns false (and leaves *this unlocked) when another process holds the lock.
  bool acquire(const std::filesystem::path& results_dir);
  int fd_ = -1;
  std::filesystem::path file_;
};

}  // namespace loft::results
