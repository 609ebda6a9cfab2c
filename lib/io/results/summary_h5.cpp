// The /summary table as an HDF5 compound dataset: writing it, and reading it back.
#include <algorithm>
#include <cstring>

#include "common/error.hpp"
#include "io/results/h5.hpp"
#include "io/results/summary.hpp"

namespace loft::results {
namespace {

// One row of the compound buffer: each member at its offset.
struct Layout {
  std::vector<size_t> offsets;
  size_t size = 0;
};

Layout layout_of(const Summary& s) {
  Layout l;
  for (size_t i = 0; i < s.columns.size(); ++i) {
    l.offsets.push_back(l.size);
    l.size += 8;  // int64, float64 and char* are all 8 bytes
  }
  return l;
}

}  // namespace

void write_summary(hid_t file, const Summary& s, const std::string& where) {
  std::string what = where + ": cannot write /summary";
  Layout l = layout_of(s);
  h5::Handle str = h5::vlen_string_type();
  h5::Handle type(H5Tcreate(H5T_COMPOUND, std::max<size_t>(l.size, 1)), H5Tclose, what);
  for (size_t i = 0; i < s.columns.size(); ++i) {
    const Column& c = s.columns[i];
    hid_t member = c.kind == Column::Kind::Int    ? H5T_NATIVE_INT64
                   : c.kind == Column::Kind::Real ? H5T_NATIVE_DOUBLE
                                                  : str.get();
    h5::check(H5Tinsert(type, c.name.c_str(), l.offsets[i], member),
              fmt::format("{} (column '{}')", what, c.name));
  }
  size_t n = s.rows();
  std::vector<unsigned char> buf(n * l.size);
  for (size_t i = 0; i < s.columns.size(); ++i) {
    const Column& c = s.columns[i];
    for (size_t r = 0; r < n; ++r) {
      unsigned char* dst = buf.data() + r * l.size + l.offsets[i];
      const Value& v = c.values[r];
      if (c.kind == Column::Kind::Int) {
        int64_t x = std::get<int64_t>(v);
        std::memcpy(dst, &x, 8);
      } else if (c.kind == Column::Kind::Real) {
        double x = as_double(v);
        std::memcpy(dst, &x, 8);
      } else {
        const char* p = std::get<std::string>(v).c_str();  // the Summary outlives the write
        std::memcpy(dst, &p, 8);
      }
    }
  }
  hsize_t dims = n;
  h5::Handle space(H5Screate_simple(1, &dims, nullptr), H5Sclose, what);
  h5::Handle dcpl = h5::untimed_dcpl();
  h5::Handle d(H5Dcreate2(file, "summary", type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), H5Dclose,
               what);
  if (n > 0) h5::check(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), what);
}

Summary read_summary(const std::filesystem::path& results_h5) {
  std::string where = results_h5.string();
  h5::Handle f = h5::open_file(results_h5);
  if (!h5::has_link(f, "summary"))
    fail("{}: no /summary table (is it a point file? give results.h5 or the results folder)",
         where);
  std::string what = where + ": cannot read /summary";
  h5::Handle d = h5::open_dataset(f, "summary", where);
  h5::Handle ftype(H5Dget_type(d), H5Tclose, what);
  if (H5Tget_class(ftype) != H5T_COMPOUND) fail("{}: /summary is not a compound table", where);
  int members = H5Tget_nmembers(ftype);
  h5::Handle space(H5Dget_space(d), H5Sclose, what);
  size_t n = static_cast<size_t>(H5Sget_simple_extent_npoints(space));

  Summary s;
  std::vector<size_t> offsets;
  std::vector<size_t> fixed_sizes;  // 0 unless a fixed-length string member
  size_t size = 0;
  std::vector<h5::Handle> member_types;
  h5::Handle str = h5::vlen_string_type();
  for (int i = 0; i < members; ++i) {
    char* raw = H5Tget_member_name(ftype, static_cast<unsigned>(i));
    std::string name = raw ? raw : "";
    H5free_memory(raw);
    h5::Handle mt(H5Tget_member_type(ftype, static_cast<unsigned>(i)), H5Tclose, what);
    Column c{name, Column::Kind::Real, {}};
    size_t bytes = 8, fixed = 0;
    h5::Handle mem;
    switch (H5Tget_class(mt)) {
      case H5T_INTEGER:
        c.kind = Column::Kind::Int;
        mem = h5::Handle(H5Tcopy(H5T_NATIVE_INT64), H5Tclose, what);
        break;
      case H5T_FLOAT:
        mem = h5::Handle(H5Tcopy(H5T_NATIVE_DOUBLE), H5Tclose, what);
        break;
      case H5T_STRING:
        c.kind = Column::Kind::Text;
        if (H5Tis_variable_str(mt) > 0) {
          mem = h5::vlen_string_type();
        } else {
          fixed = bytes = H5Tget_size(mt);
          mem = h5::Handle(H5Tcopy(mt), H5Tclose, what);
        }
        break;
      default:
        fail("{}: /summary column '{}' has an unsupported type", where, name);
    }
    offsets.push_back(size);
    fixed_sizes.push_back(fixed);
    size += bytes;
    member_types.push_back(std::move(mem));
    s.columns.push_back(std::move(c));
  }
  h5::Handle mtype(H5Tcreate(H5T_COMPOUND, std::max<size_t>(size, 1)), H5Tclose, what);
  for (int i = 0; i < members; ++i)
    h5::check(H5Tinsert(mtype, s.columns[i].name.c_str(), offsets[i], member_types[i]), what);
  std::vector<unsigned char> buf(std::max<size_t>(n * size, 1));
  if (n > 0) h5::check(H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), what);
  for (int i = 0; i < members; ++i) {
    Column& c = s.columns[i];
    for (size_t r = 0; r < n; ++r) {
      const unsigned char* src = buf.data() + r * size + offsets[i];
      if (c.kind == Column::Kind::Int) {
        int64_t x;
        std::memcpy(&x, src, 8);
        c.values.emplace_back(x);
      } else if (c.kind == Column::Kind::Real) {
        double x;
        std::memcpy(&x, src, 8);
        c.values.emplace_back(x);
      } else if (fixed_sizes[i] > 0) {
        const char* p = reinterpret_cast<const char*>(src);
        c.values.emplace_back(std::string(p, strnlen(p, fixed_sizes[i])));
      } else {
        const char* p;
        std::memcpy(&p, src, 8);
        c.values.emplace_back(std::string(p ? p : ""));
      }
    }
  }
  if (n > 0) H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, buf.data());
  return s;
}

}  // namespace loft::results
