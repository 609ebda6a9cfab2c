// Tokenizers: the llama2.c tokenizer against the README's test vectors and against its own
// reference merge loop; the byte tokenizer's ids; file errors.
#include <sys/stat.h>
#include <unistd.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "common/error.hpp"
#include "support.hpp"
#include "text/byte_tokenizer.hpp"
#include "text/llama2c_tokenizer.hpp"

using namespace loft;
namespace fs = std::filesystem;

namespace {

// A llama2.c tokenizer.bin: <unk>, <s>, </s>, the 256 byte pieces, then `extra` with scores.
fs::path write_tokenizer(const std::string& tag,
                         const std::vector<std::pair<std::string, float>>& extra,
                         bool break_bytes = false) {
  const fs::path p = fs::temp_directory_path() /
                     ("loftlab-tok-" + tag + "-" + std::to_string(::getpid()) + ".bin");
  std::ofstream out(p, std::ios::binary);
  auto put = [&](const std::string& s, float score) {
    const int32_t n = static_cast<int32_t>(s.size());
    out.write(reinterpret_cast<const char*>(&score), 4);
    out.write(reinterpret_cast<const char*>(&n), 4);
    out.write(s.data(), n);
  };
  const int32_t max_len = 16;
  out.write(reinterpret_cast<const char*>(&max_len), 4);
  put("<unk>", 0);
  put("\n<s>\n", 0);
  put("\n</s>\n", 0);
  for (int b = 0; b < 256; ++b) put(fmt::format("<0x{:02X}>", break_bytes && b == 7 ? 8 : b), 0);
  for (const auto& [s, score] : extra) put(s, score);
  return p;
}

// Pieces for ties and chains: "ab" and "bc" score equally, so in "abc" the leftmost ("ab") must
// merge first; merging "bc" first would end in " a" + "bc" instead of " ab" + "c".
const std::vector<std::pair<std::string, float>> kToyVocab = {
    {" ", -1}, {"a", -1}, {"b", -1}, {"c", -1},  {"\xc3\xa9", -1},  // é
    {"ab", 5}, {"bc", 5}, {" a", 2}, {" ab", 6}, {"ca", 1},        {"aa", 3}, {"aaa", 3}};

}  // namespace

TEST_CASE("tokenizer: llama2c encodes the README test vectors") {
  LOFT_REQUIRE_DATA(data);
  const text::Llama2cTokenizer tok(data / "tok512.bin");
  CHECK(tok.vocab_size() == 512);
  CHECK(tok.encode("Zoo") == std::vector<int>{1, 410, 469, 347});
  const std::vector<int> want = {1,   403, 407, 261, 378, 432, 383, 286, 261, 376, 298,
                                 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410,
                                 408, 419, 292, 411, 322, 265, 282, 295, 433, 426};
  const std::string sentence =
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
      "park.";
  CHECK(tok.encode(sentence) == want);
  CHECK(tok.decode(want) == sentence);
  CHECK(tok.encode("", true, true) == std::vector<int>{1, 2});
}

TEST_CASE("tokenizer: llama2c decodes the README's greedy continuation") {
  LOFT_REQUIRE_DATA(data);
  const auto tok = text::open_tokenizer((data / "tok512.bin").string());
  const std::vector<int> ids = {1,   403, 407, 261, 378, 432, 383, 286, 261, 376, 298,
                                315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410,
                                408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385,
                                328, 432, 358, 394, 261, 370, 432, 352};
  // The README's text runs on past these 40 ids ("...big, red ball. She wanted ..."); what
  // they decode to is its prefix.
  const std::string text = tok->decode(ids);
  CHECK(text ==
        "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
        "park. One day, she saw a big, r");
  CHECK(tok->encode(text) == ids);
  CHECK(tok->decode_piece(1, 403) == "Once");  // leading space dropped after BOS
  CHECK(tok->decode_piece(403, 403).starts_with(" "));
}

TEST_CASE("tokenizer: llama2c byte fallback round-trips any UTF-8 and raw bytes") {
  LOFT_REQUIRE_DATA(data);
  const text::Llama2cTokenizer tok(data / "tok512.bin");
  const std::string s = "naïve café — 日本語 🙂 tab\there\nnewline \x01";
  const auto ids = tok.encode(s);
  CHECK(tok.decode(ids) == s);
  // 日 is not in a 512-token TinyStories vocabulary: its three bytes are ids byte + 3.
  const auto ri = tok.initial_tokens("日");
  CHECK(ri == std::vector<int>{tok.encode(" ", false)[0], 0xE6 + 3, 0x97 + 3, 0xA5 + 3});
}

