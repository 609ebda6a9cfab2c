#include "io/npy.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>
#include <fstream>
#include <string_view>

#include "common/error.hpp"
#include "common/files.hpp"

namespace loft::io {
namespace {

namespace fs = std::filesystem;
constexpr char kMagic[] = "\x93NUMPY";

std::string shape_str(std::span<const int64_t> shape) {
  return fmt::format("({}{})", fmt::join(shape, ", "), shape.size() == 1 ? "," : "");
}

// The value following 'key': in numpy's Python-literal header dict, with the text after it.
std::string_view dict_value(std::string_view dict, std::string_view key, const fs::path& path) {
  for (const char q : {'\'', '"'}) {
    const std::string quoted = fmt::format("{}{}{}", q, key, q);
    auto at = dict.find(quoted);
    if (at == std::string_view::npos) continue;
    at = dict.find(':', at + quoted.size());
    if (at == std::string_view::npos) break;
    auto rest = dict.substr(at + 1);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    return rest;
  }
  fail("{}: .npy header has no '{}' entry (header: {})", path.string(), key, dict);
}

std::string parse_descr(std::string_view v, const fs::path& path) {
  if (v.empty() || (v[0] != '\'' && v[0] != '"'))
    fail(
        "{}: .npy 'descr' is not a simple dtype string (structured arrays are not supported; "
        "valid: '<f4', '<f2', '<f8')",
        path.string());
  const auto end = v.find(v[0], 1);
  if (end == std::string_view::npos)
    fail("{}: .npy header has an unterminated 'descr'", path.string());
  return std::string(v.substr(1, end - 1));
}

std::vector<int64_t> parse_shape(std::string_view v, const fs::path& path) {
  if (v.empty() || v[0] != '(') fail("{}: .npy 'shape' is not a tuple", path.string());
  const auto end = v.find(')');
  if (end == std::string_view::npos) fail("{}: .npy 'shape' tuple is not closed", path.string());
  std::vector<int64_t> shape;
  std::string_view body = v.substr(1, end - 1);
  while (!body.empty()) {
    while (!body.empty() && (body[0] == ' ' || body[0] == ',')) body.remove_prefix(1);
    if (body.empty()) break;
    size_t n = 0;
    int64_t x = 0;
    while (n < body.size() && body[n] >= '0' && body[n] <= '9') {
      x = x * 10 + (body[n] - '0');
      if (x > (int64_t(1) << 48)) fail("{}: .npy shape dimension is too large", path.string());
      ++n;
    }
    if (n == 0)
      fail("{}: .npy shape '{}' is not a tuple of integers", path.string(), v.substr(0, end + 1));
    shape.push_back(x);
    body.remove_prefix(n);
  }
  return shape;
}

}  // namespace

size_t NpyHeader::count() const {
  return static_cast<size_t>(element_count(shape).n);  // checked in read_npy_header
}

NpyHeader read_npy_header(const fs::path& path) {
  require_regular_file(path, ".npy file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open .npy file {}", path.string());
  char pre[10];
  if (!in.read(pre, 10) || std::memcmp(pre, kMagic, 6) != 0)
    fail("{} is not a .npy file (no \\x93NUMPY magic at the start)", path.string());
  const int major = static_cast<unsigned char>(pre[6]);
  size_t header_len = 0, prefix = 10;
  if (major == 1) {
    header_len = static_cast<unsigned char>(pre[8]) | static_cast<unsigned char>(pre[9]) << 8;
  } else if (major == 2 || major == 3) {
    char b[2];
    if (!in.read(b, 2)) fail("{}: truncated .npy header", path.string());
    uint32_t len;
    char lb[4] = {pre[8], pre[9], b[0], b[1]};
    std::memcpy(&len, lb, 4);
    header_len = len;
    prefix = 12;
  } else {
    fail("{}: .npy format version {} is not supported (valid: 1, 2, 3)", path.string(), major);
  }
  const auto file_size = fs::file_size(path);
  if (prefix + header_len > file_size)
    fail("{}: truncated .npy file: header length {} runs past the end of the {}-byte file",
         path.string(), header_len, file_size);
  std::string dict(header_len, '\0');
  in.read(dict.data(), static_cast<std::streamsize>(header_len));

  NpyHeader h;
  h.data_offset = prefix + header_len;
  const std::string descr = parse_descr(dict_value(dict, "descr", path), path);
  h.dtype = find_npy_dtype(descr);
  if (!h.dtype)
    fail(
        "{}: .npy dtype '{}' is not supported (valid: '<f4' float32, '<f2' float16, '<f8' "
        "float64, little-endian)",
        path.string(), descr);
  if (dict_value(dict, "fortran_order", path).starts_with("True"))
    fail("{}: .npy array is in Fortran order; save it in C order (numpy.ascontiguousarray)",
         path.string());
  h.shape = parse_shape(dict_value(dict, "shape", path), path);

  const size_t have = file_size - h.data_offset;
  const auto elements = element_count(h.shape);
  if (!elements.ok || elements.n > have)  // more elements than bytes: surely truncated
    fail("{}: truncated .npy file: shape {} of {} needs more data bytes than the file's {}",
         path.string(), shape_str(h.shape), h.dtype->name, have);
  const size_t want = h.count() * static_cast<size_t>(h.dtype->bytes);
  if (have < want)
    fail("{}: truncated .npy file: shape {} of {} needs {} data bytes, the file has {}",
         path.string(), shape_str(h.shape), h.dtype->name, want, have);
  if (have > want)
    fail(
        "{}: .npy file has {} bytes after the data of shape {} {} (corrupt or not a single "
        "array)",
        path.string(), have - want, shape_str(h.shape), h.dtype->name);
  return h;
}

NpyArray read_npy_array(const fs::path& path) {
  const NpyHeader h = read_npy_header(path);
  const size_t n = h.count();
  std::vector<std::byte> raw(n * static_cast<size_t>(h.dtype->bytes));
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(h.data_offset));
  if (!in.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(raw.size())))
    fail("{}: read error in .npy data", path.string());
  NpyArray a;
  a.shape = h.shape;
  a.dtype = h.dtype->name;
  a.data.resize(n);
  h.dtype->to_f32(raw.data(), a.data.data(), n);
  return a;
}

