#pragma once
// npy:PATH - one .npy file (its tensor is named by the file stem, "w.npy" -> "w") or a folder of
// them (every *.npy directly inside, sorted by name). Headers are read at open, data at load.
#include <filesystem>
#include <memory>

#include "io/source.hpp"

namespace loft::io {

std::unique_ptr<TensorSource> open_npy_source(const std::filesystem::path& path);

}  // namespace loft::io
