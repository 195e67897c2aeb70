// The Vulkan backend's objects. One VulkanDevice per context owns (or, for an
// adopted device, borrows from the app) the instance, VkDevice and queue,
// and owns the command pool, memory choice, pipeline cache and pipelines;
// VulkanBuffer and the plans (vulkan_plan.cpp, append_plan.cpp) borrow it.
//
// Synchronisation model: one queue. Every command buffer starts with a
// global barrier after all earlier work and ends with one before host and
// transfer reads, so submissions are ordered like the calls that made them.
// Each submission gets the next serial number (the API's ticket) and a fence
// from a pool; waiting for serial n waits for the fences of every submission
// up to n, blocking (vkWaitForFences), never spinning. Buffers and plans
// remember the serial of the last submission that used them, so waiting for
// one of them waits for nothing else.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cache_file.h"
#include "device_caps.h"
#include "tuning.h"
#include "runtime/backend.h"
#include "vk_api.h"
#include "vkattn_shaders.h"
#include "vkattn_vulkan.h"

namespace vkattn {
namespace vk {

// A VkInstance with its physical devices described. Validation, when on,
// counts every message it reports (the tests fail on any).
class Instance {
 public:
  static Status create(bool validation, const Logger& log, std::unique_ptr<Instance>* out);
  // The app's instance, loaded through its vkGetInstanceProcAddr; never destroyed here.
  static Status adopt(PFN_vkGetInstanceProcAddr get_proc, VkInstance instance, const Logger& log,
                      std::unique_ptr<Instance>* out);
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

  Status describe_physical_devices();

  std::unique_ptr<Loader> loader_;
  InstanceFunctions fn_;
  VkInstance instance_ = VK_NULL_HANDLE;
  bool owned_ = true;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  Logger log_;
  std::vector<VkPhysicalDevice> physical_;
  std::vector<DeviceCaps> caps_;
};

struct Allocation {
  VkDeviceMemory memory = VK_NULL_HANDLE;  // none for an imported buffer
  void* mapped = nullptr;  // persistently mapped when host-visible (the app's mapping when imported)
  bool coherent = true;
  VkMemoryPropertyFlags properties = 0;
  uint32_t heap = 0;
  uint64_t size = 0;
};

class VulkanDevice;

// A buffer vkattn made, or a range of the app's VkBuffer (imported: the
// VkBuffer and its memory stay the app's).
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
  Status settle() override;

  VkBuffer handle() const { return buffer_; }
  // Bytes [offset, offset + range) of this buffer as a shader binding.
  VkDescriptorBufferInfo descriptor(uint64_t offset, uint64_t range) const { return {buffer_, base_ + offset, range}; }
  uint64_t base() const { return base_; }  // where the buffer starts in the VkBuffer (imported ranges)
  uint64_t serial() const { return serial_; }  // unique per device: never reused, unlike addresses
  uint8_t* mapped() const { return static_cast<uint8_t*>(allocation_.mapped); }
  // Makes host writes in [offset, offset+size) visible to the device (non-coherent memory).
  Status flush(uint64_t offset, uint64_t size);
  // The submission `serial` reads or writes it.
  void used_by(uint64_t serial) { last_use_ = serial; }
  bool imported() const { return imported_; }
  VkBufferUsageFlags usage() const { return usage_; }
  VkMemoryPropertyFlags memory_properties() const { return allocation_.properties; }

 private:
  friend class VulkanDevice;
  // Waits for the submissions that use the buffer.
  Status wait_for_users();

  VulkanDevice& device_;
  uint64_t size_;
  uint64_t serial_;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  uint64_t base_ = 0;
  bool imported_ = false;
  VkBufferUsageFlags usage_ = 0;
  Allocation allocation_;
  uint64_t last_use_ = 0;
};

struct PipelineSpec;

// What the device needs of a plan to submit or record it (attention_plan.cpp,
// append_plan.cpp; both keep a PlanRunner, plan_runner.h).
class VulkanWork {
 public:
  virtual ~VulkanWork() = default;
  // Readies the plan's own command buffer to run `work` (waiting for the
  // plan's previous submission first) and names the buffers it uses.
  virtual Status prepare(const Work& work, VkCommandBuffer* out, std::vector<VulkanBuffer*>* used) = 0;
  // The prepared command buffer went out as submission `serial`.
  virtual void submitted(uint64_t serial) = 0;
  // Makes what recording `work` needs (descriptor sets for its buffers);
  // record_into then cannot fail.
  virtual Status prepare_recording(const Work& work) = 0;
  // Records `work` into the app's command buffer, after vkattn's barrier
  // before it (vkattn_vulkan.h).
  virtual void record_into(const Work& work, VkCommandBuffer cmd) = 0;
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
  // On the app's device (vkattn_context_create_vulkan).
  static Status adopt(const vkattn_context_options& options, const vkattn_vulkan_device& app, const Logger& log,
                      std::unique_ptr<Device>* out);
  ~VulkanDevice() override;

