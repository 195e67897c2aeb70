// splitmix64 (Steele et al.): a full-period 64-bit generator, one step per
// draw, the same bits on every platform. The library's seeded helpers
// (vkattn_favor_features, vkattn_block_mask_bigbird) draw from it.
#pragma once

#include <cstdint>

namespace vkattn {

inline uint64_t splitmix64_next(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace vkattn
