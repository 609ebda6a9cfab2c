// Loading a Llama from a checkpoint source (kept apart so the model core links without io).
#include <set>

#include "common/error.hpp"
#include "model/llama.hpp"

namespace loft::model {

Llama<float> load_llama(const io::TensorSource& src) {
  auto cfg = src.config();
  if (!cfg)
    fail("model source '{}' has no Llama config (valid: llama2c:FILE, hf:DIR, pretrained:NAME)",
         src.describe());
  std::set<std::string> names;
  for (const auto& t : src.list()) names.insert(t.name);
  LlamaConfig c = *cfg;
  if (names.count("lm_head.weight")) c.tied_embeddings = false;
  Llama<float> m = make_llama<float>(c);
  for (auto* p : m.params()) {
    if (!names.count(p->name))
      fail("model source '{}' has no tensor '{}' (a Llama checkpoint needs it)", src.describe(),
           p->name);
    Matrix w = src.load(p->name);
    if (w.rows() != p->value.rows() || w.cols() != p->value.cols())
      fail("model source '{}': tensor '{}' is {}x{}, the config implies {}x{}", src.describe(),
           p->name, w.rows(), w.cols(), p->value.rows(), p->value.cols());
    p->value = w;
  }
  return m;
}

Llama<float> load_llama(const std::string& spec) {
  return load_llama(*io::open_source(spec));
}

}  // namespace loft::model