Matrix read_npy(const fs::path& path) {
  NpyArray a = read_npy_array(path);
  if (a.shape.size() != 2)
    fail("{}: expected a 2-D array (out x in), got shape {}", path.string(), shape_str(a.shape));
  check_finite(a.data, path.stem().string(), path.string());
  return Eigen::Map<const Matrix>(a.data.data(), a.shape[0], a.shape[1]);
}

Vector read_npy_vector(const fs::path& path) {
  NpyArray a = read_npy_array(path);
  if (a.shape.size() != 1)
    fail("{}: expected a 1-D array, got shape {}", path.string(), shape_str(a.shape));
  check_finite(a.data, path.stem().string(), path.string());
  return Eigen::Map<const Vector>(a.data.data(), a.shape[0]);
}

namespace {

// `descr` is numpy's type string of the 4-byte elements at `data` (little-endian, as written).
void write_npy_bytes(const fs::path& path, const char* descr, const void* data, size_t count,
                     std::span<const int64_t> shape) {
  size_t n = 1;
  for (auto d : shape) n *= static_cast<size_t>(d);
  if (n != count)
    fail("write_npy {}: shape {} holds {} values but {} were given", path.string(),
         shape_str(shape), n, count);
  std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr,
                                 shape_str(shape));
  // numpy pads magic + version + length + dict + '\n' to a multiple of 64 bytes.
  const size_t total = (10 + dict.size() + 1 + 63) / 64 * 64;
  dict.append(total - 10 - dict.size() - 1, ' ');
  dict.push_back('\n');
  const uint16_t len = static_cast<uint16_t>(dict.size());
  AtomicFile out(path);
  out.write(kMagic, 6);
  const char version_and_length[4] = {1, 0, static_cast<char>(len & 0xff),
                                      static_cast<char>(len >> 8)};
  out.write(version_and_length, 4);
  out.write(dict);
  out.write(data, count * 4);
  out.commit();
}

}  // namespace

void write_npy(const fs::path& path, std::span<const float> data, std::span<const int64_t> shape) {
  write_npy_bytes(path, "<f4", data.data(), data.size(), shape);
}

void write_npy(const fs::path& path, std::span<const int32_t> data,
               std::span<const int64_t> shape) {
  write_npy_bytes(path, "<i4", data.data(), data.size(), shape);
}

void write_npy(const fs::path& path, ConstMatrixRef m) {
  const int64_t shape[2] = {m.rows(), m.cols()};
  // A Ref may have an outer stride; copy to a contiguous row-major matrix first.
  const Matrix dense = m;
  write_npy(path, std::span<const float>(dense.data(), static_cast<size_t>(dense.size())), shape);
}

}  // namespace loft::io
