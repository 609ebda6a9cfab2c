#pragma once
// The crash-safe point store of a results folder (layout: results/README.md):
//
//   <dir>/points/<id>.h5   one complete file per finished point, or nothing at all.
//
// A point is written to a temporary name in the same folder (.<id>.h5.tmp.<host>.<pid>-<n>),
// flushed, fsync'd and closed, then rename(2)d into place, so whatever kills the writer a reader
// sees either the whole point or no point, and no other point is ever touched. Resume = the ids
// whose file verifies (check_point_file). Thread-safe: points may be written from several threads.
#include <filesystem>
#include <string>
#include <vector>

#include "io/results/record.hpp"

namespace loft::results {

// Root attributes the writer of a point file supplies (loftlab_version, git_commit and created
// are added by the store).
struct PointMeta {
  std::string name;    // sweep name
  std::string config;  // the expanded config text
};

// Root attributes of a point file or results.h5, as read back.
struct FileInfo {
  std::string loftlab_version, git_commit, created, config, name;
};

// One point as stored: its id, the host that ran it, and its record (params, metrics, layers,
// train, status, error, seconds). The `error` attribute is written only when record.error is
// not empty (a failed point).
struct StoredPoint {
  std::string id;
  std::string host;
  Record record;
};

// Attribute names of /points/<id> that the store writes itself; a parameter may not use them.
inline constexpr const char* kReservedAttrs[] = {"id", "status", "seconds", "host", "error"};

std::filesystem::path points_dir(const std::filesystem::path& results_dir);
std::filesystem::path point_path(const std::filesystem::path& results_dir, const std::string& id);

// Writes <results_dir>/points/<id>.h5 atomically (creating the folders) and returns its path.
// An existing file for the id is replaced atomically. Throws loft::Error for an invalid id
// (allowed: letters, digits, '_', '-', '.', not starting with '.'), a parameter named like a
// reserved attribute, a metric named id/status/error or like a parameter (they share the
// /summary table), a tensor/dataset/metric name containing '/', or any I/O failure (the
// temporary file is removed then). Record.error is stored only when not empty.
std::filesystem::path write_point(const std::filesystem::path& results_dir, const std::string& id,
                                  const Record& record, const PointMeta& meta);

// Reads /points/<id> from an HDF5 file: a point file or results.h5. Errors name the file and,
// for an unknown id, list the ids the file holds.
StoredPoint read_point(const std::filesystem::path& file, const std::string& id);
// Reads a point file <dir>/points/<id>.h5 (the id is its one /points child).
StoredPoint read_point_file(const std::filesystem::path& point_file);
// Only what /summary needs (params, metrics, status, seconds, host): skips layers and train.
StoredPoint read_point_header(const std::filesystem::path& file, const std::string& id);

FileInfo read_file_info(const std::filesystem::path& file);
// The ids under /points of an HDF5 file, sorted.
std::vector<std::string> point_ids(const std::filesystem::path& file);

// Ids of the point files in <results_dir>/points (regular files named <id>.h5, complete or
// failed), sorted. Temporary files, folders and symbolic links are ignored. An absent points
// folder means no points.
std::vector<std::string> point_file_ids(const std::filesystem::path& results_dir);

// What <results_dir>/points/<id>.h5 is. A point file is valid when it is a regular file (not a
// link or a folder) whose seal verifies (seal.hpp) and that HDF5 opens, holding exactly the group
// /points/<id>, whose `id` attribute is <id>, whose `status` is "complete" or "failed", and which
// has parameters. Only a valid file is a point: resume and merge treat anything else as no point
// (and say why).
struct PointFileCheck {
  enum class State { absent, valid, invalid } state = State::absent;
  std::string problem;  // why it is invalid
  bool folder = false;  // invalid because a folder sits at the name (a rename cannot replace it)
  StoredPoint header;   // read_point_header of a valid file
};
PointFileCheck check_point_file(const std::filesystem::path& results_dir, const std::string& id);

// Removes temporary files left by killed writers: those written on this host by a process that
// no longer exists. Temporaries of live processes (a concurrent sweep, another MPI rank) and of
// other hosts are left alone. Returns how many files were removed.
size_t remove_stale_temps(const std::filesystem::path& results_dir);

// This machine's host name (as written in the `host` attribute and temporary names).
std::string host_name();
// Now, ISO 8601 UTC with seconds ("2026-11-23T07:30:47Z").
std::string utc_now();

namespace detail {
// Tests only: called with the temporary path just before the rename (to simulate a crash there).
extern void (*before_rename_hook)(const std::filesystem::path& tmp);
}  // namespace detail

}  // namespace loft::results
