#pragma once
// Files loftlab writes, and files from outside that it reads, on POSIX terms:
//   - every file is written under a fresh temporary name in its folder, created with
//     O_CREAT | O_EXCL | O_NOFOLLOW (so nothing that already sits at that name, a symbolic link
//     in particular, is ever written through), synced, then renamed over the final name (which
//     replaces a link there rather than following it). A reader sees the old file or the whole
//     new one, never half of one.
//   - a file from outside is opened without blocking and refused unless it is a regular file,
//     so a FIFO, socket or device given as a config, checkpoint or tokenizer is an error, not a
//     read that waits forever; whole-file reads have an upper bound.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace loft {

// This machine's host name ("unknown-host" if it has none).
std::string host_name();

// The temporary name a file is written under before rename: .<name>.tmp.<host>.<pid>-<n> in the
// same folder (same file system, so rename(2) is atomic). Unique within the process; the host
// and pid tell which temporaries a killed writer left (results::remove_stale_temps).
std::filesystem::path temp_path(const std::filesystem::path& final_path);

// Creates `path` for writing; fails if anything (a file, a link, a FIFO) is already there.
// Returns the descriptor (O_CLOEXEC). Errors name the path and say what is wrong.
int create_new_file(const std::filesystem::path& path);

// A file written atomically: bytes go to temp_path(path) (created by create_new_file), buffered;
// commit() flushes, fsyncs, renames it over `path` and syncs the folder. Destroyed without a
// successful commit (an exception, a write error), it removes the temporary.
class AtomicFile {
 public:
  explicit AtomicFile(std::filesystem::path path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t bytes);  // throws naming the file (disk full, ...)
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  template <typename T>
  void write_value(const T& v) {
    write(&v, sizeof(T));
  }
  // before_rename (tests simulate a crash there) is called with the temporary's path.
  void commit(void (*before_rename)(const std::filesystem::path& tmp) = nullptr);
  const std::filesystem::path& path() const { return path_; }

 private:
  void flush();
  std::filesystem::path path_, tmp_;
  int fd_ = -1;
  std::vector<char> buffer_;
};

// The whole `text` as `path`, atomically (AtomicFile).
void write_file_atomic(const std::filesystem::path& path, std::string_view text);

// Throws "<what> <path>: not a regular file (a FIFO, ...)" unless path names a regular file,
// checked without blocking (a FIFO is never opened for reading). `what` says what the file was
// meant to be ("sweep config", "tokenizer").
void require_regular_file(const std::filesystem::path& path, std::string_view what);

// Opens a regular file for reading (refused otherwise, as require_regular_file) and returns the
// descriptor (O_CLOEXEC) and its size.
int open_regular_file(const std::filesystem::path& path, std::string_view what, uint64_t& size);

// The whole of a regular file (require_regular_file), refused when larger than max_bytes.
std::string read_regular_file(const std::filesystem::path& path, std::string_view what,
                              size_t max_bytes);

// Opens (creating if needed, mode 0644) a file that persists at `path`, such as a lock file,
// for reading and writing without following a link: refused when `path` is a symbolic link, not
// a regular file, or has more than one hard link (writing to it would write to the other name
// too). Returns the descriptor (O_CLOEXEC).
int open_persistent_file(const std::filesystem::path& path, std::string_view what);

}  // namespace loft
