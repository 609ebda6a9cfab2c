#pragma once
// Layer selection: `layers = GLOB[, GLOB...]` picks tensors of a source by name, with the globs
// of common/glob.hpp (`*` any run of characters, dots included; `?` one character; `[...]` a
// set, `[!...]` its complement; `{0..3}` an integer range).
//
// The rule: a tensor is a *linear weight* when it is 2-D and no dot-separated part of its name
// mentions an embedding or a norm (contains "embed" or "norm", or is "wte", "wpe", "ln" or starts
// with "ln_"). A glob selects the linear weights it matches. It selects embeddings, norms and
// other non-2-D tensors only when it *names* them: when its literal text (the glob without its
// wildcards, sets and ranges) itself mentions embed/norm/wte/wpe/ln_, or when it has no wildcard
// at all and equals the tensor's name. So `*` and `*proj*` mean every linear layer, while
// `*embed_tokens*`, `*norm*` or `model.norm.weight` reach the others. lm_head.weight is a linear
// weight (it is only listed when untied). The keyword `all-linear`, as PEFT's target_modules,
// selects every linear weight except the output head (lm_head.weight, or output.weight): the head
// stays in full precision in QLoRA and in the LoftQ authors' published models.
//
// Every glob must select at least one tensor; otherwise the error names the glob and lists some
// tensor names (and says when it matched only embeddings/norms it does not name).
#include <string>
#include <string_view>
#include <vector>

#include "io/source.hpp"

namespace loft::io {

bool is_linear_weight(const TensorInfo& t);

// Comma-separated globs, whitespace around each ignored; empty means "*". The result keeps the
// source's order and holds each tensor once.
std::vector<TensorInfo> select_tensors(const std::vector<TensorInfo>& tensors,
                                       std::string_view globs);
std::vector<TensorInfo> select_tensors(const TensorSource& source, std::string_view globs);

}  // namespace loft::io
