#include "engine/export.hpp"

#include <fmt/format.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/files.hpp"
#include "engine/peft.hpp"
#include "io/dtype.hpp"
#include "io/results/merge.hpp"
#include "io/results/store.hpp"
#include "io/safetensors.hpp"

namespace loft::engine {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Files of a Hugging Face folder that travel with the weights.
constexpr const char* kTokenizerFiles[] = {"tokenizer.json",    "tokenizer_config.json",
                                           "tokenizer.model",   "special_tokens_map.json",
                                           "added_tokens.json", "vocab.json",
                                           "merges.txt",        "generation_config.json"};
constexpr size_t kMaxSideFile = size_t(1) << 30;

std::vector<std::byte> matrix_bytes(const Matrix& m, std::string_view dtype) {
  return io::encode_f32({m.data(), static_cast<size_t>(m.size())}, dtype);
}

json trace_json(const init::Trace& t) {
  return {{"residual_fro", t.residual_fro},
          {"residual_rel", t.residual_rel},
          {"residual_vs_qlora", t.residual_vs_qlora},
          {"residual_nuclear", t.residual_nuclear},
          {"seconds", t.seconds}};
}

// NaN (a norm not computed) does not survive JSON: it is written as null and read back as NaN.
std::vector<double> doubles(const json& j) {
  std::vector<double> out;
  for (const auto& v : j) out.push_back(v.is_number() ? v.get<double>() : NAN);
  return out;
}

void copy_side_file(const fs::path& from, const fs::path& to) {
  write_file_atomic(to, read_regular_file(from, "model folder file", kMaxSideFile));
}

// One tensor's bytes as the output stores them.
struct Piece {
  io::TensorEntry entry;
  std::function<void(AtomicFile&)> write;
};

void write_pieces(const fs::path& path, const std::vector<Piece>& pieces,
                  const std::map<std::string, std::string>& metadata) {
  std::vector<io::TensorEntry> entries;
  for (const auto& p : pieces) entries.push_back(p.entry);
  AtomicFile out(path);
  out.write(io::safetensors_header(entries, metadata));
  for (const auto& p : pieces) p.write(out);
  out.commit();
}

// The bytes of one stage file's tensor, written out and unmapped again.
void write_staged(AtomicFile& out, const fs::path& stage, const std::string& tensor) {
  const io::SafetensorsFile f(stage);
  const auto raw = f.raw(tensor);
  out.write(raw.data(), raw.size());
}

void write_results(const ModelPlan& plan, const Staging& st, const ExportInfo& info) {
  results::Record rec;
  rec.params = info.params;
  double rel = 0, red = 0, bits = 0, elements = 0, seconds = 0;
  for (size_t i = 0; i < plan.tensors.size(); ++i) {
    const auto& t = plan.tensors[i];
    if (!t.target) continue;
    const auto s = read_stage(st.stage_file(i), t.info.name);
    if (!s) fail("stage file {} of '{}' went missing", st.stage_file(i).string(), t.info.name);
    const auto& tr = s->trace;
    rel += tr.residual_rel.back();
    red += 1 - tr.residual_vs_qlora.back();
    const double n = static_cast<double>(t.info.shape[0] * t.info.shape[1]);
    bits += s->bits_per_weight * n;
    elements += n;
    seconds += tr.seconds.back();
    rec.layers[t.info.name] = {{"residual_fro", tr.residual_fro},
                               {"residual_rel", tr.residual_rel},
                               {"residual_vs_qlora", tr.residual_vs_qlora},
                               {"residual_nuclear", tr.residual_nuclear},
                               {"seconds", tr.seconds}};
  }
  const double count = static_cast<double>(plan.targets);
  rec.metrics["mean_residual_rel"] = rel / count;
  rec.metrics["err_reduction_fro"] = red / count;
  rec.metrics["bits_per_weight"] = bits / elements;
  rec.metrics["tensors"] = count;
  rec.metrics["seconds"] = rec.seconds = seconds;
  const fs::path dir = st.build() / "loftlab";
  results::write_point(dir, "init-model", rec, {st.out.filename().string(), info.command});
  results::merge(dir);
  write_file_atomic(dir / "command.txt", info.command + "\n");
}

}  // namespace

