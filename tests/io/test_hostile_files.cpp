// Files from outside that are not what they claim. Every size read from a file is checked before
// anything is allocated or multiplied out (overflowing shapes, shapes larger than the file,
// implausible config.json values); every number is checked as written, without truncation or
// wrap-around; a FIFO where a file is expected is refused without blocking (the tests arm
// alarm(): a read that blocks kills the process and fails the test).
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "common/error.hpp"
#include "io/hf.hpp"
#include "io/npy.hpp"
#include "io/safetensors.hpp"
#include "io/source.hpp"
#include "io_test_util.hpp"
#include "support.hpp"

using namespace loft;
using Catch::Matchers::Contains;
using loft::test::append_le;
using loft::test::error_of;
using loft::test::TempDir;
using loft::test::write_bytes;

namespace {

void safetensors_header(const std::filesystem::path& p, const std::string& json) {
  std::string bytes;
  append_le<uint64_t>(bytes, json.size());
  write_bytes(p, bytes + json);
}

// A format 1.0 npy header for `descr` and `shape` (Python tuple text), padded to 64 bytes.
std::string npy_header(const std::string& descr, const std::string& shape) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  dict.append(64 - (10 + dict.size() + 1) % 64, ' ').push_back('\n');
  std::string bytes = "\x93NUMPY\x01";
  bytes.push_back('\0');
  append_le<uint16_t>(bytes, static_cast<uint16_t>(dict.size()));
  return bytes + dict;
}

std::string config_json(const std::string& extra) {
  return R"({"hidden_size": 8, "intermediate_size": 16, "num_attention_heads": 2,
             "vocab_size": 10, "num_hidden_layers": 1)" +
         extra + "}";
}

}  // namespace

TEST_CASE("safetensors shapes that overflow or exceed the file are refused", "[sizes]") {
  TempDir dir("sizes-st");
  const auto p = dir / "x.safetensors";
  // 2^40 x 2^40 x 4 bytes wraps to 0 in 64 bits, matching the empty data_offsets.
  safetensors_header(p, R"({"t": {"dtype": "F32", "shape": [1099511627776, 1099511627776],
                             "data_offsets": [0, 0]}})");
  CHECK_THAT(error_of([&] { io::SafetensorsFile f(p); }),
             Contains("'t'") && Contains("more elements"));
  safetensors_header(p, R"({"t": {"dtype": "F32", "shape": [4611686018427387904, 4],
                             "data_offsets": [0, 0]}})");
  CHECK_THAT(error_of([&] { io::SafetensorsFile f(p); }), Contains("more elements"));
  safetensors_header(p,
                     R"({"t": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 0]}})");
  CHECK_THAT(error_of([&] { io::SafetensorsFile f(p); }), Contains("more than the file"));
  safetensors_header(p, R"({"t": {"dtype": "F32", "shape": [-1, 4], "data_offsets": [0, 0]}})");
  CHECK_THAT(error_of([&] { io::SafetensorsFile f(p); }), Contains("negative"));
}

TEST_CASE("npy shapes that overflow or exceed the file are refused", "[sizes]") {
  TempDir dir("sizes-npy");
  for (const char* shape :
       {"(4294967296, 4294967296)", "(281474976710656, 281474976710656, 16)", "(100000, 100000)"}) {
    INFO(shape);
    write_bytes(dir / "w.npy", npy_header("<f4", shape) + std::string(16, '\0'));
    CHECK_THAT(error_of([&] { io::read_npy(dir / "w.npy"); }),
               Contains("w.npy") && Contains("truncated"));
  }
}

TEST_CASE("config.json values are range-checked as written", "[sizes]") {
  TempDir dir("sizes-cfg");
  const auto p = dir / "config.json";
  auto err = [&](const std::string& extra) {
    write_bytes(p, config_json(extra));
    return error_of([&] { io::read_hf_config(p); });
  };
  CHECK(err("") == "(no error)");
  CHECK_THAT(err(R"(, "num_hidden_layers": 1000000)"),
             Contains("num_hidden_layers") && Contains("1000000") && Contains("1..4095"));
  CHECK_THAT(err(R"(, "hidden_size": 4294967304)"), Contains("4294967304"));  // 2^32 + 8
  CHECK_THAT(err(R"(, "vocab_size": 18446744073709551615)"), Contains("18446744073709551615"));
  CHECK_THAT(err(R"(, "vocab_size": -3)"), Contains("-3"));
  CHECK_THAT(err(R"(, "vocab_size": 10.5)"), Contains("10.5"));
  CHECK_THAT(err(R"(, "num_attention_heads": 16)"), Contains("1..8"));  // more heads than dim
  CHECK_THAT(err(R"(, "rms_norm_eps": -1e-5)"), Contains("rms_norm_eps") && Contains("-1e-05"));
  CHECK_THAT(err(R"(, "rope_theta": 1e300)"), Contains("rope_theta"));
  CHECK_THAT(err(R"(, "tie_word_embeddings": "yes")"),
             Contains("tie_word_embeddings") && Contains("\"yes\""));
  write_bytes(p, "[1, 2]");
  CHECK_THAT(error_of([&] { io::read_hf_config(p); }), Contains("not a JSON object"));
}

