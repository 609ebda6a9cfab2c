#pragma once
// Sweep points and their ids. A point is the normalised parameters of one run; its id is the
// first 12 hex digits of FNV-1a 64 over a canonical text of those parameters, so the same point
// has the same id in every run, grid order and machine.
#include <cstdint>
#include <string>
#include <string_view>

#include "io/results/record.hpp"

namespace loft::sweep {

using results::Params;
using results::Value;

struct Point {
  std::string id;
  Params params;
};

// Canonical text of one value: integers in decimal, reals as the shortest text that reads back
// to the same double ("0.5", "1e-05"; an integral real keeps a ".0" so 4.0 and 4 differ), strings
// as-is with '\', ';' and '=' escaped by a backslash.
std::string canonical(const Value& v);
// "key=value;" for every parameter, keys in byte order (std::map's order).
std::string canonical(const Params& params);

uint64_t fnv1a64(std::string_view bytes);
uint64_t point_hash(const Params& params);   // the id's 48 bits: fnv1a64(canonical) >> 16
std::string point_id(const Params& params);  // 12 lowercase hex digits
// Throws unless id is point_id(params): a stored point whose parameters were edited, or that was
// copied under another point's name, is not that point.
void check_point_id(const std::string& id, const Params& params);

// "method=loftq quant=nf2 rank=8 ..." for listings.
std::string describe(const Params& params);

}  // namespace loft::sweep
