// The softmax attention plan (softmax_stages.h): everything an execution
// needs is created here once (kernel config, slices, pipelines, parameter
// block, split-KV scratch, and through the plan's PlanRunner the descriptor
// sets and command buffer). An execution writes the lengths, updates the
// descriptor sets and re-records the command buffer only if different
// buffers are bound than last time, and submits: executing a plan 1000
// times creates no Vulkan object and allocates no device memory.
#include <algorithm>
#include <cstddef>
#include <cstring>

#include "runtime/checked_math.h"
#include "shader_params.h"
#include "softmax_stages.h"

namespace vkattn {
namespace vk {

namespace {

// Block-sparse: appends the block mask's bytes and their unions over each
// kv head's query heads, [batch|1, kv_heads|1, query blocks, key blocks]
// (none when the heads share the mask: the mask is its own union), to the
// head-constant words, noting where each starts in block_words.
Status append_block_mask_words(const Problem& p, const DeviceCaps& caps, std::vector<uint32_t>* words,
                               uint32_t block_words[2]) {
  const std::vector<uint8_t>& mask = *p.block_mask;
  std::vector<uint8_t> unions;
  if (p.block_mask_heads > 1) {
    const uint64_t row_bytes = static_cast<uint64_t>(p.q_blocks * p.k_blocks);
    const int64_t group = p.group();
    unions.assign(static_cast<size_t>(p.block_mask_batch * p.kv_heads) * row_bytes, 0);
    for (int64_t mb = 0; mb < p.block_mask_batch; ++mb) {
      for (int64_t h = 0; h < p.q_heads; ++h) {
        const uint8_t* from = mask.data() + (mb * p.q_heads + h) * row_bytes;
        uint8_t* to = unions.data() + (mb * p.kv_heads + h / group) * row_bytes;
        for (uint64_t e = 0; e < row_bytes; ++e) to[e] |= from[e];
      }
    }
  }
  const uint64_t mask_words = ceil_div(uint64_t{mask.size()}, uint64_t{4});
  const uint64_t union_words = ceil_div(uint64_t{unions.size()}, uint64_t{4});
  const uint64_t first = words->size();
  const uint64_t bytes = (first + mask_words + union_words) * 4;  // <= 2^30 + 2^30 + small
  if (bytes > caps.max_storage_buffer_range) {
    return unsupported("the block mask (vkattn_attention_desc.block_sparse.mask, %llu bytes with its per-kv-head "
                       "unions and the head constants) exceeds maxStorageBufferRange (%llu bytes) on %s",
                       (unsigned long long)bytes, (unsigned long long)caps.max_storage_buffer_range, caps.name.c_str());
  }
  words->resize(static_cast<size_t>(first + mask_words + union_words), 0u);
  std::memcpy(words->data() + first, mask.data(), mask.size());
  if (!unions.empty()) std::memcpy(words->data() + first + mask_words, unions.data(), unions.size());
  block_words[0] = static_cast<uint32_t>(first);
  block_words[1] = static_cast<uint32_t>(unions.empty() ? first : first + mask_words);
  return Status();
}

}  // namespace

Status create_head_constants(VulkanDevice& device, const Problem& p, std::unique_ptr<VulkanBuffer>* out,
                             uint32_t block_words[2]) {
  out->reset();
  block_words[0] = block_words[1] = 0;
  if (p.alibi_slopes.empty() && p.sinks.empty() && !p.rope.enabled() && !p.block_sparse()) return Status();
  // q_heads < 2^30 (kernel_config) and dims <= 4096: 4 * (2 q_heads +
  // dims) bytes cannot overflow. Words: ALiBi slopes and sink logits (f32
  // bits), then each RoPE pair's turns, high word first; then the block
  // mask's bytes and their unions over each kv head's query heads.
  const size_t heads = static_cast<size_t>(p.q_heads);
  std::vector<uint32_t> words(2 * heads + 2 * p.rope.turns.size(), 0u);
  if (!p.alibi_slopes.empty()) std::memcpy(words.data(), p.alibi_slopes.data(), heads * 4);
  if (!p.sinks.empty()) std::memcpy(words.data() + heads, p.sinks.data(), heads * 4);
  for (size_t pair = 0; pair < p.rope.turns.size(); ++pair) {
    words[2 * heads + 2 * pair] = static_cast<uint32_t>(p.rope.turns[pair] >> 32);
    words[2 * heads + 2 * pair + 1] = static_cast<uint32_t>(p.rope.turns[pair]);
  }
  if (p.block_sparse()) VKATTN_RETURN_IF_ERROR(append_block_mask_words(p, device.caps(), &words, block_words));
  VKATTN_RETURN_IF_ERROR(device.create_vulkan_buffer(words.size() * 4, true, out));
  std::memcpy((*out)->mapped(), words.data(), words.size() * 4);
  return (*out)->flush(0, words.size() * 4);
}

Status SoftmaxStages::initialize() {
  const DeviceCaps& caps = device_.caps();
  VKATTN_RETURN_IF_ERROR(plan_layout(p_, caps, device_.quirks(), forced_, &layout_));
  if (layout_.scratch_bytes > 0) {
    VKATTN_RETURN_IF_ERROR(device_.create_vulkan_buffer(layout_.scratch_bytes, false, &partials_));
  }
  for (const ChunkRole role : {kOnlyOrFirstChunk, kMiddleChunk, kLastChunk}) {
    if (layout_.attention[role] < 0) continue;
    VKATTN_RETURN_IF_ERROR(device_.pipeline(layout_.pipelines[layout_.attention[role]], &attention_[role]));
  }
  if (layout_.reduce >= 0) VKATTN_RETURN_IF_ERROR(device_.pipeline(layout_.pipelines[layout_.reduce], &reduce_));

  VKATTN_RETURN_IF_ERROR(create_head_constants(device_, p_, &head_constants_, block_words_));
  // The parameter block: one std140 record per slice.
  params_stride_ = (sizeof(ShaderParams) + caps.uniform_offset_alignment - 1) / caps.uniform_offset_alignment *
                   caps.uniform_offset_alignment;
  VKATTN_RETURN_IF_ERROR(device_.create_vulkan_buffer(params_stride_ * layout_.slices.size(), true, &params_));
  const int64_t group = p_.group();
  for (size_t s = 0; s < layout_.slices.size(); ++s) {
    const Slice& slice = layout_.slices[s];
    ShaderParams params = slice_params(p_, slice);
    params.split[0] = config_.kv_splits;
    params.split[1] = static_cast<uint32_t>(ceil_div(p_.kv_len, static_cast<int64_t>(config_.kv_splits)));
    params.split[2] = static_cast<uint32_t>(rows_in_slice(slice));
    params.split[3] = static_cast<uint32_t>((slice.kv_head_end - slice.kv_head_begin) * group);
    set_block_params(p_, block_words_, &params);
    std::memcpy(params_->mapped() + s * params_stride_, &params, sizeof(params));
  }
  VKATTN_RETURN_IF_ERROR(params_->flush(0, params_stride_ * layout_.slices.size()));
  return Status();
}

VkDescriptorBufferInfo SoftmaxStages::own_binding(uint32_t slice, uint32_t binding) const {
  if (projected_kv_ != nullptr && (binding == kBindingK || binding == kBindingV)) {
    const Window& window = layout_.slices[slice].windows[binding];
    return projected_kv_->descriptor((binding == kBindingV ? projected_v_offset_ : 0) + window.offset, window.range);
  }
  if (binding == kBindingParams) return params_->descriptor(slice * params_stride_, sizeof(ShaderParams));
  if (binding == kBindingHeadConstants && head_constants_ != nullptr) return head_constants_->descriptor(0, VK_WHOLE_SIZE);
  if (binding == kBindingPartials && partials_ != nullptr) {
    return partials_->descriptor(0, layout_.slices[slice].windows[binding].range);
  }
  return VkDescriptorBufferInfo{};
}

void SoftmaxStages::record_dispatches(VkCommandBuffer cmd, const VkDescriptorSet* sets) const {
  const DeviceFunctions& fn = device_.fn();
  const uint32_t max_x = device_.caps().max_workgroup_count[0];
  const uint64_t blocks = ceil_div(static_cast<uint64_t>(p_.group() * p_.q_len), static_cast<uint64_t>(config_.block_q));
  for (size_t s = 0; s < layout_.slices.size(); ++s) {
    const Slice& slice = layout_.slices[s];
    fn.vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, device_.pipeline_layout(), 0, 1, &sets[s], 0,
                               nullptr);
    const uint32_t heads = static_cast<uint32_t>(slice.kv_head_end - slice.kv_head_begin);
    const uint32_t depth = static_cast<uint32_t>(slice.batch_end - slice.batch_begin) * config_.kv_splits;
    for (uint32_t chunk = 0; chunk < layout_.chunk_count; ++chunk) {
      if (chunk > 0) {  // the previous chunk's (O, m, l) are read back
        device_.record_barrier_between_dispatches(cmd);
      }
      const ChunkRole role = chunk == 0 ? kOnlyOrFirstChunk : chunk + 1 < layout_.chunk_count ? kMiddleChunk : kLastChunk;
      fn.vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, attention_[role]);
      // Row blocks x kv heads per dispatch: as the layout bounds them
      // (maxComputeWorkGroupCount, the GPU watchdog budget).
      const uint64_t step = layout_.blocks_per_dispatch;
      const uint32_t head_step = std::min(heads, layout_.heads_per_dispatch);
      for (uint32_t head_base = 0; head_base < heads; head_base += head_step) {
        for (uint64_t base = 0; base < blocks; base += step) {
          const DispatchConstants constants{static_cast<uint32_t>(base), chunk, layout_.chunk_keys,
                                            layout_.chunk_count, head_base, 0};
          fn.vkCmdPushConstants(cmd, device_.pipeline_layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(constants),
                                &constants);
          fn.vkCmdDispatch(cmd, static_cast<uint32_t>(std::min<uint64_t>(step, blocks - base)),
                           std::min(head_step, heads - head_base), depth);
        }
      }
    }
    if (config_.kv_splits > 1) {
      device_.record_barrier_between_dispatches(cmd);
      fn.vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, reduce_);
      const uint64_t rows = rows_in_slice(slice);
      for (uint64_t base = 0; base < rows; base += max_x) {
        const DispatchConstants constants{static_cast<uint32_t>(base), 0, 0, 1, 0, 0};
        fn.vkCmdPushConstants(cmd, device_.pipeline_layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(constants),
                              &constants);
        fn.vkCmdDispatch(cmd, static_cast<uint32_t>(std::min<uint64_t>(max_x, rows - base)), 1, 1);
      }
    }
    if (partials_ != nullptr && s + 1 < layout_.slices.size()) {  // the next slice reuses the scratch
      device_.record_barrier_between_dispatches(cmd);
    }
  }
}

