// The Vulkan instance, device description, and the backend's entry points in
// runtime/backend.h.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

#include "vulkan_device.h"

namespace vkattn {
namespace vk {

namespace {

const char kValidationLayer[] = "VK_LAYER_KHRONOS_validation";

Status instance_extensions(const GlobalFunctions& g, const char* layer, std::set<std::string>* names) {
  uint32_t count = 0;
  VKATTN_VK_CHECK(g.vkEnumerateInstanceExtensionProperties(layer, &count, nullptr),
                  "vkEnumerateInstanceExtensionProperties");
  std::vector<VkExtensionProperties> props(count);
  VKATTN_VK_CHECK(g.vkEnumerateInstanceExtensionProperties(layer, &count, props.data()),
                  "vkEnumerateInstanceExtensionProperties");
  for (uint32_t i = 0; i < count && i < props.size(); ++i) names->insert(props[i].extensionName);
  return Status();
}

Status has_layer(const GlobalFunctions& g, const char* name, bool* found) {
  *found = false;
  uint32_t count = 0;
  VKATTN_VK_CHECK(g.vkEnumerateInstanceLayerProperties(&count, nullptr), "vkEnumerateInstanceLayerProperties");
  std::vector<VkLayerProperties> layers(count);
  VKATTN_VK_CHECK(g.vkEnumerateInstanceLayerProperties(&count, layers.data()), "vkEnumerateInstanceLayerProperties");
  for (uint32_t i = 0; i < count && i < layers.size(); ++i) {
    if (std::strcmp(layers[i].layerName, name) == 0) *found = true;
  }
  return Status();
}

vkattn_device_type to_device_type(VkPhysicalDeviceType type) {
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return VKATTN_DEVICE_TYPE_INTEGRATED_GPU;
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return VKATTN_DEVICE_TYPE_DISCRETE_GPU;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return VKATTN_DEVICE_TYPE_VIRTUAL_GPU;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return VKATTN_DEVICE_TYPE_CPU;
    default: return VKATTN_DEVICE_TYPE_OTHER;
  }
}

}  // namespace

Status Instance::create(bool validation, const Logger& log, std::unique_ptr<Instance>* out) {
  std::unique_ptr<Instance> instance(new Instance());
  instance->log_ = log;
  VKATTN_RETURN_IF_ERROR(Loader::open(&instance->loader_));
  const GlobalFunctions& g = instance->loader_->global;
  uint32_t loader_version = VK_API_VERSION_1_0;
  if (g.vkEnumerateInstanceVersion != nullptr) {
    VKATTN_VK_CHECK(g.vkEnumerateInstanceVersion(&loader_version), "vkEnumerateInstanceVersion");
  }
  if (loader_version < VK_API_VERSION_1_1) {
    return backend_unavailable("the Vulkan loader supports Vulkan %u.%u; vkattn needs 1.1",
                               VK_API_VERSION_MAJOR(loader_version), VK_API_VERSION_MINOR(loader_version));
  }

  std::vector<const char*> layers;
  std::vector<const char*> extensions;
  std::set<std::string> available;
  VKATTN_RETURN_IF_ERROR(instance_extensions(g, nullptr, &available));
  bool debug_utils = false;
  bool validation_features = false;
  bool validation_layer = false;
  if (validation) VKATTN_RETURN_IF_ERROR(has_layer(g, kValidationLayer, &validation_layer));
  if (validation) {
    if (validation_layer) {
      layers.push_back(kValidationLayer);
      std::set<std::string> layer_extensions;
      VKATTN_RETURN_IF_ERROR(instance_extensions(g, kValidationLayer, &layer_extensions));
      debug_utils = available.count(VK_EXT_DEBUG_UTILS_EXTENSION_NAME) || layer_extensions.count(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
      validation_features = layer_extensions.count(VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME) > 0;
      if (debug_utils) extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
      if (validation_features) extensions.push_back(VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME);
    } else {
      log.warning("validation requested but VK_LAYER_KHRONOS_validation is not installed (Debian: vulkan-validationlayers)");
    }
  }
  VkInstanceCreateFlags flags = 0;
  if (available.count(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
    extensions.push_back(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME);
    flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
  }

  VkApplicationInfo app{};
  app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
  app.pApplicationName = "vkattn";
  app.pEngineName = "vkattn";
  app.engineVersion = VKATTN_VERSION;
  app.apiVersion = VK_API_VERSION_1_1;
  // Synchronization validation on with validation: the tests fail on any
  // hazard it reports. VKATTN_VALIDATION=gpu adds GPU-assisted validation
  // (out-of-bounds shader accesses).
  const char* mode = std::getenv("VKATTN_VALIDATION");
  std::vector<VkValidationFeatureEnableEXT> enables = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
  if (mode != nullptr && std::strcmp(mode, "gpu") == 0) {
    enables = {VK_VALIDATION_FEATURE_ENABLE_GPU_ASSISTED_EXT};
  }
  VkValidationFeaturesEXT features{};
  features.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT;
  features.enabledValidationFeatureCount = static_cast<uint32_t>(enables.size());
  features.pEnabledValidationFeatures = enables.data();
  VkInstanceCreateInfo info{};
  info.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
  info.pNext = validation_features ? &features : nullptr;
  info.flags = flags;
  info.pApplicationInfo = &app;
  info.enabledLayerCount = static_cast<uint32_t>(layers.size());
  info.ppEnabledLayerNames = layers.data();
  info.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  info.ppEnabledExtensionNames = extensions.data();
  const VkResult created = g.vkCreateInstance(&info, nullptr, &instance->instance_);
  if (created == VK_ERROR_INCOMPATIBLE_DRIVER) {
    instance->instance_ = VK_NULL_HANDLE;
    return backend_unavailable("the Vulkan loader found no driver (vkCreateInstance: VK_ERROR_INCOMPATIBLE_DRIVER)");
  }
  if (created != VK_SUCCESS) {
    instance->instance_ = VK_NULL_HANDLE;
    if (created == VK_ERROR_OUT_OF_HOST_MEMORY || created == VK_ERROR_OUT_OF_DEVICE_MEMORY) {
      return from_result(created, "vkCreateInstance");
    }
    return backend_unavailable("vkCreateInstance failed: %s", result_name(created));
  }
  VKATTN_RETURN_IF_ERROR(load_instance_functions(*instance->loader_, instance->instance_, &instance->fn_));

  if (debug_utils && instance->fn_.vkCreateDebugUtilsMessengerEXT != nullptr) {
    VkDebugUtilsMessengerCreateInfoEXT messenger{};
    messenger.sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT;
    messenger.messageSeverity =
        VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
    messenger.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                            VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
    messenger.pfnUserCallback = &Instance::on_debug_message;
    messenger.pUserData = instance.get();
    VKATTN_VK_CHECK(instance->fn_.vkCreateDebugUtilsMessengerEXT(instance->instance_, &messenger, nullptr,
                                                                  &instance->messenger_),
                    "vkCreateDebugUtilsMessengerEXT");
  }

  VKATTN_RETURN_IF_ERROR(instance->describe_physical_devices());
  *out = std::move(instance);
  return Status();
}

Status Instance::adopt(PFN_vkGetInstanceProcAddr get_proc, VkInstance handle, const Logger& log,
                       std::unique_ptr<Instance>* out) {
  std::unique_ptr<Instance> instance(new Instance());
  instance->log_ = log;
  instance->owned_ = false;
  VKATTN_RETURN_IF_ERROR(Loader::from_proc_addr(get_proc, &instance->loader_));
  instance->instance_ = handle;
  VKATTN_RETURN_IF_ERROR(load_instance_functions(*instance->loader_, handle, &instance->fn_));
  VKATTN_RETURN_IF_ERROR(instance->describe_physical_devices());
  *out = std::move(instance);
  return Status();
}

Status Instance::describe_physical_devices() {
  uint32_t count = 0;
  VKATTN_VK_CHECK(fn_.vkEnumeratePhysicalDevices(instance_, &count, nullptr), "vkEnumeratePhysicalDevices");
  physical_.resize(count);
  VKATTN_VK_CHECK(fn_.vkEnumeratePhysicalDevices(instance_, &count, physical_.data()), "vkEnumeratePhysicalDevices");
  physical_.resize(count);
  for (uint32_t i = 0; i < count; ++i) caps_.push_back(describe(i, physical_[i]));
  return Status();
}

Instance::~Instance() {
  if (!owned_) return;  // the app's instance
  if (messenger_ != VK_NULL_HANDLE) fn_.vkDestroyDebugUtilsMessengerEXT(instance_, messenger_, nullptr);
  // vkDestroyInstance loads first: without it, loading failed before any
  // other instance object existed.
  if (instance_ != VK_NULL_HANDLE && fn_.vkDestroyInstance != nullptr) fn_.vkDestroyInstance(instance_, nullptr);
}

VKAPI_ATTR VkBool32 VKAPI_CALL Instance::on_debug_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                          VkDebugUtilsMessageTypeFlagsEXT /*types*/,
                                                          const VkDebugUtilsMessengerCallbackDataEXT* data,
                                                          void* user) {
  const Instance* self = static_cast<const Instance*>(user);
  const vkattn_log_level level =
      (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) ? VKATTN_LOG_ERROR : VKATTN_LOG_WARNING;
  self->log_.write(level, std::string("[validation] ") + (data != nullptr && data->pMessage ? data->pMessage : ""));
  return VK_FALSE;
}

DeviceCaps Instance::describe(uint32_t index, VkPhysicalDevice physical) const {
  DeviceCaps caps;
  caps.index = index;
  VkPhysicalDeviceProperties props{};
  fn_.vkGetPhysicalDeviceProperties(physical, &props);
  caps.name = props.deviceName;
  caps.type = to_device_type(props.deviceType);
  caps.vendor_id = props.vendorID;
  caps.device_id = props.deviceID;
  caps.driver_version = props.driverVersion;
  caps.api_version = props.apiVersion;
  caps.shared_memory_bytes = props.limits.maxComputeSharedMemorySize;
  caps.max_workgroup_invocations = props.limits.maxComputeWorkGroupInvocations;
  caps.max_workgroup_size_x = props.limits.maxComputeWorkGroupSize[0];
  for (int i = 0; i < 3; ++i) caps.max_workgroup_count[i] = props.limits.maxComputeWorkGroupCount[i];
  caps.max_storage_buffer_range = props.limits.maxStorageBufferRange;
  caps.storage_offset_alignment = props.limits.minStorageBufferOffsetAlignment;
  caps.uniform_offset_alignment = props.limits.minUniformBufferOffsetAlignment;
  caps.max_push_constants = props.limits.maxPushConstantsSize;
  caps.timestamp_period_ns = props.limits.timestampPeriod;

  std::set<std::string> extensions;
  uint32_t count = 0;
  if (fn_.vkEnumerateDeviceExtensionProperties(physical, nullptr, &count, nullptr) == VK_SUCCESS) {
    std::vector<VkExtensionProperties> props_list(count);
    if (fn_.vkEnumerateDeviceExtensionProperties(physical, nullptr, &count, props_list.data()) == VK_SUCCESS) {
      for (uint32_t i = 0; i < count; ++i) extensions.insert(props_list[i].extensionName);
    }
  }
  const bool driver_properties = extensions.count(VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME) > 0;
  const bool size_control = extensions.count(VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME) > 0;
  const bool maintenance4 = extensions.count(VK_KHR_MAINTENANCE_4_EXTENSION_NAME) > 0;
  const bool float16 = extensions.count(VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME) > 0;
  const bool amd_cores = extensions.count(VK_AMD_SHADER_CORE_PROPERTIES_EXTENSION_NAME) > 0;
  const bool nv_sms = extensions.count(VK_NV_SHADER_SM_BUILTINS_EXTENSION_NAME) > 0;
  const bool arm_cores = extensions.count(VK_ARM_SHADER_CORE_BUILTINS_EXTENSION_NAME) > 0;
  const bool timeline = extensions.count(VK_KHR_TIMELINE_SEMAPHORE_EXTENSION_NAME) > 0;

  // Properties: subgroups and maintenance3 are Vulkan 1.1 core; the rest
  // only where the device has the extension.
  VkPhysicalDeviceSubgroupProperties subgroup{};
  subgroup.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES;
  VkPhysicalDeviceMaintenance3Properties maintenance3{};
  maintenance3.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES;
  VkPhysicalDeviceDriverPropertiesKHR driver{};
  driver.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES_KHR;
  VkPhysicalDeviceSubgroupSizeControlPropertiesEXT size_props{};
  size_props.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES_EXT;
  VkPhysicalDeviceMaintenance4PropertiesKHR maintenance4_props{};
  maintenance4_props.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_4_PROPERTIES_KHR;
  // Compute units, where a vendor extension tells (split-KV sizes decode by them).
  VkPhysicalDeviceShaderCorePropertiesAMD amd_core{};
  amd_core.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CORE_PROPERTIES_AMD;
  VkPhysicalDeviceShaderSMBuiltinsPropertiesNV nv_sm{};
  nv_sm.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV;
  VkPhysicalDeviceShaderCoreBuiltinsPropertiesARM arm_core{};
  arm_core.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CORE_BUILTINS_PROPERTIES_ARM;
  VkPhysicalDeviceProperties2 props2{};
  props2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
  void** tail = &props2.pNext;
  auto chain = [&tail](void* next, void** next_field) {
    *tail = next;
    tail = next_field;
  };
  chain(&subgroup, &subgroup.pNext);
  chain(&maintenance3, &maintenance3.pNext);
  if (driver_properties) chain(&driver, &driver.pNext);
  if (size_control) chain(&size_props, &size_props.pNext);
  if (maintenance4) chain(&maintenance4_props, &maintenance4_props.pNext);
  if (amd_cores) chain(&amd_core, &amd_core.pNext);
  if (nv_sms) chain(&nv_sm, &nv_sm.pNext);
  if (arm_cores) chain(&arm_core, &arm_core.pNext);
  fn_.vkGetPhysicalDeviceProperties2(physical, &props2);
  if (amd_cores) {
    caps.compute_units = amd_core.shaderEngineCount * amd_core.shaderArraysPerEngineCount *
                         amd_core.computeUnitsPerShaderArray;
  } else if (nv_sms) {
    caps.compute_units = nv_sm.shaderSMCount;
  } else if (arm_cores) {
    caps.compute_units = arm_core.shaderCoreCount;
  }
  caps.subgroup_size = subgroup.subgroupSize;
  caps.min_subgroup_size = size_control ? size_props.minSubgroupSize : subgroup.subgroupSize;
  caps.max_subgroup_size = size_control ? size_props.maxSubgroupSize : subgroup.subgroupSize;
  const bool compute_subgroups = (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) != 0;
  const VkSubgroupFeatureFlags arithmetic = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
  const VkSubgroupFeatureFlags shuffle = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_SHUFFLE_BIT;
  caps.subgroup_arithmetic = compute_subgroups && (subgroup.supportedOperations & arithmetic) == arithmetic;
  caps.subgroup_shuffle = compute_subgroups && (subgroup.supportedOperations & shuffle) == shuffle;
  caps.required_subgroup_size = size_control && (size_props.requiredSubgroupSizeStages & VK_SHADER_STAGE_COMPUTE_BIT) != 0;
  caps.max_allocation_bytes = maintenance3.maxMemoryAllocationSize;
  caps.max_buffer_bytes = maintenance4 ? maintenance4_props.maxBufferSize : maintenance3.maxMemoryAllocationSize;
  caps.driver_id = driver_properties ? static_cast<uint32_t>(driver.driverID) : 0;
  caps.driver = driver_properties ? std::string(driver.driverName) + " " + driver.driverInfo
                                  : "driver version " + std::to_string(props.driverVersion);

  VkPhysicalDevice16BitStorageFeatures storage16{};
  storage16.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES;
  VkPhysicalDeviceSubgroupSizeControlFeaturesEXT size_features{};
  size_features.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES_EXT;
  VkPhysicalDeviceShaderFloat16Int8FeaturesKHR float16_features{};
  float16_features.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES_KHR;
  VkPhysicalDeviceTimelineSemaphoreFeaturesKHR timeline_features{};
  timeline_features.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES_KHR;
  VkPhysicalDeviceFeatures2 features2{};
  features2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
  tail = &features2.pNext;
  chain(&storage16, &storage16.pNext);
  if (size_control) chain(&size_features, &size_features.pNext);
  if (float16) chain(&float16_features, &float16_features.pNext);
  if (timeline) chain(&timeline_features, &timeline_features.pNext);
  fn_.vkGetPhysicalDeviceFeatures2(physical, &features2);
  caps.storage_16bit = storage16.storageBuffer16BitAccess == VK_TRUE;
  caps.subgroup_size_control = size_control && size_features.subgroupSizeControl == VK_TRUE;
  caps.compute_full_subgroups = size_control && size_features.computeFullSubgroups == VK_TRUE;
  caps.float16_arithmetic = float16 && float16_features.shaderFloat16 == VK_TRUE;
  caps.timeline_semaphore = timeline && timeline_features.timelineSemaphore == VK_TRUE;

  uint32_t families = 0;
  fn_.vkGetPhysicalDeviceQueueFamilyProperties(physical, &families, nullptr);
  std::vector<VkQueueFamilyProperties> family_props(families);
  fn_.vkGetPhysicalDeviceQueueFamilyProperties(physical, &families, family_props.data());
  // The first compute family is the one a context uses (vulkan_device.cpp).
  bool compute = false;
  for (const VkQueueFamilyProperties& family : family_props) {
    if ((family.queueFlags & VK_QUEUE_COMPUTE_BIT) && !compute) {
      compute = true;
      caps.timestamp_bits = family.timestampValidBits;
      caps.timestamps = family.timestampValidBits > 0;
    }
  }

  VkPhysicalDeviceMemoryProperties memory{};
  fn_.vkGetPhysicalDeviceMemoryProperties(physical, &memory);
  uint64_t largest_local = 0;
  for (uint32_t h = 0; h < memory.memoryHeapCount; ++h) {
    if (memory.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) {
      largest_local = std::max<uint64_t>(largest_local, memory.memoryHeaps[h].size);
    }
  }
  caps.device_local_bytes = largest_local;
  const VkMemoryPropertyFlags unified = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
  for (uint32_t t = 0; t < memory.memoryTypeCount; ++t) {
    // Host-visible device-local memory counts as unified only when its heap is
    // most of the device's memory (phones, integrated GPUs, lavapipe), not a
    // 256 MiB PCIe window on a discrete card.
    if ((memory.memoryTypes[t].propertyFlags & unified) == unified &&
        memory.memoryHeaps[memory.memoryTypes[t].heapIndex].size * 2 >= largest_local) {
      caps.unified_memory = true;
    }
  }

  caps.compiles_only = memory.memoryTypeCount == 0;
  if (caps.api_version < VK_API_VERSION_1_1) {
    caps.unusable_reason = "Vulkan 1.1 is required";
  } else if (caps.compiles_only) {
    caps.unusable_reason =
        "it has no memory types: a compile-only device (such as RADV's null hardware under RADV_FORCE_FAMILY); "
        "vkattn-bench --shader-stats can still compile for it";
  } else if (!compute) {
    caps.unusable_reason = "no queue family supports compute";
  } else {
    caps.usable = true;
  }
  return caps;
}

void fill_device_info(const DeviceCaps& caps, vkattn_device_info* info) {
  info->backend = VKATTN_BACKEND_VULKAN;
  info->index = caps.index;
  info->type = caps.type;
  std::snprintf(info->name, sizeof(info->name), "%s", caps.name.c_str());
  std::snprintf(info->driver, sizeof(info->driver), "%s", caps.driver.c_str());
  info->vendor_id = caps.vendor_id;
  info->device_id = caps.device_id;
  info->driver_version = caps.driver_version;
  info->api_version = caps.api_version;
  info->compute_units = caps.compute_units;
  info->subgroup_size = caps.subgroup_size;
  info->shared_memory_bytes = caps.shared_memory_bytes;
  info->fp16_arithmetic = caps.float16_arithmetic ? 1 : 0;
  info->storage_16bit = caps.storage_16bit ? 1 : 0;
  info->unified_memory = caps.unified_memory ? 1 : 0;
  info->max_binding_bytes = caps.max_storage_buffer_range;
  info->memory_bytes = caps.device_local_bytes;
  info->usable = caps.usable ? 1 : 0;
  std::snprintf(info->unusable_reason, sizeof(info->unusable_reason), "%s", caps.unusable_reason.c_str());
}

}  // namespace vk

void describe_vulkan_devices(const Logger& log, std::vector<vkattn_device_info>* out) {
  std::unique_ptr<vk::Instance> instance;
  if (!vk::Instance::create(false, log, &instance).ok()) return;  // no Vulkan here: nothing to list
  for (const vk::DeviceCaps& caps : instance->caps()) {
    vkattn_device_info info;
    vkattn_device_info_init(&info);
    vk::fill_device_info(caps, &info);
    out->push_back(info);
  }
}

Status create_vulkan_device(const vkattn_context_options& options, const Logger& log, std::unique_ptr<Device>* out) {
  return vk::VulkanDevice::create(options, log, out);
}

}  // namespace vkattn
