#pragma once
// What `loftlab inspect` accepts as FILE: a results folder (results/<name>/), a merged
// results.h5, or a single point file. A folder is read from its point files when it has them
// (the truth while a sweep runs; results.h5 is only rebuilt by merge), else from its results.h5.
#include <filesystem>
#include <string>

#include "io/results/store.hpp"
#include "io/results/summary.hpp"

namespace loft::results {

// The summary table of any of the three: read from /summary, or built from the points.
Summary load_summary(const std::filesystem::path& path);
// One point in detail. Errors name the path and, for an unknown id, list the ids there.
StoredPoint load_point(const std::filesystem::path& path, const std::string& id);

}  // namespace loft::results
