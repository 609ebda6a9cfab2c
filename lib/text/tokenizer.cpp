#include "text/tokenizer.hpp"

#include "common/error.hpp"
#include "text/byte_tokenizer.hpp"
#include "text/llama2c_tokenizer.hpp"

namespace loft::text {

std::string Tokenizer::decode(std::span<const int> ids) const {
  std::string out;
  int prev = -1;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size())
      fail("{}: token id {} at position {} is outside the vocabulary [0, {})", describe(), ids[i],
           i, vocab_size());
    out += decode_piece(prev, ids[i]);
    prev = ids[i];
  }
  return out;
}

std::vector<int> ByteTokenizer::encode(std::string_view text, bool bos, bool eos) const {
  std::vector<int> ids;
  ids.reserve(text.size() + 2);
  if (bos) ids.push_back(kBos);
  for (unsigned char c : text) ids.push_back(c);
  if (eos) ids.push_back(kEos);
  return ids;
}

std::string ByteTokenizer::decode_piece(int, int id) const {
  if (id < 0 || id >= kVocab) fail("byte tokenizer: token id {} is outside [0, {})", id, kVocab);
  return id < 256 ? std::string(1, static_cast<char>(id)) : std::string();
}

std::unique_ptr<Tokenizer> open_tokenizer(std::string_view spec) {
  if (spec == "byte") return std::make_unique<ByteTokenizer>();
  if (spec.starts_with("llama2c:"))
    return std::make_unique<Llama2cTokenizer>(std::string(spec.substr(8)));
  if (spec.ends_with(".bin")) return std::make_unique<Llama2cTokenizer>(std::string(spec));
  fail("unknown tokenizer '{}' (valid: llama2c:PATH to a llama2.c tokenizer.bin, or byte)", spec);
}

}  // namespace loft::text