PlanInfo SoftmaxStages::info() const {
  PlanInfo info;
  info.kernel = "vulkan." + variant_name(config_, p_.dtype);
  info.tuned = tuned_;
  info.block_q = config_.block_q;
  info.block_kv = config_.block_kv;
  info.kv_splits = config_.kv_splits;
  const uint64_t blocks = ceil_div(static_cast<uint64_t>(p_.group() * p_.q_len), static_cast<uint64_t>(config_.block_q));
  info.tasks = static_cast<uint32_t>(
      std::min<uint64_t>(UINT32_MAX, blocks * static_cast<uint64_t>(p_.kv_heads * p_.batch) * config_.kv_splits));
  const uint32_t max_x = device_.caps().max_workgroup_count[0];
  uint64_t dispatches = 0;
  for (const Slice& slice : layout_.slices) {
    const uint64_t heads = static_cast<uint64_t>(slice.kv_head_end - slice.kv_head_begin);
    dispatches += layout_.chunk_count * ceil_div(blocks, uint64_t{layout_.blocks_per_dispatch}) *
                  ceil_div(heads, std::min<uint64_t>(heads, layout_.heads_per_dispatch));
    if (config_.kv_splits > 1) dispatches += ceil_div(rows_in_slice(slice), uint64_t{max_x});
  }
  info.dispatches = static_cast<uint32_t>(std::min<uint64_t>(UINT32_MAX, dispatches));
  info.workspace_bytes =
      params_->size() + (partials_ ? partials_->size() : 0) + (head_constants_ ? head_constants_->size() : 0);
  return info;
}

