#include "text/llama2c_tokenizer.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <queue>

#include "common/error.hpp"
#include "common/files.hpp"

namespace loft::text {
namespace {

constexpr int kByteFallback = 3;                // id of <0x00>
constexpr size_t kMaxTokens = size_t(1) << 22;  // Llama 3 has 128256

// The raw byte a "<0xHH>" piece stands for, or -1.
int byte_piece(const std::string& p) {
  if (p.size() != 6 || !p.starts_with("<0x") || p[5] != '>') return -1;
  int v = 0;
  for (int i = 3; i < 5; ++i) {
    const char c = p[static_cast<size_t>(i)];
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

}  // namespace

Llama2cTokenizer::Llama2cTokenizer(const std::filesystem::path& path)
    : spec_("llama2c:" + path.string()) {
  require_regular_file(path, "tokenizer file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open tokenizer file {}", path.string());
  int32_t max_len = 0;
  if (!in.read(reinterpret_cast<char*>(&max_len), 4) || max_len <= 0 || max_len > 4096)
    fail("{}: not a llama2.c tokenizer (max_token_length {} must be in 1..4096)", path.string(),
         max_len);
  for (;;) {
    float score;
    if (!in.read(reinterpret_cast<char*>(&score), 4)) {
      if (in.gcount() == 0) break;  // clean end of file
      fail("{}: truncated in the score of token {}", path.string(), pieces_.size());
    }
    if (!std::isfinite(score))
      fail("{}: token {} has score {} (scores order the merges; they must be finite)",
           path.string(), pieces_.size(), score);
    if (pieces_.size() == kMaxTokens)
      fail("{}: more than {} tokens; not a llama2.c tokenizer", path.string(), kMaxTokens);
    int32_t len = 0;
    if (!in.read(reinterpret_cast<char*>(&len), 4))
      fail("{}: truncated in the length of token {}", path.string(), pieces_.size());
    if (len < 0 || len > max_len)
      fail("{}: token {} has length {} (max_token_length is {})", path.string(), pieces_.size(),
           len, max_len);
    std::string piece(static_cast<size_t>(len), '\0');
    if (!in.read(piece.data(), len))
      fail("{}: truncated in the bytes of token {}", path.string(), pieces_.size());
    ids_.emplace(piece, static_cast<int>(pieces_.size()));  // the first of duplicates wins
    pieces_.push_back(std::move(piece));
    scores_.push_back(score);
  }
  if (pieces_.size() < 259)
    fail("{}: {} tokens; a llama2.c tokenizer has at least 259 (<unk>, BOS, EOS, 256 bytes)",
         path.string(), pieces_.size());
  for (int b = 0; b < 256; ++b)
    if (byte_piece(pieces_[static_cast<size_t>(b + kByteFallback)]) != b)
      fail("{}: token {} is '{}', expected the byte fallback <0x{:02X}>", path.string(),
           b + kByteFallback, pieces_[static_cast<size_t>(b + kByteFallback)], b);
}

int Llama2cTokenizer::lookup(std::string_view s) const {
  const auto it = ids_.find(std::string(s));
  return it == ids_.end() ? -1 : it->second;
}

std::vector<int> Llama2cTokenizer::initial_tokens(std::string_view text) const {
  std::vector<int> out;
  if (text.empty()) return out;
  out.push_back(lookup(" "));
  if (out.back() < 0) out.back() = kByteFallback + ' ';
  size_t i = 0;
  while (i < text.size()) {
    // One UTF-8 character: a lead byte and its continuation bytes (10xxxxxx), at most 4.
    size_t n = 1;
    while (i + n < text.size() && n < 4 && (static_cast<unsigned char>(text[i + n]) & 0xC0) == 0x80)
      ++n;
    const int id = lookup(text.substr(i, n));
    if (id >= 0) {
      out.push_back(id);
    } else {
      for (size_t k = 0; k < n; ++k)
        out.push_back(kByteFallback + static_cast<unsigned char>(text[i + k]));
    }
    i += n;
  }
  return out;
}

std::vector<int> Llama2cTokenizer::merge_reference(std::vector<int> tokens) const {
  for (;;) {
    float best = -1e10f;
    int best_id = -1;
    size_t best_at = 0;
    for (size_t i = 0; i + 1 < tokens.size(); ++i) {
      const int id = lookup(piece(tokens[i]) + piece(tokens[i + 1]));
      if (id >= 0 && score(id) > best) {
        best = score(id);
        best_id = id;
        best_at = i;
      }
    }
    if (best_id < 0) return tokens;
    tokens[best_at] = best_id;
    tokens.erase(tokens.begin() + static_cast<std::ptrdiff_t>(best_at) + 1);
  }
}

std::vector<int> Llama2cTokenizer::merge(std::vector<int> tokens) const {
  // Symbols in a doubly linked list; a symbol keeps its original index, so index order is list
  // order and "leftmost" is "smallest index", as in the reference loop.
  const int n = static_cast<int>(tokens.size());
  std::vector<int> prev(n), next(n);
  std::vector<char> alive(n, 1);
  for (int i = 0; i < n; ++i) prev[i] = i - 1, next[i] = i + 1 < n ? i + 1 : -1;

  struct Candidate {
    float score;
    int left, right, left_tok, right_tok, merged;
    bool operator<(const Candidate& o) const {  // max-heap: higher score, then smaller left
      return score != o.score ? score < o.score : left > o.left;
    }
  };
  std::priority_queue<Candidate> heap;
  auto consider = [&](int l) {
    const int r = l >= 0 ? next[l] : -1;
    if (l < 0 || r < 0) return;
    const int id = lookup(piece(tokens[l]) + piece(tokens[r]));
    // The reference only takes a merge scoring above its initial best of -1e10.
    if (id >= 0 && score(id) > -1e10f) heap.push({score(id), l, r, tokens[l], tokens[r], id});
  };
  for (int i = 0; i + 1 < n; ++i) consider(i);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    // Stale when either side was merged away or replaced since the candidate was pushed.
    if (!alive[c.left] || !alive[c.right] || next[c.left] != c.right ||
        tokens[c.left] != c.left_tok || tokens[c.right] != c.right_tok)
      continue;
    tokens[c.left] = c.merged;
    alive[c.right] = 0;
    next[c.left] = next[c.right];
    if (next[c.right] >= 0) prev[next[c.right]] = c.left;
    consider(prev[c.left]);
    consider(c.left);
  }
  std::vector<int> out;
  for (int i = 0; i >= 0 && i < n; i = next[i]) out.push_back(tokens[i]);
  return out;
}

std::vector<int> Llama2cTokenizer::encode(std::string_view text, bool bos, bool eos) const {
  std::vector<int> merged = merge(initial_tokens(text));
  std::vector<int> out;
  out.reserve(merged.size() + 2);
  if (bos) out.push_back(this->bos());
  out.insert(out.end(), merged.begin(), merged.end());
  if (eos) out.push_back(this->eos());
  return out;
}

std::string Llama2cTokenizer::decode_piece(int prev, int id) const {
  if (id < 0 || id >= vocab_size())
    fail("{}: token id {} is outside the vocabulary [0, {})", spec_, id, vocab_size());
  if (id == bos() || id == eos()) return {};
  const std::string& p = piece(id);
  const int b = byte_piece(p);
  if (b >= 0) return std::string(1, static_cast<char>(b));
  if (prev == bos() && !p.empty() && p[0] == ' ') return p.substr(1);
  return p;
}

}  // namespace loft::text
