#pragma once
// One sweep at a time per results folder. SweepLock holds flock(2) on <results_dir>/.sweep.lock
// for its lifetime: a second sweep on the folder is refused with a message naming the holder,
// and since the kernel drops the lock when its holder dies (kill -9 included), a lock left by a
// killed run never blocks the next one. The lock file itself stays; it is never the signal.
// On NFS, Linux implements flock with fcntl byte-range locks, which NFS servers honour.
//
// A merge takes the same lock as a full sweep, so results.h5 is only ever rebuilt by one process
// at a time, and a sweep's own final merge (made while it holds the lock) is never overwritten by
// a stale one. The lock file is opened without following links and must be a regular file with
// one hard link (common/files.hpp).
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace loft::results {

class SweepLock {
 public:
  // Creates the folder if needed and takes the lock, or throws loft::Error ("results folder X is
  // in use by another sweep or merge (loftlab sweep, pid P on host H since T) ..."). `holder`
  // names the command taking it, for that message.
  explicit SweepLock(const std::filesystem::path& results_dir, std::string_view holder = "sweep");
  // The same, but returns nullopt instead of throwing when another process holds the lock.
  static std::optional<SweepLock> try_acquire(const std::filesystem::path& results_dir,
                                              std::string_view holder = "sweep");

  // The lock of a whole results folder (a sweep without --shard, or a merge): the folder's own,
  // kept only if no shard of the folder holds <dir>/.shards/I-of-N. Each kind takes its own lock
  // first and then checks the other's, so the two never run on one folder together, whichever
  // starts first. Throws naming the holder.
  static SweepLock whole_folder(const std::filesystem::path& dir, std::string_view holder);
  // The lock of shard `index` of `count` (<dir>/.shards/I-of-N), kept only if the whole folder
  // is free; the shards of one Slurm array hold theirs side by side.
  static SweepLock shard(const std::filesystem::path& dir, int index, int count);

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
  bool acquire(const std::filesystem::path& results_dir, std::string_view holder);
  int fd_ = -1;
  std::filesystem::path file_;
};

}  // namespace loft::results
