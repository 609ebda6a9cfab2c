#include "io/results/h5.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include <sys/stat.h>
#include <unistd.h>

#include "common/error.hpp"
#include "common/files.hpp"
#include "io/results/seal.hpp"

namespace loft::results::h5 {
namespace {

// The innermost message on the calling thread's HDF5 error stack (the most specific cause, e.g.
// "unable to open file: name = '...', errno = 2"), then clears the stack.
std::string hdf5_message() {
  std::string msg;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* e, void* out) -> herr_t {
        if (e->desc && *e->desc) *static_cast<std::string*>(out) = e->desc;
        return 0;
      },
      &msg);
  H5Eclear2(H5E_DEFAULT);
  return msg.empty() ? "HDF5 error" : msg;
}

[[noreturn]] void fail_h5(std::string_view what) {
  fail("{}: {}", what, hdf5_message());
}

// Iteration callback body shared by links and attributes: collect the names.
herr_t append_name(const char* name, void* out) {
  static_cast<std::vector<std::string>*>(out)->emplace_back(name);
  return 0;
}

}  // namespace

Handle::Handle(hid_t id, Closer closer, std::string_view what) : id_(id), closer_(closer) {
  if (id < 0) fail_h5(what);
}

Handle::Handle(Handle&& o) noexcept : id_(o.id_), closer_(o.closer_) {
  o.id_ = H5I_INVALID_HID;
}

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    if (id_ >= 0 && closer_) closer_(id_);
    id_ = o.id_;
    closer_ = o.closer_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

Handle::~Handle() {
  if (id_ >= 0 && closer_) closer_(id_);
}

void Handle::close(std::string_view what) {
  hid_t id = id_;
  id_ = H5I_INVALID_HID;
  if (id >= 0 && closer_ && closer_(id) < 0) fail_h5(what);
}

void check(herr_t status, std::string_view what) {
  if (status < 0) fail_h5(what);
}

void quiet() {
  thread_local bool done = false;
  if (!done) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    done = true;
  }
}

Handle create_in_memory(const std::filesystem::path& name) {
  quiet();
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "file access properties");
  check(H5Pset_fapl_core(fapl, size_t(1) << 20, false), "in-memory file properties");
  return Handle(H5Fcreate(name.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, fapl), H5Fclose,
                fmt::format("cannot create HDF5 file {} in memory", name.string()));
}

std::vector<char> file_image(hid_t file, std::string_view what) {
  check(H5Fflush(file, H5F_SCOPE_GLOBAL), what);
  const ssize_t n = H5Fget_file_image(file, nullptr, 0);
  if (n < 0) fail_h5(what);
  std::vector<char> image(static_cast<size_t>(n));
  if (H5Fget_file_image(file, image.data(), image.size()) != n) fail_h5(what);
  return image;
}

void save_image(const std::vector<char>& image, const std::filesystem::path& path,
                void (*before_rename)(const std::filesystem::path&)) {
  AtomicFile out(path);
  out.write(image.data(), image.size());
  out.write(make_seal(image));
  out.commit(before_rename);
}

Handle open_file(const std::filesystem::path& path, Seal seal) {
  quiet();
  if (!std::filesystem::exists(path)) fail("{}: no such file", path.string());
  uint64_t size = 0;
  const int fd = open_regular_file(path, "HDF5 file", size);
  struct stat checked {};
  SealState state = SealState::unsealed;
  try {
    if (::fstat(fd, &checked) != 0) fail("cannot stat {}: {}", path.string(), std::strerror(errno));
    state = check_seal(fd, size, path.string());
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  if (state == SealState::damaged)
    fail(
        "{} is damaged: its checksum does not match what loftlab wrote (the file was cut short "
        "or changed since); remove it, or run what wrote it again",
        path.string());
  if (state == SealState::unsealed && seal == Seal::required)
    fail(
        "{} was not written whole by loftlab: it lacks the checksum seal loftlab ends its files "
        "with (cut short, edited, or from elsewhere); remove it, or run what wrote it again",
        path.string());
  Handle f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose,
           fmt::format("cannot open {} as HDF5", path.string()));
  // The file HDF5 opened must be the one whose seal was checked, not one renamed over it since.
  void* handle = nullptr;
  struct stat opened {};
  if (H5Fget_vfd_handle(f, H5P_DEFAULT, &handle) < 0 || handle == nullptr ||
      ::fstat(*static_cast<int*>(handle), &opened) != 0 || opened.st_ino != checked.st_ino ||
      opened.st_dev != checked.st_dev || opened.st_size != checked.st_size)
    fail("{} was replaced while it was being opened; try again", path.string());
  return f;
}

