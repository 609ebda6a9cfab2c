// A calibration statistics file (loftlab calibrate's HDF5, read on every reuse): a loft::Error or
// statistics whose every second moment is square.
#include "model/calibrate.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  loft::fuzz::fresh();
  const auto path = loft::fuzz::put("calib.h5", loft::fuzz::as_text(data, size));
  loft::fuzz::expect_clean([&] {
    const auto stats = loft::model::read_calibration(path);
    for (const auto& [group, h] : stats.h)
      loft::fuzz::require(h.rows() == h.cols(), "a second moment is square");
  });
  return 0;
}
