// The softmax attention kernel's stages: everything a plan of one problem
// creates once (kernel configuration, slices, pipelines, the parameter
// block, split-KV scratch, the head constants) and the dispatches of each
// execution. Exact plans run them alone; Linformer plans run them over
// their projected keys and values (use_projected_kv).
#pragma once

#include <memory>
#include <vector>

#include "attention_plan.h"
#include "plan_layout.h"

namespace vkattn {
namespace vk {

class SoftmaxStages final : public PlanStages {
 public:
  // `forced`: VKATTN_VULKAN_KERNEL, a tuned choice (`tuned`) or a tuning
  // candidate; automatic where not set.
  SoftmaxStages(VulkanDevice& device, const Problem& problem, const KernelOverride& forced, bool tuned)
      : device_(device), p_(problem), forced_(forced), tuned_(tuned) {}
  Status initialize();
  // K and V are bound from `buffer` (K at its start, V from byte
  // v_offset, both aligned for storage bindings) instead of the
  // execution's K and V.
  void use_projected_kv(const VulkanBuffer* buffer, uint64_t v_offset) {
    projected_kv_ = buffer;
    projected_v_offset_ = v_offset;
  }

  // PlanDispatches
  uint32_t slice_count() const override { return static_cast<uint32_t>(layout_.slices.size()); }
  const Window& window(uint32_t slice, uint32_t binding) const override { return layout_.slices[slice].windows[binding]; }
  VkDescriptorBufferInfo own_binding(uint32_t slice, uint32_t binding) const override;
  void record_dispatches(VkCommandBuffer cmd, const VkDescriptorSet* sets) const override;
  // PlanStages
  PlanInfo info() const override;

 private:
  uint64_t rows_in_slice(const Slice& slice) const {
    return static_cast<uint64_t>(slice.batch_end - slice.batch_begin) *
           static_cast<uint64_t>(slice.kv_head_end - slice.kv_head_begin) * static_cast<uint64_t>(p_.group()) *
           static_cast<uint64_t>(p_.q_len);
  }

  VulkanDevice& device_;
  Problem p_;
  KernelOverride forced_;
  bool tuned_;  // forced_ is a tuned choice
  PlanLayout layout_;
  const KernelConfig& config_ = layout_.config;
  VkPipeline attention_[3] = {};  // by ChunkRole
  VkPipeline reduce_ = VK_NULL_HANDLE;
  std::unique_ptr<VulkanBuffer> params_;
  std::unique_ptr<VulkanBuffer> partials_;
  std::unique_ptr<VulkanBuffer> head_constants_;  // ALiBi slopes, sinks ([q_heads] each), RoPE turns (when used)
  uint64_t params_stride_ = 0;
  uint32_t block_words_[2] = {};  // block-sparse: the mask's and the unions' first head-constant words
  const VulkanBuffer* projected_kv_ = nullptr;  // not owned
  uint64_t projected_v_offset_ = 0;
};

}  // namespace vk
}  // namespace vkattn
