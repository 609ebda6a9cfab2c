// A PEFT LoRA adapter folder (finetune's `adapter =`): adapter_config.json and
// adapter_model.safetensors attached to a small Llama. The input is split into the two files;
// a loft::Error or adapters of the shapes the model's layers need.
#include <fuzzer/FuzzedDataProvider.h>

#include "io/source.hpp"
#include "model/adapters.hpp"
#include "model/llama.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  loft::fuzz::fresh();
  FuzzedDataProvider in(data, size);
  loft::fuzz::put("adapter/adapter_config.json", in.ConsumeRandomLengthString(4096));
  loft::fuzz::put("adapter/adapter_model.safetensors", in.ConsumeRemainingBytesAsString());
  loft::io::LlamaConfig cfg;
  cfg.dim = 8;
  cfg.hidden_dim = 12;
  cfg.n_layers = 1;
  cfg.n_heads = 2;
  cfg.n_kv_heads = 1;
  cfg.vocab_size = 11;
  cfg.seq_len = 16;
  auto m = loft::model::make_llama<float>(cfg);
  loft::fuzz::expect_clean([&] {
    (void)loft::model::load_peft_adapter(m, (loft::fuzz::scratch() / "adapter").string());
    for (auto* l : m.linears())
      if (l->A.value.size())
        loft::fuzz::require(l->A.value.cols() == l->weight.value.cols() &&
                                l->B.value.rows() == l->weight.value.rows() &&
                                l->A.value.rows() == l->B.value.cols(),
                            "an attached adapter fits its layer");
  });
  return 0;
}