  // Device
  const vkattn_device_info& info() const override { return info_; }
  Status create_buffer(uint64_t size, uint32_t flags, std::unique_ptr<DeviceBuffer>* out) override;
  // A plan with the tuned configuration of its problem class where the
  // tuning table has one, measuring it first when flags has
  // VKATTN_PLAN_TUNE (tuning.h); VKATTN_VULKAN_KERNEL overrides both.
  Status create_plan(const Problem& problem, uint32_t flags, std::unique_ptr<DevicePlan>* out) override;
  Status create_append_plan(const AppendProblem& problem, std::unique_ptr<DeviceAppendPlan>* out) override;
  Status submit(const std::vector<Work>& work, const vkattn_vulkan_sync* sync, uint64_t* ticket) override;
  // One execution on its own (DevicePlan::execute and DeviceAppendPlan::execute).
  Status submit_alone(const Work& work) {
    uint64_t ticket = 0;
    return submit({work}, nullptr, &ticket);
  }
  uint64_t last_ticket() const override { return submitted_serial_; }
  Status wait(uint64_t ticket) override { return wait_for(ticket); }
  Status poll(uint64_t ticket, bool* complete) override;
  Status finish() override;
  Status drain() override;
  Status import_vulkan_buffer(const vkattn_vulkan_buffer& desc, std::unique_ptr<DeviceBuffer>* out) override;
  Status import_android_hardware_buffer(AHardwareBuffer* hardware_buffer, std::unique_ptr<DeviceBuffer>* out) override;
  Status describe_vulkan_buffer(DeviceBuffer& buffer, vkattn_vulkan_buffer* out) override;
  Status describe_vulkan_device(vkattn_vulkan_device* out) override;
  Status record_vulkan(const std::vector<Work>& work, const vkattn_vulkan_recording& recording) override;

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
  // Whether a buffer of this device with that serial still exists.
  bool buffer_alive(uint64_t serial) const { return live_buffers_.count(serial) > 0; }
  void buffer_destroyed(uint64_t serial) { live_buffers_.erase(serial); }
  Status allocate_command_buffer(VkCommandBuffer* out);
  void free_command_buffer(VkCommandBuffer buffer);
  // Submits command buffers as one batch (with the app's semaphores when
  // sync is set) and returns its serial.
  Status submit_commands(const VkCommandBuffer* buffers, uint32_t count, const vkattn_vulkan_sync* sync,
                         uint64_t* serial);
  // Waits until submission `serial` and all before it completed (at once
  // for 0 or a serial already known complete).
  Status wait_for(uint64_t serial);
  // Like wait_for, but when the wait fails returns only once the work can
  // no longer touch memory (for destruction; the failure is still reported).
  Status settle(uint64_t serial);
  // The pipeline of `spec`, created once per context and cached.
  Status pipeline(const PipelineSpec& spec, VkPipeline* out);
  // Whether pipelines keep their executables' statistics (shader report).
  bool captures_statistics() const { return capture_statistics_; }
  // A descriptor pool holding `sets` sets of the shared layout, and the sets.
  Status create_descriptor_sets(uint32_t sets, VkDescriptorPool* pool, std::vector<VkDescriptorSet>* out);
  // Two timestamp queries, or none (*out stays null) without timestamp support.
  Status create_timestamp_queries(VkQueryPool* out);
  // Points the kBindingCount bindings (slicing.h) of a set of the shared
  // layout at infos[0 .. kBindingCount): binding 0 the uniform parameter
  // block, the others storage buffers; an info without a buffer gets the
  // placeholder buffer (a binding the plan's shaders never read).
  void write_descriptor_set(VkDescriptorSet set, VkDescriptorBufferInfo* infos) const;
  // Milliseconds between the two timestamps of `queries` (written by
  // submission `serial`), waiting for it; UNSUPPORTED without timestamps.
  Status elapsed_ms(VkQueryPool queries, uint64_t serial, double* ms);
  // Global barriers that order this command buffer after / before everything.
  void record_barrier_after_prior_work(VkCommandBuffer cmd) const;
  void record_barrier_before_host_reads(VkCommandBuffer cmd) const;
  // Orders work recorded into the app's command buffer after the work before it.
  void record_barrier_between_work(VkCommandBuffer cmd) const;
  // Within one plan's commands: the dispatch after it reads and writes what
  // the shader dispatches before it read and wrote.
  void record_barrier_between_dispatches(VkCommandBuffer cmd) const;

