// Calibration files: the statistics as HDF5 (results/README.md "Calibration files"), built in
// memory and saved atomically.
#include <fmt/format.h>

#include <algorithm>

#include "common/error.hpp"
#include "common/files.hpp"
#include "io/results/h5.hpp"
#include "model/calibrate.hpp"

namespace loft::model {

namespace {

namespace h5 = results::h5;
constexpr const char* kFormat = "loftlab-calibration";
constexpr int64_t kVersion = 1;

void write_matrix(hid_t group, const std::string& name, const MatrixD& m, std::string_view where) {
  const hsize_t dims[2] = {static_cast<hsize_t>(m.rows()), static_cast<hsize_t>(m.cols())};
  h5::Handle space(H5Screate_simple(2, dims, nullptr), H5Sclose, where);
  h5::Handle dcpl = h5::untimed_dcpl();
  h5::Handle d(
      H5Dcreate2(group, name.c_str(), H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
      H5Dclose, fmt::format("{}: create {}", where, name));
  h5::check(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, m.data()),
            fmt::format("{}: write {}", where, name));
}

MatrixD read_matrix(hid_t group, const std::string& name, std::string_view where) {
  h5::Handle d = h5::open_dataset(group, name, where);
  h5::Handle space(H5Dget_space(d), H5Sclose, where);
  hsize_t dims[2] = {0, 0};
  if (H5Sget_simple_extent_ndims(space) != 2)
    fail("{}: dataset '{}' is not a 2-D matrix", where, name);
  H5Sget_simple_extent_dims(space, dims, nullptr);
  MatrixD m(static_cast<Eigen::Index>(dims[0]), static_cast<Eigen::Index>(dims[1]));
  h5::check(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, m.data()),
            fmt::format("{}: read {}", where, name));
  return m;
}

void write_group(hid_t file, const char* name, const std::map<std::string, MatrixD>& ms,
                 std::string_view where) {
  h5::Handle g = h5::create_group(file, name, where);
  for (const auto& [k, m] : ms) write_matrix(g, k, m, where);
}

std::map<std::string, MatrixD> read_group(hid_t file, const char* name, std::string_view where) {
  std::map<std::string, MatrixD> out;
  if (!h5::has_link(file, name)) return out;
  h5::Handle g = h5::open_group(file, name, where);
  for (const auto& k : h5::children(g, where)) out.emplace(k, read_matrix(g, k, where));
  return out;
}

int64_t int_attr(hid_t f, const char* name, std::string_view where) {
  const auto v = h5::read_attr(f, name, where);
  if (!std::holds_alternative<int64_t>(v))
    fail("{}: attribute '{}' is not an integer", where, name);
  return std::get<int64_t>(v);
}

}  // namespace

void write_calibration(const CalibStats& s, const std::filesystem::path& path) {
  h5::quiet();
  const std::string where = fmt::format("calibration file {}", path.string());
  h5::Handle f = h5::create_in_memory(path);
  h5::write_attr(f, "format", std::string(kFormat), where);
  h5::write_attr(f, "version", kVersion, where);
  h5::write_attr(f, "model", s.key.model, where);
  h5::write_attr(f, "corpus", s.key.corpus, where);
  h5::write_attr(f, "tokenizer", s.key.tokenizer, where);
  h5::write_attr(f, "tokens", s.key.tokens, where);
  h5::write_attr(f, "seq_len", int64_t{s.key.seq_len}, where);
  h5::write_attr(f, "seed", static_cast<int64_t>(s.key.seed), where);
  h5::write_attr(f, "fisher", int64_t{s.key.fisher}, where);
  h5::write_attr(f, "tokens_used", s.tokens_used, where);
  h5::write_attr(f, "seconds", s.seconds, where);
  write_group(f, "h", s.h, where);
  if (s.key.fisher) write_group(f, "fisher", s.fisher, where);
  h5::save_image(h5::file_image(f, where), path);
}

CalibStats read_calibration(const std::filesystem::path& path) {
  h5::quiet();
  const std::string where = fmt::format("calibration file {}", path.string());
  require_regular_file(path, "calibration file");
  h5::Handle f = h5::open_file(path, h5::Seal::required);
  const auto attrs = h5::attr_names(f, where);
  if (std::find(attrs.begin(), attrs.end(), "format") == attrs.end() ||
      h5::read_text_attr(f, "format", where) != kFormat)
    fail("{}: not a loftlab calibration file (write one with loftlab calibrate)", where);
  if (int_attr(f, "version", where) != kVersion)
    fail("{}: version {} (this loftlab reads version {})", where, int_attr(f, "version", where),
         kVersion);
  CalibStats s;
  s.key.model = h5::read_text_attr(f, "model", where);
  s.key.corpus = h5::read_text_attr(f, "corpus", where);
  s.key.tokenizer = h5::read_text_attr(f, "tokenizer", where);
  s.key.tokens = int_attr(f, "tokens", where);
  s.key.seq_len = static_cast<int>(int_attr(f, "seq_len", where));
  s.key.seed = static_cast<uint64_t>(int_attr(f, "seed", where));
  s.key.fisher = int_attr(f, "fisher", where) != 0;
  s.tokens_used = int_attr(f, "tokens_used", where);
  s.h = read_group(f, "h", where);
  s.fisher = read_group(f, "fisher", where);
  for (const auto* group : {&s.h, &s.fisher})
    for (const auto& [k, m] : *group)
      if (!m.allFinite()) fail("{}: statistics '{}' hold NaN or Inf (recompute them)", where, k);
  return s;
}

void check_key(const CalibKey& file, const CalibKey& want, const std::filesystem::path& path) {
  auto differ = [&](const char* field, const std::string& a, const std::string& b) {
    if (a != b)
      fail(
          "calibration file {} was computed with {} '{}', not '{}' (delete it, or point at "
          "another file)",
          path.string(), field, a, b);
  };
  differ("model", file.model, want.model);
  differ("corpus", file.corpus, want.corpus);
  differ("tokenizer", file.tokenizer, want.tokenizer);
  differ("tokens", std::to_string(file.tokens), std::to_string(want.tokens));
  differ("seq_len", std::to_string(file.seq_len), std::to_string(want.seq_len));
  differ("seed", std::to_string(file.seed), std::to_string(want.seed));
  // A file with the Fisher serves a request without it.
  if (want.fisher && !file.fisher) differ("fisher", "no", "yes");
}

CalibStats load_or_calibrate(const CalibKey& key, const std::filesystem::path& path,
                             const CalibOptions& options, bool* computed) {
  if (std::filesystem::exists(std::filesystem::symlink_status(path))) {
    CalibStats s = read_calibration(path);
    check_key(s.key, key, path);
    if (computed) *computed = false;
    return s;
  }
  CalibStats s = calibrate(key, options);
  write_calibration(s, path);
  if (computed) *computed = true;
  return s;
}

}  // namespace loft::model
