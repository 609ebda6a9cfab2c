#pragma once
// Rebuilds <results_dir>/results.h5 from the point files: root attributes, a copy of every
// /points/<id> group (H5Ocopy, so the data is byte for byte the point's) and the /summary table.
// Built in memory and saved as one image under a temporary name, then renamed, so readers see the
// old or the new file, never half of one, and a failed write (a full disk) is a clean error. The
// peak memory is therefore about twice the size of results.h5 (the in-memory file and its image).
// Idempotent: merging the same points twice gives the same content apart from `created`.
#include <filesystem>
#include <functional>

#include "io/results/store.hpp"

namespace loft::results {

struct MergeResult {
  std::filesystem::path file;  // <results_dir>/results.h5
  size_t points = 0;
};

// Throws unless results_dir is a folder with a points/ subfolder, saying what was expected.
void check_results_folder(const std::filesystem::path& results_dir);

// The caller holds the folder's lock (SweepLock::whole_folder): a sweep merges while it holds
// its own, `loftlab merge` takes it first.
// Root attributes: config = the text of <results_dir>/config.ini if present, else the first
// point's; name = the first point's, else the folder name. Throws loft::Error when the folder or
// its points/ subfolder is missing, or a point file is unreadable or holds another id than its
// name says. Also removes stale temporary files (remove_stale_temps).
// Every point file must be valid (check_point_file) and pass `verify` when given (loftlab passes
// a check that the id is the hash of the parameters); an invalid one is an error naming it.
MergeResult merge(const std::filesystem::path& results_dir,
                  const std::function<void(const StoredPoint&)>& verify = {});

}  // namespace loft::results
