#include "engine/plan.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <set>

#include "common/error.hpp"
#include "io/dtype.hpp"
#include "io/select.hpp"

namespace loft::engine {

int dtype_bytes(std::string_view dtype) {
  const io::Dtype* d = io::find_dtype(dtype);
  return d ? d->bytes : 0;
}

ModelPlan make_plan(const io::TensorSource& source, std::string_view targets,
                    const init::Method& method, const init::PerTensor<quant::Spec>& quant,
                    const init::PerTensor<init::RankSpec>& rank) {
  ModelPlan plan = make_plan(source, targets, rank);
  if (method.quantizes) assign_quant(plan, quant);
  return plan;
}

ModelPlan make_plan(const io::TensorSource& source, std::string_view targets,
                    const init::PerTensor<init::RankSpec>& rank) {
  std::set<std::string> chosen;
  for (const auto& t : io::select_tensors(source, targets)) chosen.insert(t.name);
  ModelPlan plan;
  for (const auto& info : source.list()) {
    TensorPlan t;
    t.info = info;
    t.file = source.file_of(info.name);
    if (t.file.empty()) t.file = "model.safetensors";
    if (std::find(plan.files.begin(), plan.files.end(), t.file) == plan.files.end())
      plan.files.push_back(t.file);
    t.target = chosen.count(info.name) != 0;
    if (t.target) {
      if (info.shape.size() != 2)
        fail(
            "--targets selects '{}', a {}-D tensor (shape [{}]); only 2-D weights (out x in) "
            "get an adapter: narrow --targets",
            info.name, info.shape.size(), fmt::join(info.shape, ", "));
      constexpr std::string_view suffix = ".weight";
      if (info.name.size() <= suffix.size() || !info.name.ends_with(suffix))
        fail(
            "--targets selects '{}', whose name does not end in '.weight'; PEFT adapts modules, "
            "whose weight is <module>.weight: narrow --targets",
            info.name);
      if (!dtype_bytes(info.dtype))
        fail("--targets selects '{}' of dtype {}, which loftlab does not convert (valid: {})",
             info.name, info.dtype, io::dtype_names());
      t.module = info.name.substr(0, info.name.size() - suffix.size());
      t.rank = rank.at(info.name);
      const int64_t smaller = std::min(info.shape[0], info.shape[1]);
      if (t.rank.fixed > smaller)
        fail("rank {} for '{}' exceeds min(out, in) = {} of its shape [{}, {}]", t.rank.fixed,
             info.name, smaller, info.shape[0], info.shape[1]);
      ++plan.targets;
    }
    plan.tensors.push_back(std::move(t));
  }
  return plan;
}

void assign_quant(ModelPlan& plan, const init::PerTensor<quant::Spec>& quant) {
  for (auto& t : plan.tensors)
    if (t.target) t.quant = quant.at(t.info.name);
}

}  // namespace loft::engine