Handle create_group(hid_t parent, const std::string& name, std::string_view where) {
  Handle gcpl = untimed_gcpl();
  return Handle(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, gcpl, H5P_DEFAULT), H5Gclose,
                fmt::format("{}: cannot create group '{}'", where, name));
}

Handle open_group(hid_t parent, const std::string& name, std::string_view where) {
  if (!has_link(parent, name)) fail("{}: no group '{}'", where, name);
  return Handle(H5Gopen2(parent, name.c_str(), H5P_DEFAULT), H5Gclose,
                fmt::format("{}: cannot open group '{}'", where, name));
}

Handle open_dataset(hid_t parent, const std::string& name, std::string_view where) {
  if (!has_link(parent, name)) fail("{}: no dataset '{}'", where, name);
  return Handle(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), H5Dclose,
                fmt::format("{}: cannot open dataset '{}'", where, name));
}

bool has_link(hid_t parent, const std::string& name) {
  htri_t r = H5Lexists(parent, name.c_str(), H5P_DEFAULT);
  if (r < 0) H5Eclear2(H5E_DEFAULT);
  return r > 0;
}

std::vector<std::string> children(hid_t group, std::string_view where) {
  std::vector<std::string> names;
  hsize_t idx = 0;
  check(H5Literate(
            group, H5_INDEX_NAME, H5_ITER_INC, &idx,
            [](hid_t, const char* name, const H5L_info_t*, void* out) {
              return append_name(name, out);
            },
            &names),
        fmt::format("{}: cannot list group", where));
  std::sort(names.begin(), names.end());
  return names;
}

Handle vlen_string_type() {
  Handle t(H5Tcopy(H5T_C_S1), H5Tclose, "string type");
  check(H5Tset_size(t, H5T_VARIABLE), "string type");
  check(H5Tset_cset(t, H5T_CSET_UTF8), "string type");
  return t;
}

Handle untimed_dcpl() {
  Handle p(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "dataset properties");
  check(H5Pset_obj_track_times(p, false), "dataset properties");
  return p;
}

Handle untimed_gcpl() {
  Handle p(H5Pcreate(H5P_GROUP_CREATE), H5Pclose, "group properties");
  check(H5Pset_obj_track_times(p, false), "group properties");
  return p;
}

void write_attr(hid_t obj, const std::string& name, const Value& v, std::string_view where) {
  std::string what = fmt::format("{}: cannot write attribute '{}'", where, name);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose, what);
  if (const auto* i = std::get_if<int64_t>(&v)) {
    Handle a(H5Acreate2(obj, name.c_str(), H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT),
             H5Aclose, what);
    check(H5Awrite(a, H5T_NATIVE_INT64, i), what);
  } else if (const auto* d = std::get_if<double>(&v)) {
    Handle a(H5Acreate2(obj, name.c_str(), H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT),
             H5Aclose, what);
    check(H5Awrite(a, H5T_NATIVE_DOUBLE, d), what);
  } else {
    Handle type = vlen_string_type();
    Handle a(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose, what);
    const char* p = std::get<std::string>(v).c_str();
    check(H5Awrite(a, type, &p), what);
  }
}

