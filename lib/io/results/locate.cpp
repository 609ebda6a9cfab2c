#include "io/results/locate.hpp"

#include <fmt/format.h>

#include "common/error.hpp"
#include "io/results/h5.hpp"

namespace fs = std::filesystem;

namespace loft::results {
namespace {

enum class Kind { PointsFolder, MergedInFolder, File };

Kind kind_of(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec))
    fail("{}: no such file or folder (give a results folder, its results.h5, or a point file)",
         path.string());
  if (!fs::is_directory(path, ec)) return Kind::File;
  if (fs::is_directory(points_dir(path), ec)) return Kind::PointsFolder;
  if (fs::exists(path / "results.h5", ec)) return Kind::MergedInFolder;
  fail("{} is not a results folder: it has neither points/ nor results.h5", path.string());
}

bool has_summary(const fs::path& file) {
  h5::Handle f = h5::open_file(file);
  return h5::has_link(f, "summary");
}

std::string id_list(const std::vector<std::string>& ids) {
  if (ids.empty()) return "no points";
  std::string s;
  for (size_t i = 0; i < ids.size() && i < 20; ++i) s += (i ? ", " : "") + ids[i];
  if (ids.size() > 20) s += fmt::format(", ... ({} in all)", ids.size());
  return "ids " + s;
}

}  // namespace

Summary load_summary(const fs::path& path) {
  std::vector<StoredPoint> points;
  switch (kind_of(path)) {
    case Kind::PointsFolder:
      for (const auto& id : point_file_ids(path))
        points.push_back(read_point_header(point_path(path, id), id));
      return build_summary(std::move(points));
    case Kind::MergedInFolder:
      return read_summary(path / "results.h5");
    case Kind::File:
      if (has_summary(path)) return read_summary(path);
      for (const auto& id : point_ids(path)) points.push_back(read_point_header(path, id));
      return build_summary(std::move(points));
  }
  return {};
}

StoredPoint load_point(const fs::path& path, const std::string& id) {
  switch (kind_of(path)) {
    case Kind::PointsFolder: {
      fs::path file = point_path(path, id);
      if (id.empty() || id.front() == '.' || id.find('/') != std::string::npos || !fs::exists(file))
        fail("{}: no point '{}'; the folder holds {}", path.string(), id,
             id_list(point_file_ids(path)));
      return read_point(file, id);
    }
    case Kind::MergedInFolder:
      return read_point(path / "results.h5", id);
    case Kind::File:
      return read_point(path, id);
  }
  return {};
}

}  // namespace loft::results
