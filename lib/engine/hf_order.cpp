#include "engine/hf_order.hpp"

#include "io/llama2c.hpp"

namespace loft::engine {
namespace {

class HfOrder final : public io::TensorSource {
 public:
  explicit HfOrder(std::unique_ptr<io::TensorSource> s) : s_(std::move(s)), cfg_(*s_->config()) {
    cfg_.rope_half_split = true;
  }
  std::vector<io::TensorInfo> list() const override { return s_->list(); }
  Matrix load(const std::string& name) const override {
    Matrix w = s_->load(name);
    if (name.ends_with("self_attn.q_proj.weight"))
      return io::rope_pairs_to_half_split(w, cfg_.n_heads);
    if (name.ends_with("self_attn.k_proj.weight"))
      return io::rope_pairs_to_half_split(w, cfg_.n_kv_heads);
    return w;
  }
  std::optional<io::LlamaConfig> config() const override { return cfg_; }
  std::string describe() const override { return s_->describe(); }
  void release(const std::string& name) const override { s_->release(name); }

 private:
  std::unique_ptr<io::TensorSource> s_;
  io::LlamaConfig cfg_;
};

}  // namespace

std::unique_ptr<io::TensorSource> in_hf_order(std::unique_ptr<io::TensorSource> source) {
  const auto cfg = source->config();
  if (!cfg || cfg->rope_half_split) return source;
  return std::make_unique<HfOrder>(std::move(source));
}

}  // namespace loft::engine
