#pragma once
// A Llama source seen in Hugging Face's layout: llama2.c checkpoints keep q/k rows in adjacent-pair
// RoPE order, Hugging Face's LlamaForCausalLM expects the half-split order, so an exported folder
// must hold permuted q_proj/k_proj rows (io::rope_pairs_to_half_split). Initialising the permuted
// matrix is initialising the model a Hugging Face loader sees.
#include <memory>

#include "io/source.hpp"

namespace loft::engine {

// The source itself when it is already in half-split order (or has no Llama config); otherwise
// a view of it whose q_proj/k_proj weights are permuted and whose config says rope_half_split.
std::unique_ptr<io::TensorSource> in_hf_order(std::unique_ptr<io::TensorSource> source);

}  // namespace loft::engine