TEST_CASE("tokenizer: the heap merge equals llama2.c's reference loop") {
  LOFT_REQUIRE_DATA(data);
  const text::Llama2cTokenizer tok(data / "tok512.bin");
  std::mt19937 rng(11);
  const std::vector<std::string> atoms = {"the", " ",  "a",   "e",  "Lily", " was", ".",  ",", "é",
                                          "日",  "\n", "ing", "oo", "Z",    "!",    "  ", "x", "q"};
  for (int trial = 0; trial < 300; ++trial) {
    std::string s;
    const int n = static_cast<int>(rng() % 60);
    for (int i = 0; i < n; ++i) s += atoms[rng() % atoms.size()];
    const auto init = tok.initial_tokens(s);
    const auto fast = tok.merge(init), ref = tok.merge_reference(init);
    if (fast != ref) FAIL("merge differs on '" << s << "'");
  }
}

TEST_CASE("tokenizer: toy vocabulary pins ties, chains and the dummy prefix") {
  const auto path = write_tokenizer("toy", kToyVocab);
  const text::Llama2cTokenizer tok(path);
  fs::remove(path);
  auto pieces = [&](std::string_view s) {
    std::vector<std::string> out;
    for (int id : tok.encode(s, false)) out.push_back(tok.piece(id));
    return out;
  };
  CHECK(pieces("abc") == std::vector<std::string>{" ab", "c"});
  CHECK(pieces("cabc") == std::vector<std::string>{" ", "c", "ab", "c"});
  // "aa" ties three ways; leftmost first gives " " + "aaa" + "a".
  CHECK(pieces("aaaa") == std::vector<std::string>{" ", "aaa", "a"});
  CHECK(pieces("dé") == std::vector<std::string>{" ", "<0x64>", "\xc3\xa9"});
  for (const std::string s : {"abcabcab", "aaaaaaa", "bcbcbca", "cacacab", "a b c ab bc"}) {
    CAPTURE(s);
    CHECK(tok.merge(tok.initial_tokens(s)) == tok.merge_reference(tok.initial_tokens(s)));
    CHECK(tok.decode(tok.encode(s)) == s);
  }
}

TEST_CASE("tokenizer: llama2c tokenizer file errors name the file") {
  const auto bad = write_tokenizer("bad", {}, true);
  CHECK_THROWS_WITH(text::Llama2cTokenizer(bad),
                    Catch::Contains(bad.filename().string()) && Catch::Contains("<0x07>"));
  fs::resize_file(bad, fs::file_size(bad) - 3);
  CHECK_THROWS_WITH(text::Llama2cTokenizer(bad), Catch::Contains("truncated"));
  fs::remove(bad);
  CHECK_THROWS_WITH(text::open_tokenizer("llama2c:/nonexistent/tok.bin"),
                    Catch::Contains("/nonexistent/tok.bin"));
  CHECK_THROWS_WITH(text::open_tokenizer("sentencepiece"),
                    Catch::Contains("unknown tokenizer") && Catch::Contains("byte"));
}

TEST_CASE("tokenizer: byte tokenizer ids are the bytes, BOS 256, EOS 257") {
  const auto tok = text::open_tokenizer("byte");
  CHECK(tok->vocab_size() == 258);
  const std::string s("h\xff\x00\xc3\xa9", 5);
  const auto ids = tok->encode(s, true, true);
  CHECK(ids == std::vector<int>{256, 'h', 255, 0, 0xc3, 0xa9, 257});
  CHECK(tok->decode(ids) == s);
  CHECK_THROWS_WITH(tok->decode(std::vector<int>{65, 258}),
                    Catch::Contains("258") && Catch::Contains("position 1"));
}

TEST_CASE("tokenizer: non-finite scores and FIFOs are refused", "[hostile]") {
  const auto nan = write_tokenizer("nan", {{"ab", std::nanf("")}});
  CHECK_THROWS_WITH(text::Llama2cTokenizer(nan),
                    Catch::Contains("token 259") && Catch::Contains("nan"));
  fs::remove(nan);
  const fs::path fifo = fs::temp_directory_path() / ("loftlab-tok-" + std::to_string(getpid()));
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  alarm(20);  // a blocking open would end the test here
  CHECK_THROWS_WITH(text::open_tokenizer("llama2c:" + fifo.string()), Catch::Contains("FIFO"));
  alarm(0);
  fs::remove(fifo);
}
