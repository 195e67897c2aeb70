// The parameter block and push constants every attention shader reads
// (shaders/attention_common.glsl: Params, Dispatch), and how a plan fills
// one slice's block. Shared by the softmax plan (vulkan_plan.cpp) and the
// linear-attention plan (linear_plan.cpp).
#pragma once

#include <cstdint>

#include "runtime/problem.h"
#include "slicing.h"

namespace vkattn {
namespace vk {

// Mirrors the std140 Params block in shaders/attention_common.glsl.
struct ShaderParams {
  uint32_t q_view[4];
  uint32_t k_view[4];
  uint32_t v_view[4];
  uint32_t o_view[4];
  uint32_t lse_view[4];
  uint32_t amask_view[4];
  uint32_t bmask_view[4];
  uint32_t mask_cols[4];
  uint32_t sizes[4];
  int32_t masking[4];
  uint32_t split[4];
  float scaling[4];
  uint32_t heads[4];
  uint32_t blocks[4];
};
static_assert(sizeof(ShaderParams) == 224, "std140 layout of Params");

// Mirrors the Dispatch push-constant block in shaders/attention_common.glsl.
struct DispatchConstants {
  uint32_t block_base;
  uint32_t chunk;
  uint32_t chunk_keys;
  uint32_t chunk_count;
  uint32_t head_base;
  uint32_t batch_base;
};

// Slice `slice`'s block: its views, sizes, masking, scaling and heads.
// The split words are the caller's (no key splits: kv_splits 1).
ShaderParams slice_params(const Problem& p, const Slice& slice);
// Block-sparse: the block mask's and its unions' first head-constant
// words (create_head_constants) and the block counts, into P.blocks.
void set_block_params(const Problem& p, const uint32_t block_words[2], ShaderParams* params);

}  // namespace vk
}  // namespace vkattn
