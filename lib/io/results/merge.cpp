#include "io/results/merge.hpp"

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/version.hpp"
#include "io/results/h5.hpp"
#include "io/results/store.hpp"
#include "io/results/summary.hpp"

namespace fs = std::filesystem;

namespace loft::results {
namespace {

// Copies /points/<id> of one point file into `points` of the merged file.
void copy_point(const fs::path& src, const std::string& id, hid_t points) {
  h5::Handle f = h5::open_file(src, h5::Seal::required);
  h5::check(H5Ocopy(f, ("points/" + id).c_str(), points, id.c_str(), H5P_DEFAULT, H5P_DEFAULT),
            fmt::format("cannot copy /points/{} from {}", id, src.string()));
}

}  // namespace

void check_results_folder(const fs::path& results_dir) {
  std::error_code ec;
  if (!fs::is_directory(results_dir, ec))
    fail(
        "{}: no such results folder (expected the folder loftlab sweep wrote, "
        "results/<name>)",
        results_dir.string());
  if (!fs::is_directory(points_dir(results_dir), ec))
    fail(
        "{} is not a results folder: it has no points/ subfolder (expected "
        "{}/points/<id>.h5 as written by loftlab sweep)",
        results_dir.string(), results_dir.string());
}

MergeResult merge(const fs::path& results_dir,
                  const std::function<void(const StoredPoint&)>& verify) {
  check_results_folder(results_dir);
  remove_stale_temps(results_dir);
  std::vector<std::string> ids = point_file_ids(results_dir);

  std::vector<StoredPoint> headers;
  headers.reserve(ids.size());
  for (const auto& id : ids) {
    auto c = check_point_file(results_dir, id);
    if (c.state != PointFileCheck::State::valid)
      fail("{} is not a valid point file: {} (remove it, or re-run the sweep that wrote it)",
           point_path(results_dir, id).string(), c.problem);
    if (verify) verify(c.header);
    headers.push_back(std::move(c.header));
  }

  FileInfo first = ids.empty() ? FileInfo{} : read_file_info(point_path(results_dir, ids.front()));
  fs::path config = results_dir / "config.ini";
  std::string config_text =
      fs::exists(config) ? read_regular_file(config, "config", size_t(1) << 24) : first.config;
  std::string name = !first.name.empty()
                         ? first.name
                         : fs::absolute(results_dir).lexically_normal().filename().string();
  if (name.empty())
    name = fs::absolute(results_dir).lexically_normal().parent_path().filename().string();

  Summary summary = build_summary(headers);
  MergeResult out{results_dir / "results.h5", ids.size()};
  std::vector<char> image;
  {
    h5::Handle file = h5::create_in_memory(out.file);
    const std::string w = out.file.string();
    h5::write_attr(file, "loftlab_version", std::string(version()), w);
    h5::write_attr(file, "git_commit", std::string(git_commit()), w);
    h5::write_attr(file, "created", utc_now(), w);
    h5::write_attr(file, "config", config_text, w);
    h5::write_attr(file, "name", name, w);
    {
      h5::Handle points = h5::create_group(file, "points", w);
      for (const auto& id : ids) copy_point(point_path(results_dir, id), id, points);
    }
    write_summary(file, summary, w);
    image = h5::file_image(file, "cannot build " + w);
  }
  h5::save_image(image, out.file);
  return out;
}

}  // namespace loft::results
