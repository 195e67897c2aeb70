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

// Makes the plan around `stages` (initialised already) for `problem`:
// the per-execution words and the runner's descriptor sets and command
// buffer.
Status make_attention_plan(VulkanDevice& device, const Problem& problem, std::unique_ptr<PlanStages> stages,
                           std::unique_ptr<DevicePlan>* out);

}  // namespace vk
}  // namespace vkattn
