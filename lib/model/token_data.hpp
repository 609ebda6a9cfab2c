#pragma once
// Token streams of a corpus split under a tokenizer, cached per process: every point of a sweep
// trains on the same text, and encoding a few megabytes each time would dominate short runs.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "text/tokenizer.hpp"

namespace loft::model {

struct TokenData {
  std::vector<int32_t> train, validation;
  int vocab_size = 0;
};

// The corpus (text/corpus.hpp spec) split 90/10 by document, each side joined and encoded with
// BOS at the start. Thread-safe; the result lives for the process.
std::shared_ptr<const TokenData> corpus_tokens(const std::string& corpus,
                                               const std::string& tokenizer);

// "byte" for models loftlab pretrained ("pretrained:NAME"), else the given spec, which is then
// required (a llama2.c or Hugging Face checkpoint does not say which tokenizer it was trained
// with).
std::string resolve_tokenizer(const std::string& model, const std::string& tokenizer);

}  // namespace loft::model
