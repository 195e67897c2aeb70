// The Vulkan backend's objects. One VulkanDevice per context owns the
// instance, VkDevice, queue, command pool, memory choice, pipeline cache and
// pipelines; VulkanBuffer and VulkanPlan (vulkan_plan.cpp) borrow it.
//
// Synchronisation model: one queue. Every command buffer starts with a
// global barrier after all earlier work and ends with one before host and
// transfer reads, so submissions are ordered like the calls that made them.
// Waiting always blocks on fences (vkWaitForFences), never spins.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cache_file.h"
#include "device_caps.h"
#include "tuning.h"
#include "runtime/backend.h"
#include "vk_api.h"
#include "vkattn_shaders.h"

namespace vkattn {
namespace vk {

// A VkInstance with its physical devices described. Validation, when on,
// counts every message it reports (the tests fail on any).
class Instance {
 public:
  static Status create(bool validation, const Logger& log, std::unique_ptr<Instance>* out);
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  const Loader& loader() const { return *loader_; }
  const InstanceFunctions& fn() const { return fn_; }
  VkInstance handle() const { return instance_; }
  const std::vector<VkPhysicalDevice>& physical_devices() const { return physical_; }
  const std::vector<DeviceCaps>& caps() const { return caps_; }
  bool validation_enabled() const { return messenger_ != VK_NULL_HANDLE; }

 private:
  Instance() = default;
  static VKAPI_ATTR VkBool32 VKAPI_CALL on_debug_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                         VkDebugUtilsMessageTypeFlagsEXT types,
                                                         const VkDebugUtilsMessengerCallbackDataEXT* data,
                                                         void* user);
  DeviceCaps describe(uint32_t index, VkPhysicalDevice physical) const;

  std::unique_ptr<Loader> loader_;
  InstanceFunctions fn_;
  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  Logger log_;
  std::vector<VkPhysicalDevice> physical_;
  std::vector<DeviceCaps> caps_;
};

struct Allocation {
  VkDeviceMemory memory = VK_NULL_HANDLE;
  void* mapped = nullptr;  // persistently mapped when host-visible
  bool coherent = true;
  uint32_t heap = 0;
  uint64_t size = 0;
};

class VulkanDevice;

class VulkanBuffer final : public DeviceBuffer {
 public:
  VulkanBuffer(VulkanDevice& device, uint64_t size, uint64_t serial) : device_(device), size_(size), serial_(serial) {}
  ~VulkanBuffer() override;

  uint64_t size() const override { return size_; }
  bool host_visible() const override { return allocation_.mapped != nullptr; }
  Status write(uint64_t offset, const void* data, uint64_t size) override;
  Status read(uint64_t offset, void* data, uint64_t size) override;
  Status map(void** pointer) override;
  Status unmap() override;

  VkBuffer handle() const { return buffer_; }
  uint64_t serial() const { return serial_; }  // unique per device: never reused, unlike addresses
  uint8_t* mapped() const { return static_cast<uint8_t*>(allocation_.mapped); }
  // Makes host writes in [offset, offset+size) visible to the device (non-coherent memory).
  Status flush(uint64_t offset, uint64_t size);

 private:
  friend class VulkanDevice;
  VulkanDevice& device_;
  uint64_t size_;
  uint64_t serial_;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  Allocation allocation_;
};

struct PipelineSpec;

// What every plan (attention or append) holds besides its buffers and
// pipelines: one descriptor set per slice, a command buffer, a fence and,
// where the queue has them, two timestamp queries.
struct PlanObjects {
  VkDescriptorPool pool = VK_NULL_HANDLE;
  std::vector<VkDescriptorSet> sets;
  VkCommandBuffer commands = VK_NULL_HANDLE;
  VkFence fence = VK_NULL_HANDLE;
  VkQueryPool timestamps = VK_NULL_HANDLE;  // none without timestamp support
};

class VulkanDevice final : public Device {
 public:
  static Status create(const vkattn_context_options& options, const Logger& log, std::unique_ptr<Device>* out);
  // A device for the shader report: any physical device, including
  // compile-only ones (no memory types), with pipelines keeping the
  // driver's statistics and internal representations where it has
  // VK_KHR_pipeline_executable_properties. No buffer can be made and
  // nothing is executed on it.
  static Status create_for_shader_report(uint32_t index, const Logger& log, std::unique_ptr<VulkanDevice>* out);
  ~VulkanDevice() override;

  // Device
  const vkattn_device_info& info() const override { return info_; }
  Status create_buffer(uint64_t size, uint32_t flags, std::unique_ptr<DeviceBuffer>* out) override;
  // A plan with the tuned configuration of its problem class where the
  // tuning table has one, measuring it first when flags has
  // VKATTN_PLAN_TUNE (tuning.h); VKATTN_VULKAN_KERNEL overrides both.
  Status create_plan(const Problem& problem, uint32_t flags, std::unique_ptr<DevicePlan>* out) override;
  Status create_append_plan(const AppendProblem& problem, std::unique_ptr<DeviceAppendPlan>* out) override;
  Status finish() override;
  Status drain() override;

  // For buffers and plans.
  const DeviceFunctions& fn() const { return fn_; }
  VkDevice handle() const { return device_; }
  const DeviceCaps& caps() const { return caps_; }
  const Quirks& quirks() const { return quirks_; }
  const KernelOverride& forced() const { return forced_; }  // VKATTN_VULKAN_KERNEL
  const Logger& log() const { return log_; }
  VkDescriptorSetLayout set_layout() const { return set_layout_; }
  VkPipelineLayout pipeline_layout() const { return pipeline_layout_; }

