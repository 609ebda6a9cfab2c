#pragma once
// Small RAII wrappers over the HDF5 C API, used only inside the results store. Every failure is a
// loft::Error naming the file/object at fault plus HDF5's own innermost message; HDF5's automatic
// error printing is switched off so nothing leaks to stderr.
#include <hdf5.h>

#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/results/record.hpp"

namespace loft::results::h5 {

// An owned hid_t and the function that closes it (H5Fclose, H5Gclose, ...).
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  // Takes ownership of id; throws loft::Error "<what>: <HDF5 message>" when id < 0.
  Handle(hid_t id, Closer closer, std::string_view what);
  Handle(Handle&& o) noexcept;
  Handle& operator=(Handle&& o) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle();

  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }  // NOLINT: handles pass straight to H5* calls
  // Closes now and throws if HDF5 reports an error (H5Fclose is where data reaches the disk).
  void close(std::string_view what);

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// Throws loft::Error "<what>: <HDF5 message>" when status < 0.
void check(herr_t status, std::string_view what);
// Switches HDF5's automatic error printing off for the calling thread (error stacks are
// per-thread in the thread-safe library). Cheap; every store entry point calls it.
void quiet();

// Every file the store writes is built in memory (HDF5's core driver without a backing store)
// and saved as one image by save_image: HDF5 itself never writes to disk. A write that fails on
// disk (full, quota, size limit) is then an error of our own write(2), and the HDF5 file closes
// cleanly in memory. (When HDF5 1.10 fails to flush a file on disk, H5Fclose fails and leaves the
// file's id behind, pointing at a half-destroyed file; HDF5's atexit cleanup then closes it again
// and crashes with SIGSEGV.) `name` only names the file in HDF5's messages.
Handle create_in_memory(const std::filesystem::path& name);
// The bytes of an in-memory file (flushed first).
std::vector<char> file_image(hid_t file, std::string_view what);
// Writes an image and its seal (seal.hpp) to `path` atomically (common/files.hpp: a temporary
// made with O_EXCL | O_NOFOLLOW, fsync, rename); before_rename (tests) is called with the
// temporary path.
void save_image(const std::vector<char>& image, const std::filesystem::path& path,
                void (*before_rename)(const std::filesystem::path&) = nullptr);
// Whether a file must carry loftlab's seal to be opened. Files loftlab reads back to decide
// something (point files on resume and merge, calibration and cost caches) require it; a file a
// user hands to inspect may come from elsewhere, and is checked only when it has a seal.
enum class Seal { required, optional };
// Opens read-only after checking the seal: a damaged seal is always an error naming the file, a
// missing one when `seal` is required. HDF5 then opens the very file that was checked (same
// inode) or the call fails.
Handle open_file(const std::filesystem::path& path, Seal seal = Seal::optional);
Handle create_group(hid_t parent, const std::string& name, std::string_view where);
Handle open_group(hid_t parent, const std::string& name, std::string_view where);
Handle open_dataset(hid_t parent, const std::string& name, std::string_view where);
bool has_link(hid_t parent, const std::string& name);
// Names of the links in a group, sorted by name.
std::vector<std::string> children(hid_t group, std::string_view where);

// Attributes: int64, float64, or variable-length UTF-8 strings (h5py reads them as str).
void write_attr(hid_t obj, const std::string& name, const Value& v, std::string_view where);
Value read_attr(hid_t obj, const std::string& name, std::string_view where);
std::vector<std::string> attr_names(hid_t obj, std::string_view where);  // sorted
std::string read_text_attr(hid_t obj, const std::string& name, std::string_view where);

// float64 datasets: a scalar or a 1-D array. read_doubles flattens any rank and converts any
// numeric type.
void write_scalar(hid_t parent, const std::string& name, double v, std::string_view where);
void write_array(hid_t parent, const std::string& name, std::span<const double> v,
                 std::string_view where);
std::vector<double> read_doubles(hid_t parent, const std::string& name, std::string_view where);

// A variable-length UTF-8 string type (caller owns it).
Handle vlen_string_type();
// Dataset/group creation properties with modification times off, so merging the same points
// twice writes the same bytes (apart from the `created` attribute).
Handle untimed_dcpl();
Handle untimed_gcpl();

}  // namespace loft::results::h5
