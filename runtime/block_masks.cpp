#include "block_masks.h"

#include <algorithm>
#include <vector>

#include "splitmix.h"

namespace vkattn {

void fill_block_mask(int64_t q_blocks, int64_t k_blocks, int64_t window_blocks, int64_t global_blocks,
                     int64_t random_blocks, uint64_t seed, uint8_t* mask) {
  uint64_t state = seed;
  std::vector<int64_t> hidden;
  for (int64_t a = 0; a < q_blocks; ++a) {
    uint8_t* row = mask + a * k_blocks;
    for (int64_t c = 0; c < k_blocks; ++c) {
      const bool window = c >= a - window_blocks && c <= a + window_blocks;
      row[c] = window || c < global_blocks || a < global_blocks ? 1 : 0;
    }
    if (random_blocks == 0) continue;
    hidden.clear();
    for (int64_t c = 0; c < k_blocks; ++c) {
      if (row[c] == 0) hidden.push_back(c);
    }
    // A partial Fisher-Yates shuffle picks min(random_blocks, hidden) of them.
    const int64_t picks = std::min<int64_t>(random_blocks, static_cast<int64_t>(hidden.size()));
    for (int64_t k = 0; k < picks; ++k) {
      const uint64_t left = static_cast<uint64_t>(hidden.size()) - static_cast<uint64_t>(k);
      const int64_t pick = k + static_cast<int64_t>(splitmix64_next(&state) % left);
      std::swap(hidden[static_cast<size_t>(k)], hidden[static_cast<size_t>(pick)]);
      row[hidden[static_cast<size_t>(k)]] = 1;
    }
  }
}

}  // namespace vkattn
