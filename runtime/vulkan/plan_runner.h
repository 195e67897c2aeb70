// What attention plans (vulkan_plan.cpp) and append plans (append_plan.cpp)
// share to run: the descriptor sets that bind an execution's buffers, the
// plan's own command buffer with its timestamps and last submission, and
// the per-execution words (key and query lengths or append positions, the
// block table). For the plan's own submissions the host writes those words
// into host-visible buffers (after the plan's previous submission
// completed); for recordings into the app's command buffers they are copied
// into the command buffer itself (vkCmdUpdateBuffer), so each recording
// keeps its own and any number may be pending.
#pragma once

#include <memory>
#include <vector>

#include "slicing.h"
#include "vulkan_device.h"

namespace vkattn {
namespace vk {

// What a plan kind tells its runner.
class PlanDispatches {
 public:
  virtual ~PlanDispatches() = default;
  virtual uint32_t slice_count() const = 0;
  // The window of tensor binding `binding` in slice `slice`.
  virtual const Window& window(uint32_t slice, uint32_t binding) const = 0;
  // Binding `binding` of slice `slice` when it is one of the plan's own
  // buffers (parameters, constants, scratch); an info without a buffer if not.
  virtual VkDescriptorBufferInfo own_binding(uint32_t slice, uint32_t binding) const = 0;
  // The dispatches of every slice, binding sets[s] for slice s.
  virtual void record_dispatches(VkCommandBuffer cmd, const VkDescriptorSet* sets) const = 0;
};

// One execution's buffers, by binding (null where none), and words.
struct RunInputs {
  DeviceBuffer* tensors[kBindingCount] = {};
  const std::vector<int32_t>* lengths = nullptr;      // binding kBindingKvLens
  const std::vector<int32_t>* block_table = nullptr;  // binding kBindingBlockTable
};

// The per-execution words of an attention problem (softmax or linear):
// key lengths, query lengths and first packed rows, [batch] each, when
// any is used; the block table of paged K/V. UNSUPPORTED when the block
// table exceeds one binding.
Status attention_words(const Problem& p, const DeviceCaps& caps, uint64_t* length_words, uint64_t* table_words);
// An attention execution's buffers by binding, and its words in *lengths.
RunInputs attention_inputs(const Problem& p, uint64_t length_words, const ExecArgs& args, std::vector<int32_t>* lengths);

class PlanRunner {
 public:
  PlanRunner(VulkanDevice& device, const PlanDispatches& plan) : device_(device), plan_(plan) {}
  ~PlanRunner();
  PlanRunner(const PlanRunner&) = delete;
  PlanRunner& operator=(const PlanRunner&) = delete;

  // Sizes of the per-execution words in int32s (0: the binding is unused).
  Status initialize(uint64_t length_words, uint64_t table_words);
  // VulkanWork, for the plan.
  Status prepare(const RunInputs& inputs, VkCommandBuffer* out, std::vector<VulkanBuffer*>* used);
  void submitted(uint64_t serial) {
    last_serial_ = serial;
    executed_ = true;
  }
  Status prepare_recording(const RunInputs& inputs);
  void record_into(const RunInputs& inputs, VkCommandBuffer cmd) const;

  Status last_time(double* ms);
  Status settle() { return device_.settle(last_serial_); }
  uint64_t workspace_bytes() const;

 private:
  // Descriptor sets (one per slice) binding one set of buffers.
  struct SetGroup {
    std::vector<uint64_t> key;  // serials of the bound buffers
    VkDescriptorPool pool = VK_NULL_HANDLE;
    std::vector<VkDescriptorSet> sets;
  };
  std::vector<uint64_t> key_of(const RunInputs& inputs) const;
  Status create_sets(SetGroup* group);
  void destroy_sets(SetGroup& group);
  void write_sets(const SetGroup& group, const RunInputs& inputs, const VulkanBuffer* lengths,
                  const VulkanBuffer* table) const;
  Status record_own_commands();
  const SetGroup* recorded_sets(const std::vector<uint64_t>& key) const;

  VulkanDevice& device_;
  const PlanDispatches& plan_;
  uint64_t length_words_ = 0;
  uint64_t table_words_ = 0;
  // The plan's own submissions.
  std::unique_ptr<VulkanBuffer> lengths_, table_;  // host-visible, written per execution
  SetGroup own_;
  VkCommandBuffer commands_ = VK_NULL_HANDLE;
  VkQueryPool timestamps_ = VK_NULL_HANDLE;  // none without timestamp support
  uint64_t last_serial_ = 0;
  bool executed_ = false;
  // Recordings into the app's command buffers.
  std::unique_ptr<VulkanBuffer> recorded_lengths_, recorded_table_;  // filled by vkCmdUpdateBuffer
  std::vector<SetGroup> recorded_;
};

}  // namespace vk
}  // namespace vkattn