Status create_vulkan_plan(VulkanDevice& device, const Problem& problem, const KernelOverride& forced, bool tuned,
                          std::unique_ptr<DevicePlan>* out) {
  std::unique_ptr<SoftmaxStages> stages(new SoftmaxStages(device, problem, forced, tuned));
  VKATTN_RETURN_IF_ERROR(stages->initialize());
  return make_attention_plan(device, problem, std::move(stages), out);
}

}  // namespace vk
}  // namespace vkattn

namespace vkattn {
namespace vk {

namespace {

void set_view(uint32_t* out, const RelativeView& view) {
  out[0] = view.offset;
  out[1] = view.batch_stride;
  out[2] = view.head_stride;
  out[3] = view.seq_stride;
}

}  // namespace

ShaderParams slice_params(const Problem& p, const Slice& slice) {
  ShaderParams params{};
  set_view(params.q_view, slice.q);
  set_view(params.k_view, slice.k);
  set_view(params.v_view, slice.v);
  set_view(params.o_view, slice.out);
  set_view(params.lse_view, slice.lse);
  set_view(params.amask_view, slice.additive_mask);
  set_view(params.bmask_view, slice.bool_mask);
  params.mask_cols[0] = slice.additive_mask.col_stride;
  params.mask_cols[1] = slice.bool_mask.col_stride;
  params.mask_cols[2] = static_cast<uint32_t>(p.max_pages);  // paged: the block table's row length
  params.mask_cols[3] = static_cast<uint32_t>(p.batch);      // where the query lengths start in the lengths buffer
  params.sizes[0] = static_cast<uint32_t>(slice.batch_end - slice.batch_begin);
  params.sizes[1] = static_cast<uint32_t>(p.group());
  params.sizes[2] = static_cast<uint32_t>(p.q_len);
  params.sizes[3] = static_cast<uint32_t>(p.kv_len);
  params.masking[0] = static_cast<int32_t>(p.causal);
  params.masking[1] = static_cast<int32_t>(p.window_left);
  params.masking[2] = static_cast<int32_t>(p.window_right);
  params.masking[3] = static_cast<int32_t>(slice.batch_begin);
  params.split[0] = 1;
  params.scaling[0] = p.scale;
  params.scaling[1] = p.softcap;
  params.heads[0] = static_cast<uint32_t>(slice.kv_head_begin * p.group());
  params.heads[1] = static_cast<uint32_t>(p.q_heads);
  params.heads[2] = static_cast<uint32_t>(p.global_keys);  // <= kv_len < 2^30 (kernel_config.cpp)
  params.heads[3] = static_cast<uint32_t>(p.rope.dims);     // 0 without RoPE
  return params;
}

void set_block_params(const Problem& p, const uint32_t block_words[2], ShaderParams* params) {
  if (!p.block_sparse()) return;
  params->blocks[0] = block_words[0];
  params->blocks[1] = block_words[1];
  params->blocks[2] = static_cast<uint32_t>(p.k_blocks);
  params->blocks[3] = static_cast<uint32_t>(p.q_blocks);
}

}  // namespace vk
}  // namespace vkattn
