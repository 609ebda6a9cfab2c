#pragma once
// A PEFT LoRA adapter folder, as PeftModel.from_pretrained(base, folder) loads it:
//   adapter_config.json        LoraConfig's fields (peft_type "LORA", r, lora_alpha,
//                              target_modules, rank_pattern, alpha_pattern, ...)
//   adapter_model.safetensors  base_model.model.<module>.lora_A.weight (r x in) and
//                              base_model.model.<module>.lora_B.weight (out x r)
// PEFT's forward is W x + (lora_alpha / r) B A x with r and lora_alpha per module (rank_pattern
// and alpha_pattern override the defaults), which is loftlab's W ~ Q + s B A with s = alpha / r:
// the factors are stored as the init methods return them, unscaled.
//
// Defaults and patterns: r and lora_alpha are the values most modules have (the smaller on a
// tie); every module with another value gets a rank_pattern / alpha_pattern entry keyed by its
// full module path. PEFT matches a pattern key k against a module name m with
// re.match(rf"(.*\.)?({k})$", m), so a full path matches its own module only.
// target_modules lists every adapted module by full path (PEFT matches a module when its name
// equals an entry or ends with "." + entry).
#include <string>
#include <vector>

namespace loft::engine {

struct AdapterModule {
  std::string module;  // "model.layers.0.self_attn.q_proj"
  int rank = 0;
  double alpha = 0;
};

std::string lora_a_key(const std::string& module);  // base_model.model.<module>.lora_A.weight
std::string lora_b_key(const std::string& module);  // base_model.model.<module>.lora_B.weight

// adapter_config.json's text. `base_model` goes to base_model_name_or_path.
std::string adapter_config(const std::vector<AdapterModule>& modules,
                           const std::string& base_model);

}  // namespace loft::engine
