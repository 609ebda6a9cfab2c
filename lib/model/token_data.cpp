// Cached corpus token streams.
#include "model/token_data.hpp"

#include <map>
#include <mutex>

#include "common/error.hpp"
#include "text/corpus.hpp"

namespace loft::model {

std::shared_ptr<const TokenData> corpus_tokens(const std::string& corpus,
                                               const std::string& tokenizer) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const TokenData>> cache;
  const std::string key = corpus + '\n' + tokenizer;
  std::lock_guard lock(mu);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  const auto tok = text::open_tokenizer(tokenizer);
  const text::Corpus c = text::load_corpus(corpus);
  auto data = std::make_shared<TokenData>();
  data->vocab_size = tok->vocab_size();
  auto encode = [&](const std::vector<text::Document>& docs) {
    const auto ids = tok->encode(text::join_documents(docs), true, false);
    return std::vector<int32_t>(ids.begin(), ids.end());
  };
  data->train = encode(c.train);
  data->validation = encode(c.validation);
  cache.emplace(key, data);
  return data;
}

std::string resolve_tokenizer(const std::string& model, const std::string& tokenizer) {
  if (!tokenizer.empty() && tokenizer != "auto") return tokenizer;
  if (model.starts_with("pretrained:")) return "byte";
  fail(
      "model '{}': give its tokenizer (tokenizer = llama2c:PATH/tok512.bin, or byte); only "
      "pretrained:NAME models imply one (byte)",
      model);
}

}  // namespace loft::model