  // Copies through the staging buffer for memory the host cannot map.
  Status staged_write(VulkanBuffer& target, uint64_t offset, const void* data, uint64_t size);
  Status staged_read(VulkanBuffer& source, uint64_t offset, void* data, uint64_t size);

 private:
  VulkanDevice(const Logger& log) : log_(log) {}
  // `report_index` >= 0: a shader-report device (create_for_shader_report).
  Status initialize(const vkattn_context_options& options, int64_t report_index);
  Status initialize_adopted(const vkattn_context_options& options, const vkattn_vulkan_device& app);
  // What every device needs once its VkDevice and queue exist: the final
  // caps_ turned into quirks, info and memory types, and the shared objects.
  Status create_shared_objects(const vkattn_context_options& options, bool report);
  // Hands the batch to the queue or the app's submit callback.
  VkResult queue_submit(const VkSubmitInfo& info, VkFence fence);
  // Marks every submission up to `serial` complete (their fences waited).
  void retire(uint64_t serial);
  // Waits for everything in flight by any means, ignoring failures (for
  // destruction after a failed wait; never vkDeviceWaitIdle on the app's device).
  void wait_idle_for_teardown();
  Status allocate_memory(const VkMemoryRequirements& requirements, bool host_visible, uint64_t size,
                         Allocation* out);
  Status ensure_staging();
  // One chunk through the staging buffer, waited for.
  Status staged_copy(VkBuffer from, uint64_t from_offset, VkBuffer to, uint64_t to_offset, uint64_t size);
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
  std::unique_ptr<VulkanBuffer> placeholder_;  // bound where a shader binding is unused
  std::unique_ptr<VulkanBuffer> staging_;
  VkCommandBuffer staging_commands_ = VK_NULL_HANDLE;
  uint64_t staging_serial_ = 0;  // the staging command buffer's last submission
  // Submissions not yet known complete, in order, with their fences.
  struct InFlight {
    uint64_t serial;
    VkFence fence;
  };
  std::vector<InFlight> in_flight_;
  std::vector<VkFence> fences_;        // every fence made (destroyed with the device)
  std::vector<VkFence> spare_fences_;  // free; reset when taken
  uint64_t submitted_serial_ = 0;      // the last submission's serial
  uint64_t completed_serial_ = 0;      // every submission up to this one completed
  std::set<uint64_t> live_buffers_;    // serials of buffers not yet destroyed
  // Adopted device (vkattn_context_create_vulkan): the app's, never destroyed.
  bool adopted_ = false;
  vkattn_vulkan_submit_fn submit_fn_ = nullptr;
  void* submit_user_data_ = nullptr;
  uint32_t queue_index_ = 0;
  uint32_t instance_api_version_ = 0;
  bool timeline_semaphores_ = false;  // the timelineSemaphore feature is enabled
  bool android_hardware_buffers_ = false;  // VK_ANDROID_external_memory_android_hardware_buffer is enabled
  uint64_t next_serial_ = 1;          // buffer serials
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

// A linear-attention plan (VKATTN_MODE_LINEAR) on `device` (linear_plan.cpp).
Status create_linear_plan(VulkanDevice& device, const Problem& problem, std::unique_ptr<DevicePlan>* out);
// A top-k plan (VKATTN_MODE_TOPK) on `device` (topk_plan.cpp).
Status create_topk_plan(VulkanDevice& device, const Problem& problem, std::unique_ptr<DevicePlan>* out);
// A Linformer plan (VKATTN_MODE_LINFORMER) on `device`, its softmax stage
// with the choices `forced` (linformer_plan.cpp).
Status create_linformer_plan(VulkanDevice& device, const Problem& problem, const KernelOverride& forced,
                             std::unique_ptr<DevicePlan>* out);
// An append plan (vkattn_append_desc) on `device` (append_plan.cpp).
Status create_vulkan_append_plan(VulkanDevice& device, const AppendProblem& problem,
                                 std::unique_ptr<DeviceAppendPlan>* out);

}  // namespace vk
}  // namespace vkattn
