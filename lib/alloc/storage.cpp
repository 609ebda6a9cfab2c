#include "alloc/storage.hpp"

#include "common/error.hpp"
#include "quant/registry.hpp"

namespace loft::alloc {

int64_t storage_bits(const quant::Spec& spec, int64_t count) {
  quant::validate(spec);
  if (count <= 0 || count % spec.block != 0)
    fail("{} cannot store {} values: the count must be a positive multiple of the block {}",
         quant::format(spec), count, spec.block);
  const auto& row = quant::quantizer_for(spec);
  const auto blocks = static_cast<std::size_t>(count / spec.block);
  int64_t bits = (count * spec.bits + 7) / 8 * 8;  // codes are packed into whole bytes
  for (quant::Stream s : quant::stored_streams(row, spec)) {
    const auto& info = quant::stream_info(s);
    bits += static_cast<int64_t>(info.expected(blocks)) * info.bits;
  }
  return bits;
}

}  // namespace loft::alloc
