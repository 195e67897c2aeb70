// Vulkan interop (include/vkattn_vulkan.h): a context on the app's device,
// the app's buffers, batches with the app's semaphores, and recording into
// the app's command buffers.
#include <cstring>
#include <set>
#include <string>

#include "runtime/checked_math.h"
#include "vulkan_device.h"

namespace vkattn {
namespace vk {

namespace {

// What the app enabled on its device that vkattn can use.
struct EnabledFeatures {
  bool subgroup_size_control = false;
  bool compute_full_subgroups = false;
  bool shader_float16 = false;
  bool timeline_semaphore = false;
};

// Reads the feature structures of a VkDeviceCreateInfo's pNext chain.
EnabledFeatures enabled_features(const VkDeviceCreateInfo& info) {
  EnabledFeatures enabled;
  for (auto* next = static_cast<const VkBaseInStructure*>(info.pNext); next != nullptr; next = next->pNext) {
    switch (next->sType) {
      case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES: {
        auto* f = reinterpret_cast<const VkPhysicalDeviceVulkan12Features*>(next);
        enabled.shader_float16 |= f->shaderFloat16 == VK_TRUE;
        enabled.timeline_semaphore |= f->timelineSemaphore == VK_TRUE;
        break;
      }
      case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES: {
        auto* f = reinterpret_cast<const VkPhysicalDeviceVulkan13Features*>(next);
        enabled.subgroup_size_control |= f->subgroupSizeControl == VK_TRUE;
        enabled.compute_full_subgroups |= f->computeFullSubgroups == VK_TRUE;
        break;
      }
      case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES_EXT: {
        auto* f = reinterpret_cast<const VkPhysicalDeviceSubgroupSizeControlFeaturesEXT*>(next);
        enabled.subgroup_size_control |= f->subgroupSizeControl == VK_TRUE;
        enabled.compute_full_subgroups |= f->computeFullSubgroups == VK_TRUE;
        break;
      }
      case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES_KHR: {
        auto* f = reinterpret_cast<const VkPhysicalDeviceShaderFloat16Int8FeaturesKHR*>(next);
        enabled.shader_float16 |= f->shaderFloat16 == VK_TRUE;
        break;
      }
      case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES_KHR: {
        auto* f = reinterpret_cast<const VkPhysicalDeviceTimelineSemaphoreFeaturesKHR*>(next);
        enabled.timeline_semaphore |= f->timelineSemaphore == VK_TRUE;
        break;
      }
      default: break;
    }
  }
  return enabled;
}

std::string version_text(uint32_t version) {
  return std::to_string(VK_API_VERSION_MAJOR(version)) + "." + std::to_string(VK_API_VERSION_MINOR(version));
}

VulkanWork* vulkan_work(const Work& work) {
  return work.plan != nullptr ? dynamic_cast<VulkanWork*>(work.plan) : dynamic_cast<VulkanWork*>(work.append_plan);
}

bool has_timeline_values(const vkattn_vulkan_sync& sync) {
  return sync.wait_values != nullptr || sync.signal_values != nullptr;
}

}  // namespace

Status VulkanDevice::adopt(const vkattn_context_options& options, const vkattn_vulkan_device& app, const Logger& log,
                           std::unique_ptr<Device>* out) {
  std::unique_ptr<VulkanDevice> device(new VulkanDevice(log));
  VKATTN_RETURN_IF_ERROR(device->initialize_adopted(options, app));
  *out = std::move(device);
  return Status();
}

Status VulkanDevice::initialize_adopted(const vkattn_context_options& options, const vkattn_vulkan_device& app) {
  if (app.get_instance_proc_addr == nullptr) return invalid_argument("vkattn_vulkan_device.get_instance_proc_addr is NULL");
  if (app.instance == VK_NULL_HANDLE) return invalid_argument("vkattn_vulkan_device.instance is VK_NULL_HANDLE");
  if (app.physical_device == VK_NULL_HANDLE) {
    return invalid_argument("vkattn_vulkan_device.physical_device is VK_NULL_HANDLE");
  }
  if (app.device == VK_NULL_HANDLE) return invalid_argument("vkattn_vulkan_device.device is VK_NULL_HANDLE");
  if (app.device_create_info == nullptr) {
    return invalid_argument("vkattn_vulkan_device.device_create_info is NULL: pass the VkDeviceCreateInfo the device "
                            "was created with");
  }
  const VkDeviceCreateInfo& created = *app.device_create_info;
  if (created.sType != VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO) {
    return invalid_argument("vkattn_vulkan_device.device_create_info is not a VkDeviceCreateInfo (sType %d)",
                            static_cast<int>(created.sType));
  }
  if (app.queue == VK_NULL_HANDLE && app.submit_fn == nullptr) {
    return invalid_argument("vkattn_vulkan_device has neither a queue nor a submit_fn");
  }
  if (app.instance_api_version < VK_API_VERSION_1_1) {
    return unsupported("vkattn needs Vulkan 1.1; the instance was created for Vulkan %s "
                       "(vkattn_vulkan_device.instance_api_version)",
                       version_text(app.instance_api_version).c_str());
  }
  VKATTN_RETURN_IF_ERROR(Instance::adopt(app.get_instance_proc_addr, app.instance, log_, &instance_));
  const std::vector<VkPhysicalDevice>& physical = instance_->physical_devices();
  size_t index = 0;
  while (index < physical.size() && physical[index] != app.physical_device) ++index;
  if (index == physical.size()) {
    return invalid_argument("vkattn_vulkan_device.physical_device is not one of the instance's %zu physical devices",
                            physical.size());
  }
  caps_ = instance_->caps()[index];
  if (caps_.api_version < VK_API_VERSION_1_1) {
    return unsupported("vkattn needs Vulkan 1.1; %s supports %s", caps_.name.c_str(),
                       version_text(caps_.api_version).c_str());
  }
  if (caps_.compiles_only) return unsupported("%s cannot run work: %s", caps_.name.c_str(), caps_.unusable_reason.c_str());
  physical_ = app.physical_device;

  // The queue: a family the device was created with, able to compute.
  bool family_created = false;
  for (uint32_t i = 0; i < created.queueCreateInfoCount; ++i) {
    const VkDeviceQueueCreateInfo& queue = created.pQueueCreateInfos[i];
    if (queue.queueFamilyIndex == app.queue_family_index && app.queue_index < queue.queueCount) family_created = true;
  }
  if (!family_created) {
    return invalid_argument("queue %u of family %u (vkattn_vulkan_device.queue_family_index, queue_index) is not among "
                            "device_create_info's queues",
                            app.queue_index, app.queue_family_index);
  }
  const InstanceFunctions& ifn = instance_->fn();
  uint32_t family_count = 0;
  ifn.vkGetPhysicalDeviceQueueFamilyProperties(physical_, &family_count, nullptr);
  std::vector<VkQueueFamilyProperties> families(family_count);
  ifn.vkGetPhysicalDeviceQueueFamilyProperties(physical_, &family_count, families.data());
  if (app.queue_family_index >= family_count || !(families[app.queue_family_index].queueFlags & VK_QUEUE_COMPUTE_BIT)) {
    return unsupported("queue family %u of %s has no VK_QUEUE_COMPUTE_BIT; vkattn needs a compute queue",
                       app.queue_family_index, caps_.name.c_str());
  }
  caps_.timestamp_bits = families[app.queue_family_index].timestampValidBits;
  caps_.timestamps = caps_.timestamp_bits > 0;

  // Only what the app enabled: an extension or the core version that holds
  // it, and the feature bit.
  std::set<std::string> extensions;
  for (uint32_t i = 0; i < created.enabledExtensionCount; ++i) extensions.insert(created.ppEnabledExtensionNames[i]);
  const uint32_t version = std::min(app.instance_api_version, caps_.api_version);
  const EnabledFeatures enabled = enabled_features(created);
  const bool size_control_api =
      extensions.count(VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME) > 0 || version >= VK_API_VERSION_1_3;
  caps_.subgroup_size_control = caps_.subgroup_size_control && size_control_api && enabled.subgroup_size_control;
  caps_.compute_full_subgroups = caps_.compute_full_subgroups && size_control_api && enabled.compute_full_subgroups;
  caps_.required_subgroup_size = caps_.required_subgroup_size && caps_.subgroup_size_control;
  caps_.float16_arithmetic = caps_.float16_arithmetic && enabled.shader_float16 &&
                             (extensions.count(VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME) > 0 ||
                              version >= VK_API_VERSION_1_2);
  timeline_semaphores_ = enabled.timeline_semaphore && (extensions.count(VK_KHR_TIMELINE_SEMAPHORE_EXTENSION_NAME) > 0 ||
                                                        version >= VK_API_VERSION_1_2);
#if defined(__ANDROID__)
  android_hardware_buffers_ = extensions.count(VK_ANDROID_EXTERNAL_MEMORY_ANDROID_HARDWARE_BUFFER_EXTENSION_NAME) > 0;
#endif
  adopted_ = true;
  device_ = app.device;
  queue_ = app.queue;
  queue_family_ = app.queue_family_index;
  queue_index_ = app.queue_index;
  submit_fn_ = app.submit_fn;
  submit_user_data_ = app.submit_user_data;
  instance_api_version_ = app.instance_api_version;
  VKATTN_RETURN_IF_ERROR(load_device_functions(ifn, device_, &fn_));
  log_.info("adopted the app's VkDevice on " + caps_.name + " (queue family " + std::to_string(queue_family_) + ")");
  return create_shared_objects(options, false);
}

Status VulkanDevice::describe_vulkan_device(vkattn_vulkan_device* out) {
  out->get_instance_proc_addr = instance_->loader().get_instance_proc_addr.raw();
  out->instance = instance_->handle();
  out->instance_api_version = adopted_ ? instance_api_version_ : VK_API_VERSION_1_1;
  out->physical_device = physical_;
  out->device = device_;
  out->device_create_info = nullptr;
  out->queue_family_index = queue_family_;
  out->queue_index = queue_index_;
  out->queue = queue_;
  out->submit_fn = submit_fn_;
  out->submit_user_data = submit_user_data_;
  return Status();
}

Status VulkanDevice::import_vulkan_buffer(const vkattn_vulkan_buffer& desc, std::unique_ptr<DeviceBuffer>* out) {
  VKATTN_RETURN_IF_ERROR(usable());
  if (desc.buffer == VK_NULL_HANDLE) return invalid_argument("vkattn_vulkan_buffer.buffer is VK_NULL_HANDLE");
  if (desc.size == 0 || desc.size % 4 != 0) {
    return invalid_argument("vkattn_vulkan_buffer.size (%llu) must be > 0 and a multiple of 4",
                            (unsigned long long)desc.size);
  }
  uint64_t end = 0;
  if (!checked_add(desc.offset, desc.size, &end)) {
    return invalid_argument("vkattn_vulkan_buffer.offset + size overflows 64 bits");
  }
  if (desc.offset % caps_.storage_offset_alignment != 0) {
    return invalid_argument("vkattn_vulkan_buffer.offset (%llu) must be a multiple of %s's "
                            "minStorageBufferOffsetAlignment (%llu)",
                            (unsigned long long)desc.offset, caps_.name.c_str(),
                            (unsigned long long)caps_.storage_offset_alignment);
  }
  if (!(desc.usage & VK_BUFFER_USAGE_STORAGE_BUFFER_BIT)) {
    return invalid_argument("vkattn_vulkan_buffer.usage lacks VK_BUFFER_USAGE_STORAGE_BUFFER_BIT: shaders bind it");
  }
  const VkMemoryPropertyFlags coherent = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  if (desc.mapped != nullptr && (desc.memory_properties & coherent) != coherent) {
    return invalid_argument("vkattn_vulkan_buffer.mapped is set but memory_properties lack HOST_VISIBLE | "
                            "HOST_COHERENT (vkattn does not flush the app's memory; pass mapped = NULL)");
  }
  std::unique_ptr<VulkanBuffer> buffer(new VulkanBuffer(*this, desc.size, next_serial_++));
  live_buffers_.insert(buffer->serial());
  buffer->imported_ = true;
  buffer->buffer_ = desc.buffer;
  buffer->base_ = desc.offset;
  buffer->usage_ = desc.usage;
  buffer->allocation_.mapped = desc.mapped;
  buffer->allocation_.coherent = true;
  buffer->allocation_.properties = desc.memory_properties;
  *out = std::move(buffer);
  return Status();
}

Status VulkanDevice::import_android_hardware_buffer(AHardwareBuffer* hardware_buffer, std::unique_ptr<DeviceBuffer>* out) {
  VKATTN_RETURN_IF_ERROR(usable());
  if (hardware_buffer == nullptr) return invalid_argument("hardware_buffer is NULL");
#if defined(__ANDROID__)
  if (!android_hardware_buffers_ || fn_.vkGetAndroidHardwareBufferPropertiesANDROID == nullptr) {
    return unsupported("VK_ANDROID_external_memory_android_hardware_buffer is not enabled on %s's device",
                       caps_.name.c_str());
  }
  VkAndroidHardwareBufferPropertiesANDROID properties{};
  properties.sType = VK_STRUCTURE_TYPE_ANDROID_HARDWARE_BUFFER_PROPERTIES_ANDROID;
  VKATTN_RETURN_IF_ERROR(check(fn_.vkGetAndroidHardwareBufferPropertiesANDROID(device_, hardware_buffer, &properties),
                               "vkGetAndroidHardwareBufferPropertiesANDROID"));
  const uint64_t size = properties.allocationSize / 4 * 4;  // plans bind whole words
  if (size == 0) return invalid_argument("the AHardwareBuffer holds fewer than 4 bytes");
  std::unique_ptr<VulkanBuffer> buffer(new VulkanBuffer(*this, size, next_serial_++));
  live_buffers_.insert(buffer->serial());
  VkExternalMemoryBufferCreateInfo external{};
  external.sType = VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO;
  external.handleTypes = VK_EXTERNAL_MEMORY_HANDLE_TYPE_ANDROID_HARDWARE_BUFFER_BIT_ANDROID;
  VkBufferCreateInfo info{};
  info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
  info.pNext = &external;
  info.size = size;
  info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  buffer->usage_ = info.usage;
  VKATTN_RETURN_IF_ERROR(check(fn_.vkCreateBuffer(device_, &info, nullptr, &buffer->buffer_), "vkCreateBuffer"));
  VkMemoryRequirements requirements{};
  fn_.vkGetBufferMemoryRequirements(device_, buffer->buffer_, &requirements);
  const uint32_t types = properties.memoryTypeBits & requirements.memoryTypeBits;
  uint32_t type = 0;
  while (type < memory_.memoryTypeCount && !(types & (1u << type))) ++type;
  if (type == memory_.memoryTypeCount) {
    return unsupported("no memory type of %s can hold both the AHardwareBuffer and a storage buffer", caps_.name.c_str());
  }
  // The AHardwareBuffer's memory, imported (dedicated to this buffer): the
  // import holds a reference to it until vkFreeMemory.
  VkImportAndroidHardwareBufferInfoANDROID import{};
  import.sType = VK_STRUCTURE_TYPE_IMPORT_ANDROID_HARDWARE_BUFFER_INFO_ANDROID;
  import.buffer = hardware_buffer;
  VkMemoryDedicatedAllocateInfo dedicated{};
  dedicated.sType = VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO;
  dedicated.pNext = &import;
  dedicated.buffer = buffer->buffer_;
  VkMemoryAllocateInfo allocate{};
  allocate.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
  allocate.pNext = &dedicated;
  allocate.allocationSize = properties.allocationSize;
  allocate.memoryTypeIndex = type;
  Allocation& allocation = buffer->allocation_;
  VKATTN_RETURN_IF_ERROR(check(fn_.vkAllocateMemory(device_, &allocate, nullptr, &allocation.memory), "vkAllocateMemory"));
  // Not counted against vkattn's heap budget (size 0): the memory is the
  // AHardwareBuffer's, allocated by its owner.
  allocation.heap = memory_.memoryTypes[type].heapIndex;
  allocation.properties = memory_.memoryTypes[type].propertyFlags;
  allocation.coherent = (allocation.properties & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) != 0;
  if (allocation.properties & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
    VKATTN_RETURN_IF_ERROR(check(fn_.vkMapMemory(device_, allocation.memory, 0, VK_WHOLE_SIZE, 0, &allocation.mapped),
                                 "vkMapMemory"));
  }
  VKATTN_RETURN_IF_ERROR(
      check(fn_.vkBindBufferMemory(device_, buffer->buffer_, allocation.memory, 0), "vkBindBufferMemory"));
  *out = std::move(buffer);
  return Status();
#else
  (void)out;
  return unsupported("AHardwareBuffer import exists only in Android builds of vkattn");
#endif
}

Status VulkanDevice::describe_vulkan_buffer(DeviceBuffer& device_buffer, vkattn_vulkan_buffer* out) {
  // Every buffer of a Vulkan context is a VulkanBuffer.
  const VulkanBuffer& buffer = static_cast<const VulkanBuffer&>(device_buffer);
  out->buffer = buffer.handle();
  out->offset = buffer.base();
  out->size = buffer.size();
  out->usage = buffer.usage();
  out->memory_properties = buffer.memory_properties();
  out->mapped = buffer.mapped();
  return Status();
}

Status VulkanDevice::submit(const std::vector<Work>& work, const vkattn_vulkan_sync* sync, uint64_t* ticket) {
  VKATTN_RETURN_IF_ERROR(usable());
  if (sync != nullptr && has_timeline_values(*sync) && !timeline_semaphores_) {
    return unsupported("timeline semaphore values were given but %s's device has no timelineSemaphore feature enabled",
                       caps_.name.c_str());
  }
  std::vector<VkCommandBuffer> commands(work.size());
  std::vector<VulkanBuffer*> used;
  for (size_t i = 0; i < work.size(); ++i) {
    VKATTN_RETURN_IF_ERROR(vulkan_work(work[i])->prepare(work[i], &commands[i], &used));
  }
  uint64_t serial = 0;
  VKATTN_RETURN_IF_ERROR(submit_commands(commands.data(), static_cast<uint32_t>(commands.size()), sync, &serial));
  for (const Work& item : work) vulkan_work(item)->submitted(serial);
  for (VulkanBuffer* buffer : used) buffer->used_by(serial);
  *ticket = serial;
  return Status();
}

Status VulkanDevice::record_vulkan(const std::vector<Work>& work, const vkattn_vulkan_recording& recording) {
  VKATTN_RETURN_IF_ERROR(usable());
  // Everything that can fail comes first: the app's command buffer gets all
  // of the work or none of it.
  for (const Work& item : work) VKATTN_RETURN_IF_ERROR(vulkan_work(item)->prepare_recording(item));
  VkCommandBuffer cmd = recording.command_buffer;
  const VkPipelineStageFlags compute_or_transfer = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  VkMemoryBarrier before{};
  before.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  before.srcAccessMask = (recording.src_access_mask != 0 ? recording.src_access_mask
                                                         : VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT) |
                         VK_ACCESS_SHADER_WRITE_BIT;
  before.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_UNIFORM_READ_BIT |
                         VK_ACCESS_TRANSFER_WRITE_BIT;
  const VkPipelineStageFlags before_src =
      (recording.src_stage_mask != 0 ? recording.src_stage_mask : compute_or_transfer) | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
  fn_.vkCmdPipelineBarrier(cmd, before_src, compute_or_transfer, 0, 1, &before, 0, nullptr, 0, nullptr);
  for (size_t i = 0; i < work.size(); ++i) {
    if (i > 0) record_barrier_between_work(cmd);
    vulkan_work(work[i])->record_into(work[i], cmd);
  }
  VkMemoryBarrier after{};
  after.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  after.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
  after.dstAccessMask = recording.dst_access_mask != 0
                            ? recording.dst_access_mask
                            : VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                                  VK_ACCESS_TRANSFER_WRITE_BIT;
  fn_.vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                           recording.dst_stage_mask != 0 ? recording.dst_stage_mask : compute_or_transfer, 0, 1, &after,
                           0, nullptr, 0, nullptr);
  return Status();
}

void VulkanDevice::record_barrier_between_dispatches(VkCommandBuffer cmd) const {
  VkMemoryBarrier barrier{};
  barrier.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_SHADER_READ_BIT;
  barrier.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
  fn_.vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &barrier,
                           0, nullptr, 0, nullptr);
}

void VulkanDevice::record_barrier_between_work(VkCommandBuffer cmd) const {
  VkMemoryBarrier barrier{};
  barrier.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
  barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  barrier.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_UNIFORM_READ_BIT |
                          VK_ACCESS_TRANSFER_WRITE_BIT;
  const VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  fn_.vkCmdPipelineBarrier(cmd, stages, stages, 0, 1, &barrier, 0, nullptr, 0, nullptr);
}

}  // namespace vk

Status adopt_vulkan_device(const vkattn_context_options& options, const vkattn_vulkan_device& app, const Logger& log,
                           std::unique_ptr<Device>* out) {
  return vk::VulkanDevice::adopt(options, app, log, out);
}

}  // namespace vkattn
