#include "io/safetensors.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/files.hpp"
#include "io/dtype.hpp"

namespace loft::io {
namespace {

using nlohmann::json;

// Widths of every dtype the safetensors format defines, so offsets of tensors loftlab cannot
// convert (integer buffers, fp8) are still validated; converting them is an error at load.
int storage_width(const std::string& dtype) {
  static const std::map<std::string, int> widths = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
      {"U32", 4},  {"F32", 4}, {"I64", 8}, {"U64", 8},     {"F64", 8}};
  const auto it = widths.find(dtype);
  return it == widths.end() ? 0 : it->second;
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : file_(path) {
  const auto bytes = file_.bytes();
  const std::string& p = file_.path();
  if (bytes.size() < 8)
    fail("{}: truncated safetensors file ({} bytes, no header)", p, bytes.size());
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  if (n > bytes.size() - 8)
    fail(
        "{}: safetensors header length {} runs past the end of the {}-byte file (truncated or "
        "not a safetensors file)",
        p, n, bytes.size());
  data_start_ = 8 + n;
  json header;
  try {
    header = json::parse(reinterpret_cast<const char*>(bytes.data()) + 8,
                         reinterpret_cast<const char*>(bytes.data()) + 8 + n);
  } catch (const json::exception& e) {
    fail("{}: safetensors header is not valid JSON: {}", p, e.what());
  }
  if (!header.is_object()) fail("{}: safetensors header is not a JSON object", p);

  struct Span {
    size_t begin, end;
    std::string name;
  };
  std::vector<Span> spans;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (entry.is_object())
        for (const auto& [k, v] : entry.items())
          metadata_[k] = v.is_string() ? v.get<std::string>() : v.dump();
      continue;
    }
    try {
      // Integers as written: no float truncated, no negative wrapped to unsigned.
      // (entry captured by name: clang before 16 cannot capture a structured binding.)
      auto integers = [&entry = entry](const char* key, bool signed_ok) {
        const json& v = entry.at(key);
        bool ok = v.is_array();
        for (const auto& x : v)
          ok = ok && (x.is_number_unsigned() || (signed_ok && x.is_number_integer()));
        if (!ok)
          fail("{} {} is not a list of {}integers", key, v.dump(),
               signed_ok ? "" : "non-negative ");
        return v;
      };
      TensorInfo info{name, integers("shape", true).get<std::vector<int64_t>>(),
                      entry.at("dtype").get<std::string>()};
      const auto off = integers("data_offsets", false).get<std::vector<uint64_t>>();
      if (off.size() != 2) fail("data_offsets must be [begin, end]");
      const int width = storage_width(info.dtype);
      if (width == 0)
        fail("unknown dtype '{}' (safetensors dtypes loftlab converts: {})", info.dtype,
             dtype_names());
      const auto elements = element_count(info.shape);
      if (!elements.ok)
        fail("shape [{}] has a negative dimension or more elements than any file holds",
             fmt::join(info.shape, ", "));
      const uint64_t count = elements.n;
      if (count > (bytes.size() - data_start_) / static_cast<uint64_t>(width))
        fail("shape [{}] of {} needs {} bytes, more than the file's {} data bytes",
             fmt::join(info.shape, ", "), info.dtype, fmt::format("{} x {}", count, width),
             bytes.size() - data_start_);
      if (off[0] > off[1] || off[1] > bytes.size() - data_start_)
        fail("data_offsets [{}, {}] lie outside the {} data bytes (truncated file?)", off[0],
             off[1], bytes.size() - data_start_);
      if (off[1] - off[0] != count * static_cast<uint64_t>(width))
        fail("data_offsets [{}, {}] hold {} bytes but shape [{}] of {} needs {}", off[0], off[1],
             off[1] - off[0], fmt::join(info.shape, ", "), info.dtype, count * width);
      spans.push_back({data_start_ + off[0], data_start_ + off[1], name});
      tensors_.push_back(std::move(info));
    } catch (const Error& e) {
      fail("{}: tensor '{}': {}", p, name, e.what());
    } catch (const json::exception& e) {
      fail("{}: tensor '{}': malformed header entry (needs dtype, shape, data_offsets): {}", p,
           name, e.what());
    }
  }
  // The entries must tile the data region exactly: a gap or overlap means a corrupt header.
  std::sort(spans.begin(), spans.end(), [](auto& a, auto& b) { return a.begin < b.begin; });
  size_t at = data_start_;
  for (const auto& s : spans) {
    if (s.begin != at)
      fail(
          "{}: tensor '{}' starts at data offset {} but the previous tensor ends at {} (a {} in "
          "the data; corrupt header)",
          p, s.name, s.begin - data_start_, at - data_start_, s.begin < at ? "overlap" : "gap");
    at = s.end;
  }
  if (at != bytes.size())
    fail("{}: {} bytes after the last tensor's data (the header describes {} of {} data bytes)", p,
         bytes.size() - at, at - data_start_, bytes.size() - data_start_);
  // List in data order, as the file was written.
  std::map<std::string, size_t> order;
  for (size_t i = 0; i < spans.size(); ++i) order[spans[i].name] = i;
  std::sort(tensors_.begin(), tensors_.end(),
            [&](auto& a, auto& b) { return order[a.name] < order[b.name]; });
  for (size_t i = 0; i < tensors_.size(); ++i) position_[tensors_[i].name] = i;
  for (const auto& s : spans) index_[s.name] = {s.begin, s.end};
}

std::span<const std::byte> SafetensorsFile::raw(const std::string& name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) fail("{}: no tensor named '{}'", path(), name);
  return file_.bytes().subspan(it->second.first, it->second.second - it->second.first);
}

void SafetensorsFile::release(const std::string& name) const {
  if (const auto it = index_.find(name); it != index_.end())
    file_.release(it->second.first, it->second.second - it->second.first);
}

Matrix SafetensorsFile::load(const std::string& name) const {
  const auto raw_bytes = raw(name);
  const TensorInfo& info = tensors_[position_.at(name)];
  const Dtype* dtype = find_dtype(info.dtype);
  if (!dtype)
    fail("{}: tensor '{}' has dtype {}, which loftlab does not convert (valid: {})", path(), name,
         info.dtype, dtype_names());
  return decode_tensor(raw_bytes, *dtype, info.shape, name, path());
}

std::string safetensors_header(const std::vector<TensorEntry>& tensors,
                               const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  for (const auto& t : tensors) {
    if (header.contains(t.name)) fail("safetensors header: duplicate tensor '{}'", t.name);
    header[t.name] = {
        {"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes}}};
    offset += t.bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keep the data 8-byte aligned
  const uint64_t n = text.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  return out + text;
}

void write_safetensors(const std::filesystem::path& path, const std::vector<RawTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<TensorEntry> entries;
  for (const auto& t : tensors) entries.push_back({t.name, t.dtype, t.shape, t.bytes.size()});
  std::string header;
  try {
    header = safetensors_header(entries, metadata);
  } catch (const Error& e) {
    fail("write_safetensors {}: {}", path.string(), e.what());
  }
  AtomicFile out(path);
  out.write(header);
  for (const auto& t : tensors) out.write(t.bytes.data(), t.bytes.size());
  out.commit();
}

void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, Matrix>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<RawTensor> raw;
  for (const auto& [name, m] : tensors) {
    RawTensor t{name, "F32", {m.rows(), m.cols()}, std::vector<std::byte>(m.size() * 4)};
    std::memcpy(t.bytes.data(), m.data(), t.bytes.size());
    raw.push_back(std::move(t));
  }
  write_safetensors(path, raw, metadata);
}

}  // namespace loft::io
