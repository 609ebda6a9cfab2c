#include "io/npy_source.hpp"

#include <algorithm>
#include <map>

#include "common/error.hpp"
#include "io/npy.hpp"

namespace loft::io {
namespace {

namespace fs = std::filesystem;

class NpySource final : public TensorSource {
 public:
  explicit NpySource(const fs::path& path) : spec_("npy:" + path.string()) {
    std::vector<fs::path> files;
    if (fs::is_directory(path)) {
      for (const auto& e : fs::directory_iterator(path))
        if (e.path().extension() == ".npy") files.push_back(e.path());
      if (files.empty()) fail("npy:{}: the folder holds no .npy files", path.string());
      std::sort(files.begin(), files.end());
    } else if (fs::exists(path)) {
      files.push_back(path);
    } else {
      fail("npy:{}: no such file or folder", path.string());
    }
    for (const auto& f : files) {
      const NpyHeader h = read_npy_header(f);
      if (h.shape.size() > 2)
        fail("{}: shape has {} dimensions; npy sources hold matrices (2-D) or vectors (1-D)",
             f.string(), h.shape.size());
      const std::string name = f.stem().string();
      tensors_.push_back({name, h.shape, h.dtype->name});
      paths_[name] = f;
    }
  }

  std::vector<TensorInfo> list() const override { return tensors_; }

  Matrix load(const std::string& name) const override {
    const auto it = paths_.find(name);
    if (it == paths_.end()) {
      std::string names;
      for (size_t i = 0; i < tensors_.size() && i < 6; ++i)
        names += (i ? ", " : "") + tensors_[i].name;
      fail("{}: no tensor named '{}' (tensors are named by file stem: {}{})", spec_, name, names,
           tensors_.size() > 6 ? ", ..." : "");
    }
    const NpyArray a = read_npy_array(it->second);
    const int64_t rows = a.shape.size() == 2 ? a.shape[0] : 1;
    Matrix m = Eigen::Map<const Matrix>(a.data.data(), rows, a.shape.empty() ? 1 : a.shape.back());
    check_finite({m.data(), static_cast<size_t>(m.size())}, name, it->second.string());
    return m;
  }

  std::string describe() const override { return spec_; }

 private:
  std::string spec_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, fs::path> paths_;
};

}  // namespace

std::unique_ptr<TensorSource> open_npy_source(const fs::path& path) {
  return std::make_unique<NpySource>(path);
}

}  // namespace loft::io
