#include "common/files.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "common/error.hpp"

namespace fs = std::filesystem;

namespace loft {
namespace {

constexpr size_t kBuffer = size_t(1) << 20;

std::string kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

bool is_link(const fs::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

// Opens for reading without blocking (a FIFO's open would wait for a writer) and checks that
// the file is regular. Returns the descriptor and fills st.
int open_regular(const fs::path& path, std::string_view what, struct stat& st) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) fail("cannot open {} {}: {}", what, path.string(), std::strerror(errno));
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const std::string kind = kind_of(st.st_mode);
    ::close(fd);
    fail("{} {} is {}, not a regular file; give a file", what, path.string(), kind);
  }
  return fd;
}

void write_all(int fd, const char* p, size_t n, const fs::path& shown) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0)
      fail("cannot write {}: {}", shown.string(), w < 0 ? std::strerror(errno) : "no progress");
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void sync_folder(const fs::path& file) {
  const fs::path dir = file.parent_path().empty() ? fs::path(".") : file.parent_path();
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("cannot open folder {} to sync it: {}", dir.string(), std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) fail("cannot sync folder {}: {}", dir.string(), std::strerror(err));
}

}  // namespace

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || !*buf) return "unknown-host";
  return buf;
}

fs::path temp_path(const fs::path& final_path) {
  static std::atomic<unsigned> counter{0};
  return final_path.parent_path() / fmt::format(".{}.tmp.{}.{}-{}", final_path.filename().string(),
                                                host_name(), ::getpid(), counter.fetch_add(1));
}

int create_new_file(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd >= 0) return fd;
  const int err = errno;
  if (err == EEXIST && is_link(path))
    fail("cannot create {}: a symbolic link is in the way (loftlab never writes through a link)",
         path.string());
  fail("cannot create {}: {}", path.string(), std::strerror(err));
}

AtomicFile::AtomicFile(fs::path path) : path_(std::move(path)), tmp_(temp_path(path_)) {
  fd_ = create_new_file(tmp_);
  buffer_.reserve(kBuffer);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

void AtomicFile::write(const void* data, size_t bytes) {
  if (fd_ < 0) fail("{}: written after commit", path_.string());
  const char* p = static_cast<const char*>(data);
  if (buffer_.size() + bytes <= kBuffer) {
    buffer_.insert(buffer_.end(), p, p + bytes);
    return;
  }
  flush();
  write_all(fd_, p, bytes, path_);
}

void AtomicFile::flush() {
  write_all(fd_, buffer_.data(), buffer_.size(), path_);
  buffer_.clear();
}

void AtomicFile::commit(void (*before_rename)(const fs::path& tmp)) {
  flush();
  if (::fsync(fd_) != 0) fail("cannot write {}: {}", path_.string(), std::strerror(errno));
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp_.c_str());
    fail("cannot write {}: {}", path_.string(), std::strerror(err));
  }
  if (before_rename) before_rename(tmp_);
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp_.c_str());
    fail("cannot rename {} to {}: {}", tmp_.string(), path_.string(), std::strerror(err));
  }
  sync_folder(path_);
}

void write_file_atomic(const fs::path& path, std::string_view text) {
  AtomicFile f(path);
  f.write(text);
  f.commit();
}

int open_regular_file(const fs::path& path, std::string_view what, uint64_t& size) {
  struct stat st {};
  const int fd = open_regular(path, what, st);
  size = static_cast<uint64_t>(st.st_size);
  return fd;
}

void require_regular_file(const fs::path& path, std::string_view what) {
  struct stat st {};
  ::close(open_regular(path, what, st));
}

std::string read_regular_file(const fs::path& path, std::string_view what, size_t max_bytes) {
  struct stat st {};
  const int fd = open_regular(path, what, st);
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    fail("{} {} is {} bytes, more than the {} a {} can be", what, path.string(), st.st_size,
         max_bytes, what);
  }
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      fail("cannot read {} {}: {}", what, path.string(), std::strerror(err));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) {  // grew while read
      ::close(fd);
      fail("{} {} is more than {} bytes", what, path.string(), max_bytes);
    }
  }
  ::close(fd);
  return out;
}

int open_persistent_file(const fs::path& path, std::string_view what) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int err = errno;
    if (err == ELOOP || is_link(path))
      fail("{} {} is a symbolic link; loftlab never writes through a link (remove it)", what,
           path.string());
    fail("cannot open {} {}: {}", what, path.string(), std::strerror(err));
  }
  struct stat st {};
  std::string problem;
  if (::fstat(fd, &st) != 0)
    problem = std::strerror(errno);
  else if (!S_ISREG(st.st_mode))
    problem = "it is " + kind_of(st.st_mode) + ", not a regular file";
  else if (st.st_nlink != 1)
    problem = fmt::format("it has {} hard links, so writing it would write another file too",
                          st.st_nlink);
  if (!problem.empty()) {
    ::close(fd);
    fail("refusing {} {}: {} (remove it)", what, path.string(), problem);
  }
  return fd;
}

}  // namespace loft
