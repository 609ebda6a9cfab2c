#pragma once
// The byte-level tokenizer of the models loftlab pretrains: id b (0..255) is the byte b, BOS is
// 256 and EOS 257 (vocab_size 258). Lossless for any byte string, UTF-8 or not.
#include "text/tokenizer.hpp"

namespace loft::text {

class ByteTokenizer final : public Tokenizer {
 public:
  static constexpr int kBos = 256, kEos = 257, kVocab = 258;

  std::vector<int> encode(std::string_view text, bool bos = true, bool eos = false) const override;
  std::string decode_piece(int prev, int id) const override;
  int vocab_size() const override { return kVocab; }
  int bos() const override { return kBos; }
  int eos() const override { return kEos; }
  std::string describe() const override { return "byte"; }
};

}  // namespace loft::text
