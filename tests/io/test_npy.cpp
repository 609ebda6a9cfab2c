// .npy reading and writing against files built byte by byte (no Python needed).
#include <cmath>
#include <cstdlib>
#include <limits>

#include <fmt/format.h>

#include "common/error.hpp"
#include "io/npy.hpp"
#include "io_test_util.hpp"
#include "support.hpp"

using namespace loft;
using loft::test::append_le;
using loft::test::error_of;
using loft::test::TempDir;
using loft::test::write_bytes;

namespace {

// A version-1.0 .npy file: magic, version, header dict padded to 64 bytes, then data.
std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  std::string h = dict;
  const size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + h.size() + 1) % 64) h.push_back(' ');
  h.push_back('\n');
  std::string s = "\x93NUMPY";
  s.push_back(static_cast<char>(major));
  s.push_back(0);
  if (major == 1)
    append_le<uint16_t>(s, static_cast<uint16_t>(h.size()));
  else
    append_le<uint32_t>(s, static_cast<uint32_t>(h.size()));
  return s + h + data;
}

std::string dict(const char* descr, const char* shape, bool fortran = false) {
  return fmt::format("{{'descr': '{}', 'fortran_order': {}, 'shape': {}, }}", descr,
                     fortran ? "True" : "False", shape);
}

template <typename T>
std::string raw(std::initializer_list<T> values) {
  std::string s;
  for (T v : values) append_le<T>(s, v);
  return s;
}

}  // namespace

TEST_CASE("npy: float32 2-D file written by hand is read in C order") {
  TempDir dir("npy-f32");
  write_bytes(dir / "w.npy", npy_bytes(dict("<f4", "(2, 3)"), raw<float>({1, 2, 3, 4, 5, -6.5f})));
  const Matrix m = io::read_npy(dir / "w.npy");
  REQUIRE(m.rows() == 2);
  REQUIRE(m.cols() == 3);
  CHECK(m(0, 2) == 3.0f);
  CHECK(m(1, 0) == 4.0f);
  CHECK(m(1, 2) == -6.5f);
}

TEST_CASE("npy: float16 and float64 files convert to float32 exactly") {
  TempDir dir("npy-f16");
  // 1.0, -2.0, 0.5, 65504 (largest half), 2^-24 (smallest subnormal), -0.0
  write_bytes(dir / "h.npy",
              npy_bytes(dict("<f2", "(2, 3)"),
                        raw<uint16_t>({0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x8000})));
  const Matrix h = io::read_npy(dir / "h.npy");
  CHECK(h(0, 0) == 1.0f);
  CHECK(h(0, 1) == -2.0f);
  CHECK(h(0, 2) == 0.5f);
  CHECK(h(1, 0) == 65504.0f);
  CHECK(h(1, 1) == std::ldexp(1.0f, -24));
  CHECK(std::signbit(h(1, 2)));

  write_bytes(dir / "d.npy", npy_bytes(dict("<f8", "(1, 2)"), raw<double>({0.1, -3.0})));
  const Matrix d = io::read_npy(dir / "d.npy");
  CHECK(d(0, 0) == static_cast<float>(0.1));
  CHECK(d(0, 1) == -3.0f);
  CHECK(io::read_npy_array(dir / "d.npy").dtype == "F64");
}

TEST_CASE("npy: format version 2.0 headers and 1-D vectors") {
  TempDir dir("npy-v2");
  write_bytes(dir / "v.npy", npy_bytes(dict("<f4", "(3,)"), raw<float>({7, 8, 9}), 2));
  const Vector v = io::read_npy_vector(dir / "v.npy");
  REQUIRE(v.size() == 3);
  CHECK(v(2) == 9.0f);
  CHECK_THROWS_WITH(io::read_npy(dir / "v.npy"), Catch::Contains("v.npy") &&
                                                     Catch::Contains("expected a 2-D array") &&
                                                     Catch::Contains("(3,)"));
}

TEST_CASE("npy: write_npy round-trips and pads the header like numpy") {
  TempDir dir("npy-write");
  Matrix m(4, 5);
  for (int i = 0; i < m.size(); ++i) m.data()[i] = std::sin(float(i)) * 1e-3f * float(i + 1);
  io::write_npy(dir / "m.npy", m);
  const std::string bytes = loft::test::read_bytes(dir / "m.npy");
  REQUIRE(bytes.size() == 128 + 4 * 5 * 4);  // header padded to a multiple of 64
  CHECK(bytes.find("'shape': (4, 5)") != std::string::npos);
  CHECK(bytes[127] == '\n');
  CHECK(io::read_npy(dir / "m.npy") == m);

  // A non-contiguous block (outer stride) is written densely.
  io::write_npy(dir / "block.npy", m.block(1, 1, 2, 3));
  CHECK(io::read_npy(dir / "block.npy") == Matrix(m.block(1, 1, 2, 3)));
}

