#include "vulkan_device.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "cache_file.h"
#include "plan_layout.h"
#include "shader_params.h"
#include "slicing.h"
#include "runtime/checked_math.h"

namespace vkattn {
namespace vk {

namespace {

// Fences are waited in slices of this length; a device that has not finished
// after kFenceTimeoutNs in total is reported instead of waited on forever.
constexpr uint64_t kFenceTimeoutNs = 600ull * 1000 * 1000 * 1000;
constexpr uint64_t kStagingBytes = 16ull << 20;
constexpr uint64_t kBufferPadding = 16;  // shaders read whole words at the end of byte views

bool validation_requested(const vkattn_context_options& options) {
  if (options.flags & VKATTN_CONTEXT_ENABLE_VALIDATION) return true;
  const char* env = std::getenv("VKATTN_VALIDATION");
  return env != nullptr && env[0] != '\0' && std::strcmp(env, "0") != 0;
}

}  // namespace

Status VulkanDevice::create(const vkattn_context_options& options, const Logger& log, std::unique_ptr<Device>* out) {
  std::unique_ptr<VulkanDevice> device(new VulkanDevice(log));
  VKATTN_RETURN_IF_ERROR(device->initialize(options, -1));
  *out = std::move(device);
  return Status();
}

Status VulkanDevice::create_for_shader_report(uint32_t index, const Logger& log, std::unique_ptr<VulkanDevice>* out) {
  std::unique_ptr<VulkanDevice> device(new VulkanDevice(log));
  vkattn_context_options options;
  vkattn_context_options_init(&options);
  VKATTN_RETURN_IF_ERROR(device->initialize(options, index));
  *out = std::move(device);
  return Status();
}

Status VulkanDevice::initialize(const vkattn_context_options& options, int64_t report_index) {
  const bool report = report_index >= 0;
  VKATTN_RETURN_IF_ERROR(Instance::create(!report && validation_requested(options), log_, &instance_));
  uint32_t chosen = 0;
  if (report) {
    if (report_index >= static_cast<int64_t>(instance_->caps().size())) {
      return backend_unavailable("there is no Vulkan device %lld (%zu exist)", (long long)report_index,
                                 instance_->caps().size());
    }
    chosen = static_cast<uint32_t>(report_index);
  } else {
    VKATTN_RETURN_IF_ERROR(
        choose_device(instance_->caps(), options.device_index, std::getenv("VKATTN_DEVICE"), &chosen));
  }
  caps_ = instance_->caps()[chosen];
  physical_ = instance_->physical_devices()[chosen];
  const InstanceFunctions& ifn = instance_->fn();

  uint32_t family_count = 0;
  ifn.vkGetPhysicalDeviceQueueFamilyProperties(physical_, &family_count, nullptr);
  std::vector<VkQueueFamilyProperties> families(family_count);
  ifn.vkGetPhysicalDeviceQueueFamilyProperties(physical_, &family_count, families.data());
  bool found = false;
  for (uint32_t f = 0; f < family_count && !found; ++f) {
    if (families[f].queueFlags & VK_QUEUE_COMPUTE_BIT) {
      queue_family_ = f;
      found = true;
    }
  }
  if (!found) return backend_unavailable("%s has no compute queue", caps_.name.c_str());

  std::vector<const char*> extensions;
  uint32_t extension_count = 0;
  std::vector<VkExtensionProperties> available;
  VKATTN_VK_CHECK(ifn.vkEnumerateDeviceExtensionProperties(physical_, nullptr, &extension_count, nullptr),
                  "vkEnumerateDeviceExtensionProperties");
  available.resize(extension_count);
  VKATTN_VK_CHECK(ifn.vkEnumerateDeviceExtensionProperties(physical_, nullptr, &extension_count, available.data()),
                  "vkEnumerateDeviceExtensionProperties");
  auto has_extension = [&](const char* name) {
    for (const VkExtensionProperties& e : available) {
      if (std::strcmp(e.extensionName, name) == 0) return true;
    }
    return false;
  };
  if (has_extension("VK_KHR_portability_subset")) extensions.push_back("VK_KHR_portability_subset");
#if defined(__ANDROID__)
  // AHardwareBuffer import (vkattn_buffer_import_android_hardware_buffer);
  // its other dependencies are Vulkan 1.1 core.
  if (!report && has_extension(VK_ANDROID_EXTERNAL_MEMORY_ANDROID_HARDWARE_BUFFER_EXTENSION_NAME) &&
      has_extension(VK_EXT_QUEUE_FAMILY_FOREIGN_EXTENSION_NAME)) {
    extensions.push_back(VK_ANDROID_EXTERNAL_MEMORY_ANDROID_HARDWARE_BUFFER_EXTENSION_NAME);
    extensions.push_back(VK_EXT_QUEUE_FAMILY_FOREIGN_EXTENSION_NAME);
    android_hardware_buffers_ = true;
  }
#endif
  // The shader report reads the driver's statistics of each pipeline.
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR executable_info{};
  executable_info.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR;
  if (report && has_extension(VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME)) {
    extensions.push_back(VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
    executable_info.pipelineExecutableInfo = VK_TRUE;
    capture_statistics_ = true;
  }
  // Features: subgroup size control and full subgroups where the driver
  // has them (pipelines ask for a subgroup size or whole subgroups only
  // then, see pipeline()). f16 tensors are read as 32-bit words and need no
  // 16-bit storage; fp16 arithmetic where the device has it.
  VkPhysicalDeviceSubgroupSizeControlFeaturesEXT size_control{};
  size_control.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES_EXT;
  VkPhysicalDeviceFeatures2 features{};
  features.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
  if (caps_.subgroup_size_control || caps_.compute_full_subgroups) {
    extensions.push_back(VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
    size_control.subgroupSizeControl = caps_.subgroup_size_control ? VK_TRUE : VK_FALSE;
    size_control.computeFullSubgroups = caps_.compute_full_subgroups ? VK_TRUE : VK_FALSE;
    size_control.pNext = features.pNext;
    features.pNext = &size_control;
  }
  if (capture_statistics_) {
    executable_info.pNext = features.pNext;
    features.pNext = &executable_info;
  }
  VkPhysicalDeviceShaderFloat16Int8FeaturesKHR float16{};
  float16.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES_KHR;
  if (caps_.float16_arithmetic) {
    // The extension, not Vulkan 1.2: the instance asks for 1.1 (caps say
    // fp16 only where the device lists the extension).
    extensions.push_back(VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
    float16.shaderFloat16 = VK_TRUE;
    float16.pNext = features.pNext;
    features.pNext = &float16;
  }
  // Timeline semaphores for the app's vkattn_submit_vulkan, where the
  // driver has them (vkattn itself waits on fences).
  VkPhysicalDeviceTimelineSemaphoreFeaturesKHR timeline{};
  timeline.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES_KHR;
  if (caps_.timeline_semaphore && !report) {
    extensions.push_back(VK_KHR_TIMELINE_SEMAPHORE_EXTENSION_NAME);
    timeline.timelineSemaphore = VK_TRUE;
    timeline.pNext = features.pNext;
    features.pNext = &timeline;
    timeline_semaphores_ = true;
  }
  const float priority = 1.0f;
  VkDeviceQueueCreateInfo queue_info{};
  queue_info.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
  queue_info.queueFamilyIndex = queue_family_;
  queue_info.queueCount = 1;
  queue_info.pQueuePriorities = &priority;
  VkDeviceCreateInfo device_info{};
  device_info.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
  device_info.pNext = &features;
  device_info.queueCreateInfoCount = 1;
  device_info.pQueueCreateInfos = &queue_info;
  device_info.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  device_info.ppEnabledExtensionNames = extensions.data();
  const VkResult created = ifn.vkCreateDevice(physical_, &device_info, nullptr, &device_);
  if (created != VK_SUCCESS) {
    device_ = VK_NULL_HANDLE;
    if (created == VK_ERROR_OUT_OF_HOST_MEMORY || created == VK_ERROR_OUT_OF_DEVICE_MEMORY) {
      return from_result(created, "vkCreateDevice");
    }
    return backend_unavailable("vkCreateDevice on %s failed: %s", caps_.name.c_str(), result_name(created));
  }
  VKATTN_RETURN_IF_ERROR(load_device_functions(ifn, device_, &fn_));
  fn_.vkGetDeviceQueue(device_, queue_family_, 0, &queue_);
  return create_shared_objects(options, report);
}

Status VulkanDevice::create_shared_objects(const vkattn_context_options& options, bool report) {
  const InstanceFunctions& ifn = instance_->fn();
  // caps_ is final here (an adopted device's trimmed to what the app enabled).
  quirks_ = quirks_for(caps_);
  VKATTN_RETURN_IF_ERROR(parse_kernel_override(std::getenv("VKATTN_VULKAN_KERNEL"), &forced_));
  vkattn_device_info_init(&info_);
  fill_device_info(caps_, &info_);
  ifn.vkGetPhysicalDeviceMemoryProperties(physical_, &memory_);
  VkCommandPoolCreateInfo pool_info{};
  pool_info.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
  pool_info.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pool_info.queueFamilyIndex = queue_family_;
  VKATTN_RETURN_IF_ERROR(check(fn_.vkCreateCommandPool(device_, &pool_info, nullptr, &command_pool_), "vkCreateCommandPool"));

  // One descriptor set layout for every kernel: binding 0 the parameter
  // block, 1..9 storage buffers (see shaders/attention_common.glsl).
  VkDescriptorSetLayoutBinding bindings[kBindingCount];
  for (uint32_t b = 0; b < kBindingCount; ++b) {
    bindings[b] = VkDescriptorSetLayoutBinding{};
    bindings[b].binding = b;
    bindings[b].descriptorType = b == kBindingParams ? VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    bindings[b].descriptorCount = 1;
    bindings[b].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
  }
  VkDescriptorSetLayoutCreateInfo layout_info{};
  layout_info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
  layout_info.bindingCount = kBindingCount;
  layout_info.pBindings = bindings;
  VKATTN_RETURN_IF_ERROR(check(fn_.vkCreateDescriptorSetLayout(device_, &layout_info, nullptr, &set_layout_),
                               "vkCreateDescriptorSetLayout"));
  VkPushConstantRange push{};
  push.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
  push.size = sizeof(DispatchConstants);  // the Dispatch block in shaders/attention_common.glsl
  VkPipelineLayoutCreateInfo pipeline_layout_info{};
  pipeline_layout_info.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
  pipeline_layout_info.setLayoutCount = 1;
  pipeline_layout_info.pSetLayouts = &set_layout_;
  pipeline_layout_info.pushConstantRangeCount = 1;
  pipeline_layout_info.pPushConstantRanges = &push;
  VKATTN_RETURN_IF_ERROR(check(fn_.vkCreatePipelineLayout(device_, &pipeline_layout_info, nullptr, &pipeline_layout_),
                               "vkCreatePipelineLayout"));

  // The pipeline cache, seeded from disk when the file is valid for this
  // exact device and driver; the tuning cache likewise.
  VkPhysicalDeviceProperties props{};
  ifn.vkGetPhysicalDeviceProperties(physical_, &props);
  cache_identity_ = CacheIdentity{caps_.vendor_id, caps_.device_id, caps_.driver_version, {}};
  std::memcpy(cache_identity_.uuid, props.pipelineCacheUUID, 16);
  std::vector<uint8_t> seed;
  if (!report && options.pipeline_cache_path != nullptr && options.pipeline_cache_path[0] != '\0' &&
      !quirks_.disable_pipeline_cache) {
    pipeline_cache_path_ = options.pipeline_cache_path;
    std::string why;
    seed = read_cache_file(pipeline_cache_path_, CacheKind::pipeline, cache_identity_, &why);
    if (!why.empty()) log_.warning("ignoring pipeline cache " + pipeline_cache_path_ + ": " + why);
  }
  VkPipelineCacheCreateInfo cache_info{};
  cache_info.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO;
  cache_info.initialDataSize = seed.size();
  cache_info.pInitialData = seed.empty() ? nullptr : seed.data();
  VKATTN_RETURN_IF_ERROR(check(fn_.vkCreatePipelineCache(device_, &cache_info, nullptr, &pipeline_cache_),
                               "vkCreatePipelineCache"));

  if (report) return Status();  // compile-only devices have no memory
  if (options.tuning_cache_path != nullptr && options.tuning_cache_path[0] != '\0') {
    tuning_cache_path_ = options.tuning_cache_path;
    load_tuning_cache();
  }
  return create_vulkan_buffer(256, false, &placeholder_);
}

VulkanDevice::~VulkanDevice() {
  // vkDestroyDevice loads first: without it, loading failed before any
  // other device object existed.
  if (device_ != VK_NULL_HANDLE && fn_.vkDestroyDevice != nullptr) {
    // Nothing may be in flight when objects go.
    if (!finish().ok()) wait_idle_for_teardown();
    // RADV's compile-only devices crash in vkDeviceWaitIdle; they never run
    // anything. The app's device is never waited idle: other work is its own.
    if (submitted_ && !adopted_) fn_.vkDeviceWaitIdle(device_);
    save_pipeline_cache();
    placeholder_.reset();
    staging_.reset();
    free_command_buffer(staging_commands_);
    for (VkFence fence : fences_) fn_.vkDestroyFence(device_, fence, nullptr);
    for (auto& entry : pipelines_) fn_.vkDestroyPipeline(device_, entry.second, nullptr);
    for (auto& entry : modules_) fn_.vkDestroyShaderModule(device_, entry.second, nullptr);
    if (pipeline_cache_ != VK_NULL_HANDLE) fn_.vkDestroyPipelineCache(device_, pipeline_cache_, nullptr);
    if (pipeline_layout_ != VK_NULL_HANDLE) fn_.vkDestroyPipelineLayout(device_, pipeline_layout_, nullptr);
    if (set_layout_ != VK_NULL_HANDLE) fn_.vkDestroyDescriptorSetLayout(device_, set_layout_, nullptr);
    if (command_pool_ != VK_NULL_HANDLE) fn_.vkDestroyCommandPool(device_, command_pool_, nullptr);
    if (!adopted_) fn_.vkDestroyDevice(device_, nullptr);
  }
}

void VulkanDevice::save_pipeline_cache() {
  if (pipeline_cache_path_.empty() || pipeline_cache_ == VK_NULL_HANDLE || lost_) return;
  size_t size = 0;
  if (fn_.vkGetPipelineCacheData(device_, pipeline_cache_, &size, nullptr) != VK_SUCCESS || size == 0) return;
  std::vector<uint8_t> data(size);
  if (fn_.vkGetPipelineCacheData(device_, pipeline_cache_, &size, data.data()) != VK_SUCCESS) return;
  data.resize(size);
  std::string why;
  if (!write_cache_file(pipeline_cache_path_, CacheKind::pipeline, cache_identity_, data, &why)) {
    log_.warning("pipeline cache not saved: " + why);
  }
}

void VulkanDevice::load_tuning_cache() {
  std::string why;
  const std::vector<uint8_t> payload = read_cache_file(tuning_cache_path_, CacheKind::tuning, cache_identity_, &why);
  // A payload that does not parse leaves the table empty, with why set.
  if (why.empty() && !payload.empty()) tuning_.parse(std::string(payload.begin(), payload.end()), embedded_shaders_hash(), &why);
  if (!why.empty()) {
    log_.warning("ignoring tuning cache " + tuning_cache_path_ + ": " + why);
  } else if (tuning_.size() > 0) {
    log_.info("tuning cache " + tuning_cache_path_ + ": " + std::to_string(tuning_.size()) + " tuned problem classes");
  }
}

void VulkanDevice::save_tuning_cache() {
  if (tuning_cache_path_.empty()) return;
  const std::string text = tuning_.serialize(embedded_shaders_hash());
  std::string why;
  if (!write_cache_file(tuning_cache_path_, CacheKind::tuning, cache_identity_,
                        std::vector<uint8_t>(text.begin(), text.end()), &why)) {
    log_.warning("tuning cache not saved: " + why);
  }
}

Status VulkanDevice::usable() const {
  if (lost_) return failed_precondition("the Vulkan device was lost earlier; create a new context");
  return Status();
}

Status VulkanDevice::check(VkResult result, const char* call) {
  if (result == VK_ERROR_DEVICE_LOST) lost_ = true;
  return from_result(result, call);
}

Status VulkanDevice::allocate_memory(const VkMemoryRequirements& req, bool host_visible, uint64_t size,
                                     Allocation* out) {
  const VkMemoryPropertyFlags local = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
  const VkMemoryPropertyFlags visible = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
  const VkMemoryPropertyFlags coherent = VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  // Preference order: unified memory (no staging) first; plain device-local
  // otherwise; host memory only when mapping is required or nothing else fits.
  std::vector<VkMemoryPropertyFlags> wanted;
  if (host_visible) {
    wanted = {local | visible | coherent, local | visible, visible | coherent, visible};
  } else if (caps_.unified_memory) {
    wanted = {local | visible | coherent, local | visible, local};
  } else {
    wanted = {local, visible | coherent};
  }
  std::string tried;
  for (VkMemoryPropertyFlags flags : wanted) {
    for (uint32_t t = 0; t < memory_.memoryTypeCount; ++t) {
      if (!(req.memoryTypeBits & (1u << t)) || (memory_.memoryTypes[t].propertyFlags & flags) != flags) continue;
      // Checked against the heap ourselves: some drivers (lavapipe) never
      // refuse an allocation, and then the process, not the call, fails.
      const uint32_t heap_index = memory_.memoryTypes[t].heapIndex;
      const VkMemoryHeap& heap = memory_.memoryHeaps[heap_index];
      if (req.size > caps_.max_allocation_bytes || heap_used_[heap_index] > heap.size ||
          req.size > heap.size - heap_used_[heap_index]) {
        tried += format("%s heap %u holds %llu bytes, %llu in use (largest allocation %llu)", tried.empty() ? "" : "; ",
                        heap_index, (unsigned long long)heap.size, (unsigned long long)heap_used_[heap_index],
                        (unsigned long long)caps_.max_allocation_bytes);
        continue;
      }
      VkMemoryAllocateInfo info{};
      info.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
      info.allocationSize = req.size;
      info.memoryTypeIndex = t;
      VkDeviceMemory memory = VK_NULL_HANDLE;
      const VkResult result = fn_.vkAllocateMemory(device_, &info, nullptr, &memory);
      if (result == VK_ERROR_OUT_OF_DEVICE_MEMORY || result == VK_ERROR_OUT_OF_HOST_MEMORY) {
        tried += format("%s memory type %u: %s", tried.empty() ? "" : "; ", t, result_name(result));
        continue;
      }
      VKATTN_RETURN_IF_ERROR(check(result, "vkAllocateMemory"));
      out->memory = memory;
      out->heap = heap_index;
      out->size = req.size;
      heap_used_[heap_index] += req.size;
      out->coherent = (memory_.memoryTypes[t].propertyFlags & coherent) != 0;
      out->properties = memory_.memoryTypes[t].propertyFlags;
      if (memory_.memoryTypes[t].propertyFlags & visible) {
        const VkResult mapped = fn_.vkMapMemory(device_, memory, 0, VK_WHOLE_SIZE, 0, &out->mapped);
        if (mapped != VK_SUCCESS) {
          free_memory(*out);
          return check(mapped, "vkMapMemory");
        }
      }
      return Status();
    }
  }
  return out_of_device_memory("a buffer of %llu bytes does not fit in %s's memory (%s)", (unsigned long long)size,
                              caps_.name.c_str(), tried.empty() ? "no suitable memory type" : tried.c_str());
}

void VulkanDevice::free_memory(Allocation& allocation) {
  if (allocation.memory == VK_NULL_HANDLE) return;
  if (allocation.mapped != nullptr) fn_.vkUnmapMemory(device_, allocation.memory);
  fn_.vkFreeMemory(device_, allocation.memory, nullptr);
  heap_used_[allocation.heap] -= allocation.size;
  allocation = Allocation{};
}

Status VulkanDevice::create_vulkan_buffer(uint64_t size, bool host_visible, std::unique_ptr<VulkanBuffer>* out) {
  VKATTN_RETURN_IF_ERROR(usable());
  uint64_t padded = 0;
  if (!checked_add(size, kBufferPadding - 1, &padded)) {
    return out_of_device_memory("a buffer of %llu bytes cannot exist", (unsigned long long)size);
  }
  padded = padded / kBufferPadding * kBufferPadding;
  if (padded > caps_.max_buffer_bytes) {
    return out_of_device_memory("a buffer of %llu bytes exceeds %s's largest buffer (%llu bytes)",
                                (unsigned long long)size, caps_.name.c_str(), (unsigned long long)caps_.max_buffer_bytes);
  }
  std::unique_ptr<VulkanBuffer> buffer(new VulkanBuffer(*this, size, next_serial_++));
  live_buffers_.insert(buffer->serial());
  VkBufferCreateInfo info{};
  info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
  info.size = padded;
  info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_BUFFER_BIT |
               VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  buffer->usage_ = info.usage;
  VKATTN_RETURN_IF_ERROR(check(fn_.vkCreateBuffer(device_, &info, nullptr, &buffer->buffer_), "vkCreateBuffer"));
  VkMemoryRequirements requirements{};
  fn_.vkGetBufferMemoryRequirements(device_, buffer->buffer_, &requirements);
  VKATTN_RETURN_IF_ERROR(allocate_memory(requirements, host_visible, size, &buffer->allocation_));
  VKATTN_RETURN_IF_ERROR(
      check(fn_.vkBindBufferMemory(device_, buffer->buffer_, buffer->allocation_.memory, 0), "vkBindBufferMemory"));
  *out = std::move(buffer);
  return Status();
}

Status VulkanDevice::create_buffer(uint64_t size, uint32_t flags, std::unique_ptr<DeviceBuffer>* out) {
  VKATTN_RETURN_IF_ERROR(usable());
  std::unique_ptr<VulkanBuffer> buffer;
  VKATTN_RETURN_IF_ERROR(create_vulkan_buffer(size, (flags & VKATTN_BUFFER_HOST_VISIBLE) != 0, &buffer));
  *out = std::move(buffer);
  return Status();
}

Status VulkanDevice::tuned_choice(const Problem& problem, uint32_t flags, const TunedEntry** out) {
  *out = nullptr;
  PlanLayout automatic;
  VKATTN_RETURN_IF_ERROR(plan_layout(problem, caps_, quirks_, KernelOverride(), &automatic));
  const std::string key = tuning_class(problem, automatic.flags);
  *out = tuning_.find(key);
  if (*out != nullptr || (flags & VKATTN_PLAN_TUNE) == 0) return Status();

  TunedEntry winner;
  std::vector<TuningCandidate> tried;
  const Status tuned = tune_problem(*this, problem, &winner, &tried);
  if (!tuned.ok()) {
    // The plan is still made, untuned, unless the device itself failed.
    VKATTN_RETURN_IF_ERROR(usable());
    log_.warning("tuning " + key + " failed; the plan uses the untuned configuration: " + tuned.message());
    return Status();
  }
  for (const TuningCandidate& candidate : tried) {
    char line[96];
    std::snprintf(line, sizeof(line), "%.4f ms", candidate.ms);
    const bool untuned = &candidate == &tried.front();
    log_.info("tuning " + key + ": " + (untuned ? "untuned" : format_kernel_override(candidate.choice)) + " (" +
              (candidate.kernel.empty() ? std::string("-") : candidate.kernel) + ") " +
              (candidate.ms > 0.0 ? line : "not run") +
              (candidate.rejected.empty() ? "" : ", rejected: " + candidate.rejected));
  }
  char summary[128];
  std::snprintf(summary, sizeof(summary), ": %.4f ms against %.4f ms untuned (%.2fx), %zu candidates", winner.tuned_ms,
                winner.default_ms, winner.default_ms / winner.tuned_ms, tried.size());
  log_.info("tuning " + key + ": chose " + format_kernel_override(winner.choice) + summary);
  tuning_.set(key, winner);
  save_tuning_cache();
  *out = tuning_.find(key);
  return Status();
}

Status VulkanDevice::create_append_plan(const AppendProblem& problem, std::unique_ptr<DeviceAppendPlan>* out) {
  return create_vulkan_append_plan(*this, problem, out);
}

Status VulkanDevice::create_plan(const Problem& problem, uint32_t flags, std::unique_ptr<DevicePlan>* out) {
  VKATTN_RETURN_IF_ERROR(usable());
  // Linear and top-k attention have one kernel each: nothing to force or
  // tune. Linformer's softmax stage takes VKATTN_VULKAN_KERNEL's choices
  // but is not tuned (its problem exists only inside the plan).
  if (problem.linear()) return create_linear_plan(*this, problem, out);
  if (problem.topk_mode()) return create_topk_plan(*this, problem, out);
  if (problem.linformer()) {
    if (flags & VKATTN_PLAN_TUNE) log_.info("Linformer plans are not tuned");
    return create_linformer_plan(*this, problem, forced_, out);
  }
  if (!forced_.automatic()) {  // the environment pins the choices: no tuning
    if (flags & VKATTN_PLAN_TUNE) log_.info("VKATTN_VULKAN_KERNEL is set: the plan is not tuned");
    return create_vulkan_plan(*this, problem, forced_, false, out);
  }
  const TunedEntry* entry = nullptr;
  VKATTN_RETURN_IF_ERROR(tuned_choice(problem, flags, &entry));
  if (entry != nullptr) {
    const Status status = create_vulkan_plan(*this, problem, entry->choice, true, out);
    if (status.code() != VKATTN_ERROR_UNSUPPORTED) return status;
    log_.warning("the tuned choice " + format_kernel_override(entry->choice) +
                 " does not fit this problem; the plan uses the untuned configuration: " + status.message());
  }
  return create_vulkan_plan(*this, problem, KernelOverride(), false, out);
}

Status VulkanDevice::allocate_command_buffer(VkCommandBuffer* out) {
  VkCommandBufferAllocateInfo info{};
  info.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
  info.commandPool = command_pool_;
  info.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  info.commandBufferCount = 1;
  return check(fn_.vkAllocateCommandBuffers(device_, &info, out), "vkAllocateCommandBuffers");
}

void VulkanDevice::free_command_buffer(VkCommandBuffer buffer) {
  if (buffer != VK_NULL_HANDLE) fn_.vkFreeCommandBuffers(device_, command_pool_, 1, &buffer);
}

VkResult VulkanDevice::queue_submit(const VkSubmitInfo& info, VkFence fence) {
  if (submit_fn_ != nullptr) return submit_fn_(submit_user_data_, 1, &info, fence);
  return fn_.vkQueueSubmit(queue_, 1, &info, fence);
}

Status VulkanDevice::submit_commands(const VkCommandBuffer* buffers, uint32_t count, const vkattn_vulkan_sync* sync,
                                     uint64_t* serial) {
  VKATTN_RETURN_IF_ERROR(usable());
  // Everything that can fail comes before the submission; nothing after it may.
  in_flight_.reserve(in_flight_.size() + 1);
  if (spare_fences_.empty()) {
    fences_.reserve(fences_.size() + 1);
    spare_fences_.reserve(1);
    VkFenceCreateInfo fence_info{};
    fence_info.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
    VkFence fence = VK_NULL_HANDLE;
    VKATTN_RETURN_IF_ERROR(check(fn_.vkCreateFence(device_, &fence_info, nullptr, &fence), "vkCreateFence"));
    fences_.push_back(fence);
    spare_fences_.push_back(fence);
  }
  VkFence fence = spare_fences_.back();
  // Spare fences keep the signal of their last use until reused.
  VKATTN_RETURN_IF_ERROR(check(fn_.vkResetFences(device_, 1, &fence), "vkResetFences"));

  VkSubmitInfo info{};
  info.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
  info.commandBufferCount = count;
  info.pCommandBuffers = buffers;
  std::vector<VkPipelineStageFlags> stages;
  VkTimelineSemaphoreSubmitInfoKHR timeline{};
  timeline.sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO_KHR;
  if (sync != nullptr) {
    info.waitSemaphoreCount = sync->wait_semaphore_count;
    info.pWaitSemaphores = sync->wait_semaphores;
    stages.assign(sync->wait_semaphore_count, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT);
    if (sync->wait_stage_masks != nullptr) stages.assign(sync->wait_stage_masks, sync->wait_stage_masks + sync->wait_semaphore_count);
    info.pWaitDstStageMask = stages.data();
    info.signalSemaphoreCount = sync->signal_semaphore_count;
    info.pSignalSemaphores = sync->signal_semaphores;
    if (sync->wait_values != nullptr || sync->signal_values != nullptr) {
      timeline.waitSemaphoreValueCount = sync->wait_values != nullptr ? sync->wait_semaphore_count : 0;
      timeline.pWaitSemaphoreValues = sync->wait_values;
      timeline.signalSemaphoreValueCount = sync->signal_values != nullptr ? sync->signal_semaphore_count : 0;
      timeline.pSignalSemaphoreValues = sync->signal_values;
      info.pNext = &timeline;
    }
  }
  submitted_ = true;  // even a failed submit may have reached the queue
  // A failed vkQueueSubmit leaves the fence as it was (unsignalled, spare).
  VKATTN_RETURN_IF_ERROR(check(queue_submit(info, fence), "vkQueueSubmit"));
  spare_fences_.pop_back();
  in_flight_.push_back(InFlight{++submitted_serial_, fence});
  *serial = submitted_serial_;
  return Status();
}

void VulkanDevice::retire(uint64_t serial) {
  size_t done = 0;
  while (done < in_flight_.size() && in_flight_[done].serial <= serial) ++done;
  for (size_t i = 0; i < done; ++i) spare_fences_.push_back(in_flight_[i].fence);
  in_flight_.erase(in_flight_.begin(), in_flight_.begin() + static_cast<std::ptrdiff_t>(done));
  completed_serial_ = std::max(completed_serial_, serial);
}

Status VulkanDevice::wait_for(uint64_t serial) {
  if (serial <= completed_serial_) return Status();
  VKATTN_RETURN_IF_ERROR(usable());
  std::vector<VkFence> fences;
  for (const InFlight& entry : in_flight_) {
    if (entry.serial <= serial) fences.push_back(entry.fence);
  }
  spare_fences_.reserve(spare_fences_.size() + fences.size());  // retire() must not fail
  if (!fences.empty()) {
    const VkResult result =
        fn_.vkWaitForFences(device_, static_cast<uint32_t>(fences.size()), fences.data(), VK_TRUE, kFenceTimeoutNs);
    if (result == VK_TIMEOUT) {
      return internal_error("%s did not finish its work within %llu seconds", caps_.name.c_str(),
                            (unsigned long long)(kFenceTimeoutNs / 1000000000ull));
    }
    // After a failure (device loss included) the work may still run and stays
    // in flight: settle() settles it before anything it uses is destroyed.
    VKATTN_RETURN_IF_ERROR(check(result, "vkWaitForFences"));
  }
  retire(serial);
  return Status();
}

Status VulkanDevice::settle(uint64_t serial) {
  if (serial <= completed_serial_) return Status();
  const Status waited = lost_ ? Status() : wait_for(serial);
  if (lost_ || !waited.ok()) wait_idle_for_teardown();
  return waited;
}

void VulkanDevice::wait_idle_for_teardown() {
  if (in_flight_.empty()) return;
  if (!adopted_) {
    fn_.vkDeviceWaitIdle(device_);
  } else {
    // The app's device: wait for vkattn's own fences (a lost device answers at once).
    std::vector<VkFence> fences;
    for (const InFlight& entry : in_flight_) fences.push_back(entry.fence);
    fn_.vkWaitForFences(device_, static_cast<uint32_t>(fences.size()), fences.data(), VK_TRUE, kFenceTimeoutNs);
  }
  // The fences stay out of the pool: their state is unknown.
  completed_serial_ = std::max(completed_serial_, in_flight_.back().serial);
  in_flight_.clear();
}

Status VulkanDevice::poll(uint64_t serial, bool* complete) {
  if (serial <= completed_serial_) {
    *complete = true;
    return Status();
  }
  VKATTN_RETURN_IF_ERROR(usable());
  for (const InFlight& entry : in_flight_) {
    if (entry.serial > serial) break;
    const VkResult result = fn_.vkGetFenceStatus(device_, entry.fence);
    if (result == VK_NOT_READY) {
      *complete = false;
      return Status();
    }
    VKATTN_RETURN_IF_ERROR(check(result, "vkGetFenceStatus"));
  }
  spare_fences_.reserve(spare_fences_.size() + in_flight_.size());
  retire(serial);
  *complete = true;
  return Status();
}

Status VulkanDevice::finish() {
  VKATTN_RETURN_IF_ERROR(usable());
  return wait_for(submitted_serial_);
}

Status VulkanDevice::drain() { return settle(submitted_serial_); }

void VulkanDevice::write_descriptor_set(VkDescriptorSet set, VkDescriptorBufferInfo* infos) const {
  VkWriteDescriptorSet writes[kBindingCount];
  for (uint32_t b = 0; b < kBindingCount; ++b) {
    if (infos[b].buffer == VK_NULL_HANDLE) infos[b] = {placeholder_->handle(), 0, VK_WHOLE_SIZE};
    writes[b] = VkWriteDescriptorSet{};
    writes[b].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
    writes[b].dstSet = set;
    writes[b].dstBinding = b;
    writes[b].descriptorCount = 1;
    writes[b].descriptorType = b == kBindingParams ? VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[b].pBufferInfo = &infos[b];
  }
  fn_.vkUpdateDescriptorSets(device_, kBindingCount, writes, 0, nullptr);
}

Status VulkanDevice::create_descriptor_sets(uint32_t sets, VkDescriptorPool* pool, std::vector<VkDescriptorSet>* out) {
  VkDescriptorPoolSize sizes[2] = {{VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER, sets},
                                   {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, sets * (kBindingCount - 1)}};
  VkDescriptorPoolCreateInfo pool_info{};
  pool_info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
  pool_info.maxSets = sets;
  pool_info.poolSizeCount = 2;
  pool_info.pPoolSizes = sizes;
  VKATTN_RETURN_IF_ERROR(check(fn_.vkCreateDescriptorPool(device_, &pool_info, nullptr, pool), "vkCreateDescriptorPool"));
  std::vector<VkDescriptorSetLayout> layouts(sets, set_layout_);
  VkDescriptorSetAllocateInfo set_info{};
  set_info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
  set_info.descriptorPool = *pool;
  set_info.descriptorSetCount = sets;
  set_info.pSetLayouts = layouts.data();
  out->resize(sets);
  return check(fn_.vkAllocateDescriptorSets(device_, &set_info, out->data()), "vkAllocateDescriptorSets");
}

Status VulkanDevice::create_timestamp_queries(VkQueryPool* out) {
  if (!caps_.timestamps) return Status();
  VkQueryPoolCreateInfo query_info{};
  query_info.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO;
  query_info.queryType = VK_QUERY_TYPE_TIMESTAMP;
  query_info.queryCount = 2;
  return check(fn_.vkCreateQueryPool(device_, &query_info, nullptr, out), "vkCreateQueryPool");
}

Status VulkanDevice::elapsed_ms(VkQueryPool queries, uint64_t serial, double* ms) {
  if (queries == VK_NULL_HANDLE) return unsupported("%s has no timestamp queries on its compute queue", caps_.name.c_str());
  VKATTN_RETURN_IF_ERROR(wait_for(serial));
  uint64_t ticks[2] = {0, 0};
  VKATTN_RETURN_IF_ERROR(check(fn_.vkGetQueryPoolResults(device_, queries, 0, 2, sizeof(ticks), ticks, sizeof(uint64_t),
                                                         VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
                               "vkGetQueryPoolResults"));
  const uint64_t mask = caps_.timestamp_bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << caps_.timestamp_bits) - 1;
  *ms = static_cast<double>((ticks[1] - ticks[0]) & mask) * caps_.timestamp_period_ns * 1e-6;
  return Status();
}

void VulkanDevice::record_barrier_after_prior_work(VkCommandBuffer cmd) const {
  VkMemoryBarrier barrier{};
  barrier.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT |
                          VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_HOST_WRITE_BIT;
  barrier.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_UNIFORM_READ_BIT |
                          VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  fn_.vkCmdPipelineBarrier(cmd,
                           VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT |
                               VK_PIPELINE_STAGE_HOST_BIT,
                           VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &barrier, 0,
                           nullptr, 0, nullptr);
}

void VulkanDevice::record_barrier_before_host_reads(VkCommandBuffer cmd) const {
  VkMemoryBarrier barrier{};
  barrier.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  barrier.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  fn_.vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                           VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &barrier, 0, nullptr, 0, nullptr);
}

Status VulkanDevice::pipeline(const PipelineSpec& spec, VkPipeline* out) {
  const shaders::ShaderId shader = spec.shader;
  const std::vector<uint32_t>& constants = spec.constants;
  // The flag is only valid with the computeFullSubgroups feature enabled
  // (device creation enables it wherever the driver has it).
  const bool full_subgroups = spec.full_subgroups && caps_.compute_full_subgroups;
  std::vector<uint32_t> key_values = constants;
  key_values.push_back(full_subgroups ? 1u : 0u);
  key_values.push_back(spec.subgroup_size);
  const auto key = std::make_pair(static_cast<uint32_t>(shader), key_values);
  auto found = pipelines_.find(key);
  if (found != pipelines_.end()) {
    *out = found->second;
    return Status();
  }
  VkShaderModule& module = modules_[shader];
  if (module == VK_NULL_HANDLE) {
    const shaders::ShaderBlob& blob = shaders::blob(shader);
    VkShaderModuleCreateInfo info{};
    info.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
    info.codeSize = blob.word_count * 4;
    info.pCode = blob.words;
    const VkResult result = fn_.vkCreateShaderModule(device_, &info, nullptr, &module);
    if (result != VK_SUCCESS) {
      modules_.erase(shader);
      return check(result, "vkCreateShaderModule");
    }
  }
  std::vector<VkSpecializationMapEntry> entries(constants.size());
  for (uint32_t i = 0; i < constants.size(); ++i) entries[i] = VkSpecializationMapEntry{i, i * 4u, 4u};
  VkSpecializationInfo specialization{};
  specialization.mapEntryCount = static_cast<uint32_t>(entries.size());
  specialization.pMapEntries = entries.data();
  specialization.dataSize = constants.size() * 4;
  specialization.pData = constants.data();
  VkComputePipelineCreateInfo info{};
  info.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
  info.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  info.stage.flags = full_subgroups ? VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT_EXT : 0;
  VkPipelineShaderStageRequiredSubgroupSizeCreateInfoEXT required_size{};
  required_size.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO_EXT;
  required_size.requiredSubgroupSize = spec.subgroup_size;
  if (spec.subgroup_size != 0) info.stage.pNext = &required_size;  // the kernel config asks only where allowed
  if (capture_statistics_) {
    info.flags = VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR | VK_PIPELINE_CREATE_CAPTURE_INTERNAL_REPRESENTATIONS_BIT_KHR;
  }
  info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  info.stage.module = module;
  info.stage.pName = "main";
  info.stage.pSpecializationInfo = &specialization;
  info.layout = pipeline_layout_;
  // The map entry exists before the pipeline does, so that nothing can fail
  // between creating the pipeline and recording it.
  VkPipeline& pipeline = pipelines_[key];
  const VkResult result = fn_.vkCreateComputePipelines(device_, pipeline_cache_, 1, &info, nullptr, &pipeline);
  if (result != VK_SUCCESS) {
    pipelines_.erase(key);
    return check(result, "vkCreateComputePipelines");
  }
  *out = pipeline;
  return Status();
}

Status VulkanDevice::ensure_staging() {
  if (staging_ != nullptr) return Status();
  // Each part is made once; a retry after a failure makes only what is missing.
  std::unique_ptr<VulkanBuffer> staging;
  VKATTN_RETURN_IF_ERROR(create_vulkan_buffer(kStagingBytes, true, &staging));
  if (staging_commands_ == VK_NULL_HANDLE) VKATTN_RETURN_IF_ERROR(allocate_command_buffer(&staging_commands_));
  staging_ = std::move(staging);
  return Status();
}

Status VulkanDevice::staged_copy(VkBuffer from, uint64_t from_offset, VkBuffer to, uint64_t to_offset, uint64_t size) {
  VkCommandBuffer cmd = staging_commands_;
  // A copy whose wait failed may still be running on these objects.
  VKATTN_RETURN_IF_ERROR(wait_for(staging_serial_));
  VKATTN_RETURN_IF_ERROR(check(fn_.vkResetCommandBuffer(cmd, 0), "vkResetCommandBuffer"));
  VkCommandBufferBeginInfo begin{};
  begin.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
  begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  VKATTN_RETURN_IF_ERROR(check(fn_.vkBeginCommandBuffer(cmd, &begin), "vkBeginCommandBuffer"));
  record_barrier_after_prior_work(cmd);
  VkBufferCopy region{from_offset, to_offset, size};
  fn_.vkCmdCopyBuffer(cmd, from, to, 1, &region);
  record_barrier_before_host_reads(cmd);
  VKATTN_RETURN_IF_ERROR(check(fn_.vkEndCommandBuffer(cmd), "vkEndCommandBuffer"));
  VKATTN_RETURN_IF_ERROR(submit_commands(&cmd, 1, nullptr, &staging_serial_));
  return wait_for(staging_serial_);
}

Status VulkanDevice::staged_write(VulkanBuffer& target, uint64_t offset, const void* data, uint64_t size) {
  if (!(target.usage() & VK_BUFFER_USAGE_TRANSFER_DST_BIT)) {
    return unsupported("the imported VkBuffer has no host mapping and lacks VK_BUFFER_USAGE_TRANSFER_DST_BIT: fill it "
                       "with your own commands, or import it with its mapping");
  }
  VKATTN_RETURN_IF_ERROR(ensure_staging());
  const uint8_t* bytes = static_cast<const uint8_t*>(data);
  for (uint64_t done = 0; done < size; done += kStagingBytes) {
    const uint64_t chunk = std::min(kStagingBytes, size - done);
    std::memcpy(staging_->mapped(), bytes + done, chunk);
    VKATTN_RETURN_IF_ERROR(staging_->flush(0, chunk));
    VKATTN_RETURN_IF_ERROR(staged_copy(staging_->handle(), 0, target.handle(), target.base() + offset + done, chunk));
  }
  return Status();
}

Status VulkanDevice::staged_read(VulkanBuffer& source, uint64_t offset, void* data, uint64_t size) {
  if (!(source.usage() & VK_BUFFER_USAGE_TRANSFER_SRC_BIT)) {
    return unsupported("the imported VkBuffer has no host mapping and lacks VK_BUFFER_USAGE_TRANSFER_SRC_BIT: read it "
                       "with your own commands, or import it with its mapping");
  }
  VKATTN_RETURN_IF_ERROR(ensure_staging());
  uint8_t* bytes = static_cast<uint8_t*>(data);
  for (uint64_t done = 0; done < size; done += kStagingBytes) {
    const uint64_t chunk = std::min(kStagingBytes, size - done);
    VKATTN_RETURN_IF_ERROR(staged_copy(source.handle(), source.base() + offset + done, staging_->handle(), 0, chunk));
    if (!staging_->allocation_.coherent) {
      VkMappedMemoryRange range{};
      range.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE;
      range.memory = staging_->allocation_.memory;
      range.size = VK_WHOLE_SIZE;
      VKATTN_RETURN_IF_ERROR(check(fn_.vkInvalidateMappedMemoryRanges(device_, 1, &range), "vkInvalidateMappedMemoryRanges"));
    }
    std::memcpy(bytes + done, staging_->mapped(), chunk);
  }
  return Status();
}

// --- VulkanBuffer -------------------------------------------------------------

VulkanBuffer::~VulkanBuffer() {
  device_.buffer_destroyed(serial_);
  if (buffer_ != VK_NULL_HANDLE && !imported_) device_.fn().vkDestroyBuffer(device_.handle(), buffer_, nullptr);
  device_.free_memory(allocation_);
}

Status VulkanBuffer::wait_for_users() {
  VKATTN_RETURN_IF_ERROR(device_.usable());
  return device_.wait_for(last_use_);
}

Status VulkanBuffer::settle() { return device_.settle(last_use_); }

Status VulkanBuffer::flush(uint64_t /*offset*/, uint64_t /*size*/) {
  if (allocation_.coherent || allocation_.mapped == nullptr) return Status();
  VkMappedMemoryRange range{};
  range.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE;
  range.memory = allocation_.memory;
  range.size = VK_WHOLE_SIZE;
  return device_.check(device_.fn().vkFlushMappedMemoryRanges(device_.handle(), 1, &range), "vkFlushMappedMemoryRanges");
}

Status VulkanBuffer::write(uint64_t offset, const void* data, uint64_t size) {
  VKATTN_RETURN_IF_ERROR(wait_for_users());  // no execution may still read or write it
  if (allocation_.mapped == nullptr) return device_.staged_write(*this, offset, data, size);
  std::memcpy(mapped() + offset, data, size);
  return flush(offset, size);
}

Status VulkanBuffer::read(uint64_t offset, void* data, uint64_t size) {
  VKATTN_RETURN_IF_ERROR(wait_for_users());
  if (allocation_.mapped == nullptr) return device_.staged_read(*this, offset, data, size);
  if (!allocation_.coherent) {
    VkMappedMemoryRange range{};
    range.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE;
    range.memory = allocation_.memory;
    range.size = VK_WHOLE_SIZE;
    VKATTN_RETURN_IF_ERROR(device_.check(device_.fn().vkInvalidateMappedMemoryRanges(device_.handle(), 1, &range),
                                         "vkInvalidateMappedMemoryRanges"));
  }
  std::memcpy(data, mapped() + offset, size);
  return Status();
}

Status VulkanBuffer::map(void** pointer) {
  VKATTN_RETURN_IF_ERROR(wait_for_users());
  if (!allocation_.coherent) {
    VkMappedMemoryRange range{};
    range.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE;
    range.memory = allocation_.memory;
    range.size = VK_WHOLE_SIZE;
    VKATTN_RETURN_IF_ERROR(device_.check(device_.fn().vkInvalidateMappedMemoryRanges(device_.handle(), 1, &range),
                                         "vkInvalidateMappedMemoryRanges"));
  }
  *pointer = allocation_.mapped;
  return Status();
}

Status VulkanBuffer::unmap() { return flush(0, size_); }

}  // namespace vk
}  // namespace vkattn