Value read_attr(hid_t obj, const std::string& name, std::string_view where) {
  std::string what = fmt::format("{}: cannot read attribute '{}'", where, name);
  Handle a(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose, what);
  Handle ftype(H5Aget_type(a), H5Tclose, what);
  Handle space(H5Aget_space(a), H5Sclose, what);
  if (H5Sget_simple_extent_npoints(space) != 1)
    fail("{}: attribute '{}' is not a scalar (expected an int64, float64 or string)", where, name);
  switch (H5Tget_class(ftype)) {
    case H5T_INTEGER: {
      // Read unsigned 64-bit values as such: HDF5 would clip one above INT64_MAX silently.
      if (H5Tget_sign(ftype) == H5T_SGN_NONE && H5Tget_size(ftype) >= 8) {
        uint64_t u = 0;
        check(H5Aread(a, H5T_NATIVE_UINT64, &u), what);
        if (u > uint64_t(INT64_MAX))
          fail("{}: attribute '{}' = {} does not fit an int64 parameter", where, name, u);
        return static_cast<int64_t>(u);
      }
      int64_t v = 0;
      check(H5Aread(a, H5T_NATIVE_INT64, &v), what);
      return v;
    }
    case H5T_FLOAT: {
      double v = 0;
      check(H5Aread(a, H5T_NATIVE_DOUBLE, &v), what);
      return v;
    }
    case H5T_STRING: {
      if (H5Tis_variable_str(ftype) > 0) {
        Handle mtype = vlen_string_type();
        char* p = nullptr;
        check(H5Aread(a, mtype, &p), what);
        std::string s = p ? p : "";
        H5free_memory(p);
        return s;
      }
      size_t n = H5Tget_size(ftype);
      Handle mtype(H5Tcopy(ftype), H5Tclose, what);
      std::string s(n, '\0');
      check(H5Aread(a, mtype, s.data()), what);
      s.resize(std::strlen(s.c_str()));  // fixed-length strings may be NUL-padded
      return s;
    }
    default:
      fail("{}: attribute '{}' has an unsupported type (expected int64, float64 or string)", where,
           name);
  }
}

std::string read_text_attr(hid_t obj, const std::string& name, std::string_view where) {
  Value v = read_attr(obj, name, where);
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  fail("{}: attribute '{}' should be a string", where, name);
}

std::vector<std::string> attr_names(hid_t obj, std::string_view where) {
  std::vector<std::string> names;
  hsize_t idx = 0;
  check(H5Aiterate2(
            obj, H5_INDEX_NAME, H5_ITER_INC, &idx,
            [](hid_t, const char* name, const H5A_info_t*, void* out) {
              return append_name(name, out);
            },
            &names),
        fmt::format("{}: cannot list attributes", where));
  std::sort(names.begin(), names.end());
  return names;
}

void write_scalar(hid_t parent, const std::string& name, double v, std::string_view where) {
  std::string what = fmt::format("{}: cannot write dataset '{}'", where, name);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose, what);
  Handle dcpl = untimed_dcpl();
  Handle d(H5Dcreate2(parent, name.c_str(), H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
           H5Dclose, what);
  check(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v), what);
}

void write_array(hid_t parent, const std::string& name, std::span<const double> v,
                 std::string_view where) {
  std::string what = fmt::format("{}: cannot write dataset '{}'", where, name);
  hsize_t n = v.size();
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose, what);
  Handle dcpl = untimed_dcpl();
  Handle d(H5Dcreate2(parent, name.c_str(), H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
           H5Dclose, what);
  if (n > 0) check(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), what);
}

std::vector<double> read_doubles(hid_t parent, const std::string& name, std::string_view where) {
  std::string what = fmt::format("{}: cannot read dataset '{}'", where, name);
  Handle d = open_dataset(parent, name, where);
  Handle ftype(H5Dget_type(d), H5Tclose, what);
  H5T_class_t cls = H5Tget_class(ftype);
  if (cls != H5T_FLOAT && cls != H5T_INTEGER)
    fail("{}: dataset '{}' is not numeric (expected float64 values)", where, name);
  Handle space(H5Dget_space(d), H5Sclose, what);
  hssize_t n = H5Sget_simple_extent_npoints(space);
  if (n < 0) fail_h5(what);
  std::vector<double> v(static_cast<size_t>(n));
  if (n > 0) check(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), what);
  return v;
}

}  // namespace loft::results::h5
