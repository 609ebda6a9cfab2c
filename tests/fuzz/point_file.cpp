// A point file as resume and merge find it at results/NAME/points/<id>.h5: whatever the bytes,
// check_point_file says valid or invalid (never crashes or hangs), and a valid file reads back
// whole. Mutations break the seal, so most inputs end at the checksum (seal.hpp), before HDF5.
#include <cctype>

#include "io/results/seal.hpp"
#include "io/results/store.hpp"
#include "support.hpp"

namespace {

// An id that is a file name of its own (store.hpp allows more; the store's checks are tested in
// tests/results, here the name only has to land the bytes where resume looks).
bool plain(const std::string& id) {
  if (id.empty() || id.size() > 64 || id.front() == '.') return false;
  for (const char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.')
      return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace results = loft::results;
  loft::fuzz::fresh();
  const auto bytes = loft::fuzz::as_text(data, size);
  const auto probe = loft::fuzz::put("probe.h5", bytes);
  // The id a sealed file claims, so that a well-formed file sits under its own name. (Only a
  // sealed file is asked: an unsealed one is what check_point_file must refuse unread.)
  std::string id = "p";
  if (results::check_seal(std::span<const char>(bytes.data(), bytes.size())) ==
      results::SealState::sealed)
    loft::fuzz::expect_clean([&] {
      const auto ids = results::point_ids(probe);
      if (ids.size() == 1 && plain(ids.front())) id = ids.front();
    });
  loft::fuzz::put("run/points/" + id + ".h5", bytes);
  loft::fuzz::expect_clean([&] {
    const auto check = results::check_point_file("run", id);
    if (check.state == results::PointFileCheck::State::valid)
      (void)results::read_point_file(results::point_path("run", id));
    (void)results::point_file_ids("run");
  });
  return 0;
}
