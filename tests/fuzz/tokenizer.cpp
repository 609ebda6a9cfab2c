// A llama2.c tokenizer.bin (max token length, then score, length and bytes per token) and a text
// to encode with it: a loft::Error, or ids whose fast merge equals the reference merge and which
// decode.
#include "support.hpp"
#include "text/llama2c_tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const std::string text = in.ConsumeRandomLengthString(256);
  const auto path = loft::fuzz::put("tokenizer.bin", in.ConsumeRemainingBytesAsString());
  loft::fuzz::expect_clean([&] {
    const loft::text::Llama2cTokenizer tok(path);
    const auto initial = tok.initial_tokens(text);
    loft::fuzz::require(tok.merge(initial) == tok.merge_reference(initial),
                        "the heap merge gives the reference merge's tokens");
    const auto ids = tok.encode(text, true, true);
    (void)tok.decode(ids);
  });
  return 0;
}
