#include "io/results/store.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <set>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/version.hpp"
#include "io/results/h5.hpp"

namespace fs = std::filesystem;

namespace loft::results {

void (*detail::before_rename_hook)(const fs::path&) = nullptr;

namespace {

constexpr const char* kTempMarker = ".tmp.";

bool is_reserved(const std::string& name) {
  return std::any_of(std::begin(kReservedAttrs), std::end(kReservedAttrs),
                     [&](const char* r) { return name == r; });
}

void check_id(const std::string& id) {
  bool ok = !id.empty() && id.front() != '.' && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
  if (!ok)
    fail("invalid point id '{}': use letters, digits, '_', '-' and '.', not starting with '.'", id);
}

// HDF5 link names: non-empty, no '/', not "." (the group itself).
void check_name(const std::string& name, std::string_view kind, const std::string& id) {
  if (name.empty() || name == "." || name.find('/') != std::string::npos)
    fail("point {}: invalid {} name '{}': must be non-empty, not '.', and contain no '/'", id, kind,
         name);
}

void validate(const std::string& id, const Record& r) {
  check_id(id);
  for (const auto& [k, v] : r.params) {
    check_name(k, "parameter", id);
    if (is_reserved(k))
      fail(
          "point {}: parameter '{}' clashes with an attribute the store writes itself "
          "(reserved: id, status, seconds, host, error)",
          id, k);
  }
  for (const auto& [k, v] : r.metrics) {
    check_name(k, "metric", id);
    if (k == "id" || k == "status" || k == "error" || r.params.count(k))
      fail(
          "point {}: metric '{}' has the name of a parameter or of a /summary column "
          "(id, status, error); metrics and parameters share the summary table, rename one",
          id, k);
  }
  for (const auto& [tensor, sets] : r.layers) {
    check_name(tensor, "tensor", id);
    for (const auto& [k, v] : sets) check_name(k, "layer dataset", id);
  }
  for (const auto& [k, v] : r.train) check_name(k, "train curve", id);
  for (const auto& [k, v] : r.notes) check_name(k, "note", id);
  for (const auto& [tensor, notes] : r.layer_notes) {
    check_name(tensor, "tensor", id);
    for (const auto& [k, v] : notes) check_name(k, "layer note", id);
  }
}

void write_record(hid_t file, const std::string& id, const Record& r, const std::string& where) {
  h5::Handle points = h5::create_group(file, "points", where);
  h5::Handle g = h5::create_group(points, id, where);
  std::string gw = fmt::format("{} /points/{}", where, id);
  for (const auto& [k, v] : r.params) h5::write_attr(g, k, v, gw);
  h5::write_attr(g, "id", id, gw);
  h5::write_attr(g, "status", r.status, gw);
  h5::write_attr(g, "seconds", r.seconds, gw);
  h5::write_attr(g, "host", host_name(), gw);
  if (!r.error.empty()) h5::write_attr(g, "error", r.error, gw);

  h5::Handle layers = h5::create_group(g, "layers", gw);
  std::set<std::string> tensors;
  for (const auto& [tensor, sets] : r.layers) tensors.insert(tensor);
  for (const auto& [tensor, notes] : r.layer_notes) tensors.insert(tensor);
  for (const auto& tensor : tensors) {
    h5::Handle t = h5::create_group(layers, tensor, gw + "/layers");
    std::string tw = fmt::format("{}/layers/{}", gw, tensor);
    if (auto it = r.layers.find(tensor); it != r.layers.end())
      for (const auto& [k, v] : it->second) h5::write_array(t, k, v, tw);
    if (auto it = r.layer_notes.find(tensor); it != r.layer_notes.end())
      for (const auto& [k, v] : it->second) h5::write_attr(t, k, Value(v), tw);
  }
  if (!r.notes.empty()) {
    h5::Handle notes = h5::create_group(g, "notes", gw);
    for (const auto& [k, v] : r.notes) h5::write_attr(notes, k, Value(v), gw + "/notes");
  }
  h5::Handle metrics = h5::create_group(g, "metrics", gw);
  for (const auto& [k, v] : r.metrics) h5::write_scalar(metrics, k, v, gw + "/metrics");
  h5::Handle train = h5::create_group(g, "train", gw);
  for (const auto& [k, v] : r.train) h5::write_array(train, k, v, gw + "/train");
}

void write_root_attrs(hid_t file, const PointMeta& meta, const std::string& where) {
  h5::write_attr(file, "loftlab_version", std::string(version()), where);
  h5::write_attr(file, "git_commit", std::string(git_commit()), where);
  h5::write_attr(file, "created", utc_now(), where);
  h5::write_attr(file, "config", meta.config, where);
  h5::write_attr(file, "name", meta.name, where);
}

// Parses ".<name>.tmp.<host>.<pid>-<n>" into host and pid; false when the name is not ours.
bool parse_temp(const std::string& file, std::string& host, pid_t& pid) {
  if (file.empty() || file.front() != '.') return false;
  size_t m = file.find(kTempMarker);
  if (m == std::string::npos) return false;
  std::string rest = file.substr(m + std::strlen(kTempMarker));
  size_t dot = rest.rfind('.');
  if (dot == std::string::npos) return false;
  host = rest.substr(0, dot);
  std::string tail = rest.substr(dot + 1);
  size_t dash = tail.find('-');
  try {
    pid = static_cast<pid_t>(std::stol(tail.substr(0, dash)));
  } catch (const std::exception&) {
    return false;
  }
  return pid > 0;
}

bool process_alive(pid_t pid) {
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

size_t remove_stale_in(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return 0;
  const std::string me = host_name();
  size_t removed = 0;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string host;
    pid_t pid = 0;
    if (!parse_temp(e.path().filename().string(), host, pid)) continue;
    if (host != me || process_alive(pid)) continue;
    if (fs::remove(e.path(), ec)) ++removed;
  }
  return removed;
}

StoredPoint read_group(hid_t file, const fs::path& path, const std::string& id, bool full) {
  std::string where = path.string();
  h5::Handle points = h5::open_group(file, "points", where);
  if (!h5::has_link(points, id)) {
    auto ids = h5::children(points, where);
    std::string list;
    for (size_t i = 0; i < ids.size() && i < 20; ++i) list += (i ? ", " : "") + ids[i];
    if (ids.size() > 20) list += fmt::format(", ... ({} in all)", ids.size());
    fail("{}: no point '{}'; the file holds {}", where, id,
         ids.empty() ? std::string("no points") : "ids " + list);
  }
  h5::Handle g = h5::open_group(points, id, where + " /points");
  std::string gw = fmt::format("{} /points/{}", where, id);
  StoredPoint p;
  p.id = id;
  for (const auto& k : h5::attr_names(g, gw)) {
    Value v = h5::read_attr(g, k, gw);
    if (k == "id") continue;
    if (k == "host") {
      if (auto* s = std::get_if<std::string>(&v)) p.host = *s;
    } else if (k == "status") {
      if (auto* s = std::get_if<std::string>(&v)) p.record.status = *s;
    } else if (k == "error") {
      if (auto* s = std::get_if<std::string>(&v)) p.record.error = *s;
    } else if (k == "seconds") {
      if (auto* d = std::get_if<double>(&v)) p.record.seconds = *d;
      if (auto* i = std::get_if<int64_t>(&v)) p.record.seconds = static_cast<double>(*i);
    } else {
      p.record.params[k] = std::move(v);
    }
  }
  if (h5::has_link(g, "metrics")) {
    h5::Handle m = h5::open_group(g, "metrics", gw);
    for (const auto& k : h5::children(m, gw + "/metrics")) {
      auto v = h5::read_doubles(m, k, gw + "/metrics");
      if (v.size() != 1)
        fail("{}/metrics: '{}' should be a scalar, has {} values", gw, k, v.size());
      p.record.metrics[k] = v[0];
    }
  }
  if (!full) return p;
  if (h5::has_link(g, "layers")) {
    h5::Handle layers = h5::open_group(g, "layers", gw);
    for (const auto& t : h5::children(layers, gw + "/layers")) {
      std::string tw = fmt::format("{}/layers/{}", gw, t);
      h5::Handle tg = h5::open_group(layers, t, gw + "/layers");
      const auto sets = h5::children(tg, tw);
      const auto notes = h5::attr_names(tg, tw);
      if (!sets.empty() || notes.empty()) {  // a tensor of notes only has no datasets
        auto& dst = p.record.layers[t];
        for (const auto& k : sets) dst[k] = h5::read_doubles(tg, k, tw);
      }
      for (const auto& k : notes) p.record.layer_notes[t][k] = h5::read_text_attr(tg, k, tw);
    }
  }
  if (h5::has_link(g, "notes")) {
    h5::Handle n = h5::open_group(g, "notes", gw);
    for (const auto& k : h5::attr_names(n, gw + "/notes"))
      p.record.notes[k] = h5::read_text_attr(n, k, gw + "/notes");
  }
  if (h5::has_link(g, "train")) {
    h5::Handle tr = h5::open_group(g, "train", gw);
    for (const auto& k : h5::children(tr, gw + "/train"))
      p.record.train[k] = h5::read_doubles(tr, k, gw + "/train");
  }
  return p;
}

}  // namespace

std::string host_name() {
  return loft::host_name();
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

fs::path points_dir(const fs::path& results_dir) {
  return results_dir / "points";
}

fs::path point_path(const fs::path& results_dir, const std::string& id) {
  return points_dir(results_dir) / (id + ".h5");
}

fs::path write_point(const fs::path& results_dir, const std::string& id, const Record& record,
                     const PointMeta& meta) {
  validate(id, record);
  fs::path dir = points_dir(results_dir);
  std::error_code ec;
  if (fs::is_symlink(dir, ec))
    fail("{} is a symbolic link; point files are written only inside the results folder {}",
         dir.string(), results_dir.string());
  fs::create_directories(dir, ec);
  if (ec) fail("cannot create results folder {}: {}", dir.string(), ec.message());
  const fs::path final_path = point_path(results_dir, id);
  const std::string where = final_path.string();
  std::vector<char> image;
  {
    h5::Handle file = h5::create_in_memory(final_path);
    write_root_attrs(file, meta, where);
    write_record(file, id, record, where);
    image = h5::file_image(file, "cannot build " + where);
  }
  h5::save_image(image, final_path, detail::before_rename_hook);
  return final_path;
}

StoredPoint read_point(const fs::path& file, const std::string& id) {
  h5::Handle f = h5::open_file(file);
  return read_group(f, file, id, true);
}

StoredPoint read_point_header(const fs::path& file, const std::string& id) {
  h5::Handle f = h5::open_file(file);
  return read_group(f, file, id, false);
}

StoredPoint read_point_file(const fs::path& point_file) {
  h5::Handle f = h5::open_file(point_file, h5::Seal::required);
  h5::Handle points = h5::open_group(f, "points", point_file.string());
  auto ids = h5::children(points, point_file.string() + " /points");
  if (ids.size() != 1)
    fail("{}: a point file holds exactly one group under /points, found {}", point_file.string(),
         ids.size());
  return read_group(f, point_file, ids[0], true);
}

FileInfo read_file_info(const fs::path& file) {
  h5::Handle f = h5::open_file(file);
  std::string w = file.string();
  FileInfo info;
  auto text = [&](const char* k) {
    return H5Aexists(f, k) > 0 ? h5::read_text_attr(f, k, w) : std::string();
  };
  info.loftlab_version = text("loftlab_version");
  info.git_commit = text("git_commit");
  info.created = text("created");
  info.config = text("config");
  info.name = text("name");
  return info;
}

std::vector<std::string> point_ids(const fs::path& file) {
  h5::Handle f = h5::open_file(file);
  if (!h5::has_link(f, "points")) return {};
  h5::Handle points = h5::open_group(f, "points", file.string());
  return h5::children(points, file.string() + " /points");
}

PointFileCheck check_point_file(const fs::path& results_dir, const std::string& id) {
  PointFileCheck c;
  const fs::path file = point_path(results_dir, id);
  std::error_code ec;
  const auto st = fs::symlink_status(file, ec);
  if (ec || !fs::exists(st)) return c;
  c.state = PointFileCheck::State::invalid;
  if (fs::is_directory(st)) {
    c.folder = true;
    c.problem = "a folder, not a point file";
    return c;
  }
  if (!fs::is_regular_file(st)) {
    c.problem = fs::is_symlink(st) ? "a symbolic link, not a point file" : "not a regular file";
    return c;
  }
  try {
    h5::Handle f = h5::open_file(file, h5::Seal::required);
    const std::string w = file.string();
    const auto ids = h5::has_link(f, "points")
                         ? h5::children(h5::open_group(f, "points", w), w + " /points")
                         : std::vector<std::string>{};
    if (ids != std::vector<std::string>{id})
      fail("holds {} under /points, not exactly the group '{}'",
           ids.empty() ? std::string("no group") : "'" + ids.front() + "'", id);
    h5::Handle points = h5::open_group(f, "points", w);
    h5::Handle g = h5::open_group(points, id, w);
    const std::string gw = fmt::format("{} /points/{}", w, id);
    for (const char* k : {"id", "status"})
      if (H5Aexists(g, k) <= 0) fail("/points/{} has no '{}' attribute", id, k);
    if (h5::read_text_attr(g, "id", gw) != id)
      fail("/points/{} says its id is '{}'", id, h5::read_text_attr(g, "id", gw));
    const std::string status = h5::read_text_attr(g, "status", gw);
    if (status != "complete" && status != "failed")
      fail("/points/{} has status '{}' (valid: complete, failed)", id, status);
    c.header = read_group(f, file, id, false);
    if (c.header.record.params.empty()) fail("/points/{} has no parameters", id);
  } catch (const Error& e) {
    c.problem = e.what();
    return c;
  }
  c.state = PointFileCheck::State::valid;
  return c;
}

std::vector<std::string> point_file_ids(const fs::path& results_dir) {
  fs::path dir = points_dir(results_dir);
  std::error_code ec;
  std::vector<std::string> ids;
  if (!fs::is_directory(dir, ec)) return ids;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.front() == '.' || e.path().extension() != ".h5" || e.is_symlink(ec) ||
        !e.is_regular_file(ec))
      continue;
    ids.push_back(e.path().stem().string());
  }
  if (ec) fail("cannot list {}: {}", dir.string(), ec.message());
  std::sort(ids.begin(), ids.end());
  return ids;
}

size_t remove_stale_temps(const fs::path& results_dir) {
  return remove_stale_in(points_dir(results_dir)) + remove_stale_in(results_dir);
}

}  // namespace loft::results
