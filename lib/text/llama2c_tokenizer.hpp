#pragma once
// llama2.c's tokenizer (run.c): a vocabulary of pieces with merge scores read from a
// tokenizer.bin (int32 max_token_length, then per token: float32 score, int32 length, bytes).
// Ids 0 <unk>, 1 BOS, 2 EOS, 3..258 the byte fallbacks <0x00>..<0xFF>.
//
// encode: BOS; a dummy-prefix " " token when the text is not empty; one token per UTF-8
// character, or its bytes as byte-fallback ids (byte + 3) when the character is not a piece; then
// repeatedly merge the adjacent pair whose concatenation is a piece with the highest score (the
// leftmost such pair on ties); EOS. decode: a piece following BOS loses its leading space;
// "<0xHH>" pieces are the raw byte.
//
// merge() is the fast path (a heap of candidate pairs over a linked list, O(n log n));
// merge_reference() is llama2.c's quadratic loop, kept as the reference tests compare against.
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

#include "text/tokenizer.hpp"

namespace loft::text {

class Llama2cTokenizer final : public Tokenizer {
 public:
  explicit Llama2cTokenizer(const std::filesystem::path& path);

  std::vector<int> encode(std::string_view text, bool bos = true, bool eos = false) const override;
  std::string decode_piece(int prev, int id) const override;
  int vocab_size() const override { return static_cast<int>(pieces_.size()); }
  int bos() const override { return 1; }
  int eos() const override { return 2; }
  std::string describe() const override { return spec_; }

  const std::string& piece(int id) const { return pieces_.at(static_cast<size_t>(id)); }
  float score(int id) const { return scores_.at(static_cast<size_t>(id)); }

  // The character/byte tokens before merging (no BOS/EOS), and the two merge loops over them.
  std::vector<int> initial_tokens(std::string_view text) const;
  std::vector<int> merge(std::vector<int> tokens) const;
  std::vector<int> merge_reference(std::vector<int> tokens) const;

 private:
  int lookup(std::string_view s) const;  // -1 when absent

  std::string spec_;
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::unordered_map<std::string, int> ids_;
};

}  // namespace loft::text