Staging::Staging(const fs::path& out_dir) : out(fs::absolute(out_dir).lexically_normal()) {
  if (out.filename().empty()) out = out.parent_path();
  root = out.parent_path() / fmt::format(".{}.partial", out.filename().string());
}

fs::path Staging::stage_file(size_t index) const {
  return tensors() / fmt::format("{:06d}.safetensors", index);
}

void write_stage(const fs::path& file, const std::string& name, const init::Result& r,
                 std::string_view dtype) {
  const auto shape = [](const Matrix& m) { return std::vector<int64_t>{m.rows(), m.cols()}; };
  std::vector<io::RawTensor> t = {
      {"weight", std::string(dtype), shape(r.Q), matrix_bytes(r.Q, dtype)},
      {"lora_A", "F32", shape(r.A), matrix_bytes(r.A, "F32")},
      {"lora_B", "F32", shape(r.B), matrix_bytes(r.B, "F32")}};
  const json meta = {{"rank", r.rank},
                     {"lora_alpha", r.lora_alpha},
                     {"bits_per_weight", r.bits_per_weight},
                     {"trace", trace_json(r.trace)}};
  io::write_safetensors(file, t, {{"tensor", name}, {"loftlab", meta.dump()}});
}

std::optional<StagedTensor> read_stage(const fs::path& file, const std::string& name) {
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(file, ec))) return std::nullopt;
  try {
    const io::SafetensorsFile f(file);
    const auto& m = f.metadata();
    if (!m.count("tensor") || m.at("tensor") != name || !m.count("loftlab") ||
        !f.contains("weight") || !f.contains("lora_A") || !f.contains("lora_B"))
      return std::nullopt;
    const json j = json::parse(m.at("loftlab"));
    StagedTensor s;
    s.name = name;
    s.rank = j.at("rank").get<int>();
    s.alpha = j.at("lora_alpha").get<double>();
    s.bits_per_weight = j.at("bits_per_weight").get<double>();
    const json& t = j.at("trace");
    s.trace.residual_fro = doubles(t.at("residual_fro"));
    s.trace.residual_rel = doubles(t.at("residual_rel"));
    s.trace.residual_vs_qlora = doubles(t.at("residual_vs_qlora"));
    s.trace.residual_nuclear = doubles(t.at("residual_nuclear"));
    s.trace.seconds = doubles(t.at("seconds"));
    if (s.trace.size() == 0) return std::nullopt;
    return s;
  } catch (const std::exception&) {
    return std::nullopt;  // not a stage we wrote: computed again
  }
}

std::string output_dtype(const ExportInfo& info, const std::string& source_dtype) {
  return info.dtype == "source" ? source_dtype : info.dtype;
}

