#pragma once
// Tokenizers: text <-> token ids. Two implementations behind one interface:
//   llama2c:PATH  the sentencepiece-style BPE of llama2.c's tokenizer.bin files (tok512.bin)
//   byte          one id per byte: ids 0..255 are the bytes, 256 = BOS, 257 = EOS
//                 (vocab_size 258); what loftlab uses for the models it pretrains.
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace loft::text {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Token ids of text, preceded by BOS and followed by EOS when asked.
  virtual std::vector<int> encode(std::string_view text, bool bos = true,
                                  bool eos = false) const = 0;
  // The text of `id` when it follows `prev` (prev < 0: at the start), for streaming output.
  // BOS and EOS decode to "".
  virtual std::string decode_piece(int prev, int id) const = 0;
  virtual int vocab_size() const = 0;
  virtual int bos() const = 0;
  virtual int eos() const = 0;
  virtual std::string describe() const = 0;  // the spec it was opened from

  // decode_piece over the sequence (the first id follows no token). Ids outside
  // [0, vocab_size) are errors naming the id and its position.
  std::string decode(std::span<const int> ids) const;
};

// "llama2c:PATH", "byte"; a bare path ending in .bin means llama2c:PATH.
std::unique_ptr<Tokenizer> open_tokenizer(std::string_view spec);

}  // namespace loft::text
