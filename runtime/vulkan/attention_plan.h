// One attention plan on Vulkan, whatever it computes: its stages (the
// softmax kernel's dispatches, linear attention's phases, Linformer's
// projections then softmax) behind PlanDispatches, run by one PlanRunner
// that binds each execution's tensors and words (attention_inputs).
// Executing submits the plan alone; batches and recordings into the app's
// command buffers go through VulkanWork like any plan's.
#pragma once

#include <memory>

#include "plan_runner.h"
#include "vulkan_device.h"

namespace vkattn {
namespace vk {

// What a plan kind provides: its dispatches (PlanDispatches), the plan's
// description, and the buffers the runner does not own.
class PlanStages : public PlanDispatches {
 public:
  // The kernel, tiling, tasks, dispatches and the stages' own workspace
  // (the runner's is added by the plan).
  virtual PlanInfo info() const = 0;
};

// The head-constants binding's buffer (shaders/attention_common.glsl,
// HeadConstants) for the problem's ALiBi slopes, sink logits, RoPE turns
// and block mask with its per-kv-head unions; none (*out null) when it
// uses none of them. block_words receives the first words of the block
// mask and of its unions (set_block_params puts them in P.blocks).
Status create_head_constants(VulkanDevice& device, const Problem& problem, std::unique_ptr<VulkanBuffer>* out,
                             uint32_t block_words[2]);

// Makes the plan around `stages` (initialised already) for `problem`:
// the per-execution words and the runner's descriptor sets and command
// buffer.
Status make_attention_plan(VulkanDevice& device, const Problem& problem, std::unique_ptr<PlanStages> stages,
                           std::unique_ptr<DevicePlan>* out);

}  // namespace vk
}  // namespace vkattn
