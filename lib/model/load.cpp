// Loading a Llama from a checkpoint source (kept apart so the model core links without io).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>
#include <set>

#include "common/error.hpp"
#include "io/dtype.hpp"
#include "io/llama2c.hpp"
#include "io/source.hpp"
#include "model/llama.hpp"

namespace loft::model {

Llama<float> load_llama(const io::TensorSource& src) {
  auto cfg = src.config();
  if (!cfg)
    fail("model source '{}' has no Llama config (valid: {})", src.describe(),
         io::source_forms(true));
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& t : src.list()) shapes[t.name] = t.shape;
  LlamaConfig c = *cfg;
  if (shapes.count("lm_head.weight")) c.tied_embeddings = false;
  // Every tensor the config implies must be in the checkpoint, with its shape, before anything
  // is allocated: a config that claims more (num_hidden_layers: 1000000) than the files hold
  // fails here instead of allocating it.
  validate(c);
  for (const auto& e : io::llama2c_layout(c)) {
    const auto it = shapes.find(e.name);
    if (it == shapes.end())
      fail("model source '{}' has no tensor '{}' (its config implies it: {} layers, dim {})",
           src.describe(), e.name, c.n_layers, c.dim);
    if (io::element_count(it->second).n != io::element_count(e.shape).n)
      fail("model source '{}': tensor '{}' has shape [{}], the config implies [{}]", src.describe(),
           e.name, fmt::join(it->second, ", "), fmt::join(e.shape, ", "));
  }
  std::set<std::string> names;
  for (const auto& [name, shape] : shapes) names.insert(name);
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