TEST_CASE("synthetic sources refuse tensors too large to make", "[sizes]") {
  CHECK_THAT(error_of([] { io::open_source("synthetic:gaussian:shape=100000x100000"); }),
             Contains("shape=100000x100000") && Contains("elements"));
  CHECK_THAT(error_of([] { io::open_source("synthetic:gaussian:count=1000000000"); }),
             Contains("count=1000000000"));
  CHECK_THAT(error_of([] { io::open_source("synthetic:gaussian:seed=18446744073709551616"); }),
             Contains("seed=18446744073709551616"));
  CHECK_THAT(error_of([] { io::open_source("synthetic:gaussian:seed=-1"); }), Contains("seed=-1"));
}

TEST_CASE("a FIFO given as a model, npy or config file is refused, not read", "[hostile]") {
  TempDir dir("fifo");
  for (const char* name : {"m.bin", "w.npy", "config.json", "x.safetensors"})
    REQUIRE(::mkfifo((dir / name).c_str(), 0600) == 0);
  alarm(20);
  CHECK_THAT(error_of([&] { io::open_source("llama2c:" + (dir / "m.bin").string()); }),
             Contains("m.bin") && Contains("FIFO"));
  CHECK_THAT(error_of([&] { io::read_npy(dir / "w.npy"); }), Contains("w.npy") && Contains("FIFO"));
  CHECK_THAT(error_of([&] { io::read_hf_config(dir / "config.json"); }), Contains("FIFO"));
  CHECK_THAT(error_of([&] { io::SafetensorsFile f(dir / "x.safetensors"); }), Contains("FIFO"));
  CHECK_THAT(error_of([&] { io::open_source("npy:" + (dir / "w.npy").string()); }),
             Contains("FIFO"));
  alarm(0);
}

TEST_CASE("llama2.c headers: every value is checked, INT32_MIN included", "[hostile]") {
  TempDir dir("l2c-hdr");
  std::string h;
  for (int32_t v : {8, 16, 1, 2, 2, INT32_MIN, 4}) append_le(h, v);
  write_bytes(dir / "m.bin", h);
  CHECK_THAT(error_of([&] { io::open_source("llama2c:" + (dir / "m.bin").string()); }),
             Contains("vocab_size=0") && Contains("positive"));
}

TEST_CASE("safetensors numbers are integers as written: no truncation, no wrap", "[hostile]") {
  TempDir dir("st-num");
  auto err = [&](const std::string& json) {
    std::string bytes;
    append_le<uint64_t>(bytes, json.size());
    write_bytes(dir / "x.safetensors", bytes + json + std::string(16, '\0'));
    return error_of([&] { io::SafetensorsFile f(dir / "x.safetensors"); });
  };
  CHECK_THAT(err(R"({"t": {"dtype": "F32", "shape": [1.5, 2], "data_offsets": [0, 16]}})"),
             Contains("[1.5,2]"));
  CHECK_THAT(err(R"({"t": {"dtype": "F32", "shape": [2, 2], "data_offsets": [-16, 0]}})"),
             Contains("[-16,0]"));
  CHECK_THAT(err(R"({"t": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 1e1]}})"),
             Contains("[0,10.0]"));
  CHECK(err(R"({"t": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}})") ==
        "(no error)");
}

TEST_CASE("an empty npy array of each float dtype reads as empty", "[hostile]") {
  // A zero-element array has no data bytes and its float buffer may be null; the conversion must
  // not hand memcpy a null pointer (UBSan, found by the npy fuzzer).
  TempDir dir("empty-npy");
  for (const char* descr : {"<f4", "<f2", "<f8"}) {
    INFO(descr);
    write_bytes(dir / "e.npy", npy_header(descr, "(0,)"));
    const auto a = io::read_npy_array(dir / "e.npy");
    CHECK(a.shape == std::vector<int64_t>{0});
    CHECK(a.data.empty());
  }
}
