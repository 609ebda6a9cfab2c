#pragma once
// What a whole-model initialisation does with each tensor of a source: the targets (2-D tensors
// picked by layer globs, io/select.hpp) are initialised with their quantizer and rank from the
// per-tensor rules (init/patterns.hpp, as sweeps use them), every other tensor is copied. The
// output keeps the source's shard files and tensor names; sources without files of their own
// (llama2c:, pretrained:) become one model.safetensors.
#include <string>
#include <string_view>
#include <vector>

#include "init/init.hpp"
#include "init/patterns.hpp"
#include "io/source.hpp"

namespace loft::engine {

struct TensorPlan {
  io::TensorInfo info;
  std::string file;                  // output shard (relative name)
  bool target = false;               // initialised; otherwise copied
  std::optional<quant::Spec> quant;  // targets, when the method quantises
  init::RankSpec rank;               // targets
  std::string module;                // targets: the module path (the name without ".weight")
};

struct ModelPlan {
  std::vector<TensorPlan> tensors;  // the source's order
  std::vector<std::string> files;   // output shards, in order of first appearance
  size_t targets = 0;
};

// Throws naming the problem: a glob matching nothing, a target that is not 2-D or whose name does
// not end in ".weight" (PEFT adapts modules; their weight is <module>.weight), no rule for a
// target. Targets get a quantizer when the method quantises.
ModelPlan make_plan(const io::TensorSource& source, std::string_view targets,
                    const init::Method& method, const init::PerTensor<quant::Spec>& quant,
                    const init::PerTensor<init::RankSpec>& rank);
// The same with no quantizer yet, for assign_quant to give (a storage budget allocates them over
// the plan's targets).
ModelPlan make_plan(const io::TensorSource& source, std::string_view targets,
                    const init::PerTensor<init::RankSpec>& rank);
// Every target's quantizer from the rules; throws naming a target no rule matches.
void assign_quant(ModelPlan& plan, const init::PerTensor<quant::Spec>& quant);

// Bytes of one element of a safetensors dtype ("BF16" -> 2); 0 when unknown.
int dtype_bytes(std::string_view dtype);

}  // namespace loft::engine
