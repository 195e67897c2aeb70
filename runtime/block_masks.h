// Block-mask patterns for block-sparse attention (vkattn_block_mask_longformer,
// vkattn_block_mask_bigbird).
#pragma once

#include <cstdint>

namespace vkattn {

// Fills mask [q_blocks, k_blocks] (row-major, 1 = visible): the sliding
// window |a - c| <= window_blocks, the first global_blocks key blocks for
// every query block, every key block for the first global_blocks query
// blocks; then random_blocks more key blocks per query block, drawn
// without replacement from those not yet visible (all of them when fewer
// remain) with splitmix64 from `seed`. Sizes are checked by the caller.
void fill_block_mask(int64_t q_blocks, int64_t k_blocks, int64_t window_blocks, int64_t global_blocks,
                     int64_t random_blocks, uint64_t seed, uint8_t* mask);

}  // namespace vkattn