uint64_t assemble(const io::TensorSource& source, const ModelPlan& plan, const Staging& st,
                  const ExportInfo& info) {
  // A killed assembly leaves temporaries in build/: start it afresh.
  fs::remove_all(st.build());
  fs::create_directories(st.build() / "loftq_init");
  uint64_t total = 0;
  json weight_map = json::object();
  for (const auto& file : plan.files) {
    std::vector<Piece> pieces;
    for (size_t i = 0; i < plan.tensors.size(); ++i) {
      const auto& t = plan.tensors[i];
      if (t.file != file) continue;
      weight_map[t.info.name] = file;
      const std::string& name = t.info.name;
      if (t.target) {
        const std::string dtype = output_dtype(info, t.info.dtype);
        const size_t n = io::element_count(t.info.shape).n * dtype_bytes(dtype);
        const fs::path stage = st.stage_file(i);
        pieces.push_back({{name, dtype, t.info.shape, n},
                          [stage](AtomicFile& out) { write_staged(out, stage, "weight"); }});
      } else if (const auto raw = source.raw(name);
                 !raw.empty() || io::element_count(t.info.shape).n == 0) {
        pieces.push_back(
            {{name, t.info.dtype, t.info.shape, raw.size()}, [&source, name](AtomicFile& out) {
               const auto bytes = source.raw(name);
               out.write(bytes.data(), bytes.size());
               source.release(name);
             }});
      } else {
        // Sources without stored bytes (llama2c: float32): the loaded values, re-encoded.
        const size_t n = io::element_count(t.info.shape).n * dtype_bytes(t.info.dtype);
        pieces.push_back(
            {{name, t.info.dtype, t.info.shape, n}, [&source, name, &t](AtomicFile& out) {
               const auto bytes = matrix_bytes(source.load(name), t.info.dtype);
               out.write(bytes.data(), bytes.size());
             }});
      }
      total += pieces.back().entry.bytes;
    }
    const fs::path path = st.build() / file;
    fs::create_directories(path.parent_path());
    write_pieces(path, pieces, {{"format", "pt"}});
  }
  const json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  write_file_atomic(st.build() / "model.safetensors.index.json", index.dump(2) + "\n");
  if (!info.source_dir.empty() && fs::exists(info.source_dir / "config.json"))
    copy_side_file(info.source_dir / "config.json", st.build() / "config.json");
  else
    write_file_atomic(st.build() / "config.json", info.config_json);
  if (!info.source_dir.empty())
    for (const char* f : kTokenizerFiles)
      if (fs::exists(info.source_dir / f)) copy_side_file(info.source_dir / f, st.build() / f);

  // The adapter: A and B of every target, as PEFT names them.
  std::vector<Piece> pieces;
  std::vector<AdapterModule> modules;
  for (size_t i = 0; i < plan.tensors.size(); ++i) {
    const auto& t = plan.tensors[i];
    if (!t.target) continue;
    const auto s = read_stage(st.stage_file(i), t.info.name);
    if (!s) fail("stage file {} of '{}' is missing", st.stage_file(i).string(), t.info.name);
    modules.push_back({t.module, s->rank, s->alpha});
    const int64_t out = t.info.shape[0], in = t.info.shape[1], r = s->rank;
    const fs::path stage = st.stage_file(i);
    pieces.push_back({{lora_a_key(t.module), "F32", {r, in}, size_t(r * in * 4)},
                      [stage](AtomicFile& o) { write_staged(o, stage, "lora_A"); }});
    pieces.push_back({{lora_b_key(t.module), "F32", {out, r}, size_t(out * r * 4)},
                      [stage](AtomicFile& o) { write_staged(o, stage, "lora_B"); }});
  }
  write_pieces(st.build() / "loftq_init" / "adapter_model.safetensors", pieces, {{"format", "pt"}});
  write_file_atomic(st.build() / "loftq_init" / "adapter_config.json",
                    adapter_config(modules, info.base_model));
  write_results(plan, st, info);
  json params = json::object();
  // No structured binding here: clang 14 cannot capture one in a lambda (C++20's P1091).
  for (const auto& kv : info.params) {
    const std::string& key = kv.first;
    std::visit([&](const auto& x) { params[key] = x; }, kv.second);
  }
  write_file_atomic(st.build() / "loftlab" / "params.json", params.dump(2) + "\n");
  return total;
}

void publish(const Staging& st, bool force) {
  std::error_code ec;
  const bool exists = fs::exists(fs::symlink_status(st.out, ec));
  const fs::path old = st.root / "replaced";
  if (exists) {
    if (!force)
      fail(
          "{} appeared while the export ran; it is left as it is (the export stays in {}; "
          "rerun with --force to replace it)",
          st.out.string(), st.root.string());
    fs::rename(st.out, old);
  }
  fs::rename(st.build(), st.out);
  fs::remove_all(st.root);
}

std::string llama_config_json(const io::LlamaConfig& c, std::string_view torch_dtype) {
  nlohmann::ordered_json j;
  j["architectures"] = {"LlamaForCausalLM"};
  j["model_type"] = "llama";
  j["hidden_size"] = c.dim;
  j["intermediate_size"] = c.hidden_dim;
  j["num_hidden_layers"] = c.n_layers;
  j["num_attention_heads"] = c.n_heads;
  j["num_key_value_heads"] = c.n_kv_heads;
  j["vocab_size"] = c.vocab_size;
  j["max_position_embeddings"] = c.seq_len;
  j["rms_norm_eps"] = c.norm_eps;
  j["rope_theta"] = c.rope_theta;
  j["tie_word_embeddings"] = c.tied_embeddings;
  j["hidden_act"] = "silu";
  j["torch_dtype"] = torch_dtype;
  return j.dump(2) + "\n";
}

}  // namespace loft::engine