  // FAILED_PRECONDITION once the device was lost.
  Status usable() const;
  // Converts a failed VkResult, remembering device loss.
  Status check(VkResult result, const char* call);

  Status create_vulkan_buffer(uint64_t size, bool host_visible, std::unique_ptr<VulkanBuffer>* out);
  void free_memory(Allocation& allocation);
  Status allocate_command_buffer(VkCommandBuffer* out);
  void free_command_buffer(VkCommandBuffer buffer);
  Status create_fence(VkFence* out);
  // Submits and registers the fence as in flight.
  Status submit(VkCommandBuffer buffer, VkFence fence);
  // Waits for one in-flight fence (no-op if it is not in flight).
  Status wait(VkFence fence);
  // The pipeline of `spec`, created once per context and cached.
  Status pipeline(const PipelineSpec& spec, VkPipeline* out);
  // Whether pipelines keep their executables' statistics (shader report).
  bool captures_statistics() const { return capture_statistics_; }
  // Creates a plan's objects with `sets` descriptor sets of the shared layout.
  Status create_plan_objects(uint32_t sets, PlanObjects* out);
  // Points the kBindingCount bindings (slicing.h) of a set of the shared
  // layout at infos[0 .. kBindingCount): binding 0 the uniform parameter
  // block, the others storage buffers; an info without a buffer gets the
  // placeholder buffer (a binding the plan's shaders never read).
  void write_descriptor_set(VkDescriptorSet set, VkDescriptorBufferInfo* infos) const;
  // Waits for the plan's last submission (draining the device if that
  // fails) and destroys whatever of `objects` was created.
  void destroy_plan_objects(PlanObjects& objects);
  // Milliseconds between the two timestamps of `queries` (written by the
  // work `fence` tracks), waiting for it; UNSUPPORTED without timestamps.
  Status elapsed_ms(VkQueryPool queries, VkFence fence, double* ms);
  // Global barriers that order this command buffer after / before everything.
  void record_barrier_after_prior_work(VkCommandBuffer cmd) const;
  void record_barrier_before_host_reads(VkCommandBuffer cmd) const;

  // Copies through the staging buffer for memory the host cannot map.
  Status staged_write(VulkanBuffer& target, uint64_t offset, const void* data, uint64_t size);
  Status staged_read(VulkanBuffer& source, uint64_t offset, void* data, uint64_t size);

 private:
  VulkanDevice(const Logger& log) : log_(log) {}
  // `report_index` >= 0: a shader-report device (create_for_shader_report).
  Status initialize(const vkattn_context_options& options, int64_t report_index);
  Status allocate_memory(const VkMemoryRequirements& requirements, bool host_visible, uint64_t size,
                         Allocation* out);
  Status ensure_staging();
  void save_pipeline_cache();
  void load_tuning_cache();
  void save_tuning_cache();
  // Finds or (VKATTN_PLAN_TUNE) measures the tuned choice of the problem's class.
  Status tuned_choice(const Problem& problem, uint32_t flags, const TunedEntry** out);

  Logger log_;
  std::unique_ptr<Instance> instance_;
  DeviceCaps caps_;
  Quirks quirks_;
  KernelOverride forced_;
  vkattn_device_info info_{};
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkPhysicalDeviceMemoryProperties memory_{};
  DeviceFunctions fn_;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queue_family_ = 0;
  VkCommandPool command_pool_ = VK_NULL_HANDLE;
  VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
  VkPipelineLayout pipeline_layout_ = VK_NULL_HANDLE;
  VkPipelineCache pipeline_cache_ = VK_NULL_HANDLE;
  std::string pipeline_cache_path_;
  CacheIdentity cache_identity_;  // of this device and driver, for both cache files
  TuningTable tuning_;
  std::string tuning_cache_path_;
  std::map<shaders::ShaderId, VkShaderModule> modules_;
  std::map<std::pair<uint32_t, std::vector<uint32_t>>, VkPipeline> pipelines_;
  std::vector<VkFence> in_flight_;
  std::unique_ptr<VulkanBuffer> placeholder_;  // bound where a shader binding is unused
  std::unique_ptr<VulkanBuffer> staging_;
  VkCommandBuffer staging_commands_ = VK_NULL_HANDLE;
  VkFence staging_fence_ = VK_NULL_HANDLE;
  uint64_t next_serial_ = 1;
  uint64_t heap_used_[VK_MAX_MEMORY_HEAPS] = {};  // bytes this context holds per heap
  bool lost_ = false;
  bool capture_statistics_ = false;
  bool submitted_ = false;  // anything was ever submitted (compile-only devices never submit)
};

// Describes a device for vkattn_device_info (vulkan_instance.cpp).
void fill_device_info(const DeviceCaps& caps, vkattn_device_info* info);

// Builds a plan for `problem` on `device` with the choices `forced`
// (automatic where not set); `tuned`: they are a tuned entry's
// (vulkan_plan.cpp).
Status create_vulkan_plan(VulkanDevice& device, const Problem& problem, const KernelOverride& forced, bool tuned,
                          std::unique_ptr<DevicePlan>* out);

// An append plan (vkattn_append_desc) on `device` (append_plan.cpp).
Status create_vulkan_append_plan(VulkanDevice& device, const AppendProblem& problem,
                                 std::unique_ptr<DeviceAppendPlan>* out);

}  // namespace vk
}  // namespace vkattn
