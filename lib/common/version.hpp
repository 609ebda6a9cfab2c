#pragma once
// Version and git commit of the build, written into every result file.
namespace loft {
const char* version();
const char* git_commit();
}  // namespace loft
