#pragma once
// Randomness is explicit: every draw comes from a generator seeded from the point's seed and a
// tag naming the purpose (tensor name, "svd", ...), so a result does not depend on thread count
// or on which other work ran before.
#include <cstdint>
#include <random>
#include <string_view>

namespace loft {

using Rng = std::mt19937_64;

// splitmix64 finaliser: decorrelates nearby seeds.
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// FNV-1a of the tag, mixed with the seed.
inline uint64_t derive_seed(uint64_t seed, std::string_view tag) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : tag) h = (h ^ c) * 1099511628211ULL;
  return mix64(seed ^ mix64(h));
}

inline Rng make_rng(uint64_t seed, std::string_view tag = {}) {
  return Rng(derive_seed(seed, tag));
}

}  // namespace loft
