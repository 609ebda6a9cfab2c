#pragma once
// Editing a sealed file as a test wants it edited: the HDF5 image is opened in memory, changed
// by `edit`, and saved with a fresh seal, so only the change under test is wrong with the file.
#include <fstream>
#include <functional>
#include <iterator>

#include "io/results/h5.hpp"
#include "io/results/seal.hpp"

namespace loft::test {

inline void edit_h5_file(const std::filesystem::path& file,
                         const std::function<void(hid_t)>& edit) {
  namespace h5 = results::h5;
  std::ifstream in(file, std::ios::binary);
  std::vector<char> bytes{std::istreambuf_iterator<char>(in), {}};
  if (results::check_seal(bytes) == results::SealState::sealed)
    bytes.resize(bytes.size() - results::kSealBytes);
  h5::quiet();
  h5::Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "fapl");
  h5::check(H5Pset_fapl_core(fapl, size_t(1) << 20, false), "core");
  h5::check(H5Pset_file_image(fapl, bytes.data(), bytes.size()), "image");
  std::vector<char> image;
  {
    // A name of its own: HDF5 refuses to open a second file under the name of one it has open.
    const std::string name = file.string() + ".in-memory";
    h5::Handle f(H5Fopen(name.c_str(), H5F_ACC_RDWR, fapl), H5Fclose, "open image");
    edit(f);
    image = h5::file_image(f, "edited image");
  }
  h5::save_image(image, file);
}

}  // namespace loft::test
