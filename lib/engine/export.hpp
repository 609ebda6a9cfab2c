#pragma once
// Exporting an initialised model (layout in README.md, "Whole models"):
//   DIR/                  the backbone as a Hugging Face folder: config.json, the source's shard
//                         files with the same tensor names, targets holding Q (dequantised) in
//                         the output dtype, every other tensor copied bit for bit,
//                         model.safetensors.index.json, tokenizer files copied
//   DIR/loftq_init/       a PEFT LoRA adapter (engine/peft.hpp)
//   DIR/loftlab/          the per-tensor traces as a results folder (points/init-model.h5 and
//                         results.h5, readable by `loftlab inspect`), command.txt, params.json
//
// Crash safety: everything is built in the staging folder PARENT/.NAME.partial/ (same file
// system as DIR): each finished target is one stage file, tensors/<index>.safetensors, written
// atomically, so a killed run resumes at tensor granularity; assembly writes build/, which is
// renamed to DIR at the end, so DIR appears only complete. Stage files are deterministic (the
// trace's seconds apart), so a resumed export is bitwise identical to an uninterrupted one.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "engine/plan.hpp"
#include "init/init.hpp"
#include "io/results/record.hpp"
#include "io/source.hpp"

namespace loft::engine {

struct Staging {
  explicit Staging(const std::filesystem::path& out_dir);
  std::filesystem::path out;   // DIR
  std::filesystem::path root;  // PARENT/.NAME.partial
  std::filesystem::path tensors() const { return root / "tensors"; }
  std::filesystem::path build() const { return root / "build"; }
  std::filesystem::path params() const { return root / "params.json"; }
  std::filesystem::path stage_file(size_t index) const;
};

// What a stage file holds besides Q, A and B.
struct StagedTensor {
  std::string name;
  int rank = 0;
  double alpha = 0;
  double bits_per_weight = 0;
  init::Trace trace;
};

// Q in `dtype` as "weight", A and B in float32 as "lora_A" / "lora_B", the rest as metadata.
void write_stage(const std::filesystem::path& file, const std::string& name,
                 const init::Result& result, std::string_view dtype);
// The stage of tensor `name`, or nullopt when the file is absent or is not a valid stage of
// that tensor (it is then computed again).
std::optional<StagedTensor> read_stage(const std::filesystem::path& file, const std::string& name);

struct ExportInfo {
  std::string dtype;        // output dtype of the targets; "source" keeps each one's own
  std::string base_model;   // adapter_config.json's base_model_name_or_path
  std::string command;      // the exact command line
  std::string config_json;  // config.json to write when the source has no folder to copy from
  std::filesystem::path source_dir;  // hf: folder (config.json and tokenizer files), or empty
  results::Params params;            // the export's parameters, canonical
};

// The output dtype of a target of source dtype `source_dtype`.
std::string output_dtype(const ExportInfo& info, const std::string& source_dtype);

// Builds Staging::build() from the source and every target's stage file (all must exist).
// Returns the summary line's figures: the number of bytes written.
uint64_t assemble(const io::TensorSource& source, const ModelPlan& plan, const Staging& staging,
                  const ExportInfo& info);

// Renames build/ to DIR (an existing DIR only with force: it is moved aside first and removed
// after) and removes the staging folder.
void publish(const Staging& staging, bool force);

// The Llama config.json Hugging Face's LlamaForCausalLM reads, for sources without one.
std::string llama_config_json(const io::LlamaConfig& config, std::string_view torch_dtype);

}  // namespace loft::engine