TEST_CASE("npy: bad files are errors that name the file and what is valid") {
  TempDir dir("npy-bad");
  const auto p = dir / "bad.npy";
  const std::string ok_data = raw<float>({1, 2, 3, 4});

  write_bytes(p, npy_bytes(dict("<f4", "(2, 2)", true), ok_data));
  CHECK_THAT(error_of([&] { io::read_npy(p); }),
             Catch::Contains("bad.npy") && Catch::Contains("Fortran order"));

  write_bytes(p, npy_bytes(dict("<i4", "(2, 2)"), ok_data));
  CHECK_THAT(error_of([&] { io::read_npy(p); }),
             Catch::Contains("bad.npy") && Catch::Contains("'<i4'") && Catch::Contains("'<f4'"));

  write_bytes(p, npy_bytes(dict(">f4", "(2, 2)"), ok_data));
  CHECK_THAT(error_of([&] { io::read_npy(p); }), Catch::Contains("'>f4' is not supported"));

  write_bytes(p, npy_bytes(dict("<f4", "(2, 2)"), ok_data.substr(0, 12)));
  CHECK_THAT(error_of([&] { io::read_npy(p); }),
             Catch::Contains("bad.npy") && Catch::Contains("truncated") &&
                 Catch::Contains("needs 16 data bytes, the file has 12"));

  write_bytes(p, npy_bytes(dict("<f4", "(2, 2)"), ok_data + "xx"));
  CHECK_THAT(error_of([&] { io::read_npy(p); }), Catch::Contains("2 bytes after the data"));

  write_bytes(p, npy_bytes(dict("<f4", "(1, 2, 2)"), ok_data));
  CHECK_THAT(error_of([&] { io::read_npy(p); }),
             Catch::Contains("expected a 2-D array") && Catch::Contains("(1, 2, 2)"));

  write_bytes(p, npy_bytes(dict("<f4", "(2, 2)"), ok_data).substr(0, 40));
  CHECK_THAT(error_of([&] { io::read_npy(p); }),
             Catch::Contains("bad.npy") && Catch::Contains("truncated"));

  write_bytes(p, "PK\x03\x04 this is a zip");
  CHECK_THAT(error_of([&] { io::read_npy(p); }), Catch::Contains("is not a .npy file"));

  CHECK_THAT(error_of([&] { io::read_npy(dir / "missing.npy"); }), Catch::Contains("missing.npy"));

  const float nan = std::numeric_limits<float>::quiet_NaN();
  write_bytes(p, npy_bytes(dict("<f4", "(2, 2)"), raw<float>({1, 2, nan, 4})));
  CHECK_THAT(error_of([&] { io::read_npy(p); }), Catch::Contains("bad.npy") &&
                                                     Catch::Contains("non-finite") &&
                                                     Catch::Contains("index 2"));
  // The raw array reader leaves the data alone (it is not only for weights).
  CHECK(std::isnan(io::read_npy_array(p).data[2]));
}

TEST_CASE("npy: interoperates with numpy when /usr/bin/python3 has it") {
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
    WARN("skipped: /usr/bin/python3 with numpy not available");
    return;
  }
  TempDir dir("npy-numpy");
  Matrix m(3, 2);
  m << 1.5f, -2, 3e-8f, 4, 5, 6;
  io::write_npy(dir / "ours.npy", m);
  const std::string script = fmt::format(
      "import numpy as np\n"
      "a = np.load('{0}/ours.npy')\n"
      "assert a.dtype == np.float32 and a.shape == (3, 2), (a.dtype, a.shape)\n"
      "np.save('{0}/back.npy', a)\n"
      "np.save('{0}/h.npy', a.astype(np.float16))\n"
      "np.save('{0}/d.npy', a.astype(np.float64) / 3)\n"
      "np.save('{0}/f.npy', np.asfortranarray(a))\n",
      dir.path().string());
  write_bytes(dir / "s.py", script);
  REQUIRE(std::system(("/usr/bin/python3 " + (dir / "s.py").string()).c_str()) == 0);
  CHECK(io::read_npy(dir / "back.npy") == m);
  CHECK(io::read_npy(dir / "h.npy")(0, 0) == 1.5f);
  CHECK(io::read_npy(dir / "d.npy")(2, 1) == static_cast<float>(6.0 / 3));
  CHECK_THROWS_WITH(io::read_npy(dir / "f.npy"), Catch::Contains("Fortran order"));
}
