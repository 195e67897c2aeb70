// A small Vulkan "engine" for the tests that talk to Vulkan themselves: its
// own instance (with the validation layer when installed, synchronization
// validation or GPU-assisted validation on, every message counted), device,
// queue, buffers and compute shaders of its own. The interop tests adopt
// vkattn into it (with samples/interop/app_affine.comp: dst = a * src + b);
// the GPU-assisted validation test runs a planted out-of-bounds read on it.
#pragma once

#include <doctest/doctest.h>
#include <vulkan/vulkan.h>

#include <cstring>
#include <string>
#include <vector>

#include "app_affine_spv.h"
#include "vkattn_vulkan.h"

namespace vkattn_test {

#define VK_CHECK_OK(call) REQUIRE((call) == VK_SUCCESS)

// A VkBuffer with host-visible, coherent memory of its own, mapped.
struct AppBuffer {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkMemoryPropertyFlags properties = 0;
  VkBufferUsageFlags usage = 0;
  uint8_t* mapped = nullptr;
  VkDeviceSize size = 0;
};

class AppVulkan {
 public:
  // On the physical device named `device_name`; timeline: enable the
  // timelineSemaphore feature (Vulkan 1.2) when the device has it.
  AppVulkan(const std::string& device_name, bool timeline,
            VkValidationFeatureEnableEXT validation_feature = VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT) {
    create(device_name, timeline, validation_feature);
    affine = create_pipeline(app_affine_spv, app_affine_spv_words);
  }
  ~AppVulkan() { destroy(); }
  AppVulkan(const AppVulkan&) = delete;
  AppVulkan& operator=(const AppVulkan&) = delete;

  // The description vkattn_context_create_vulkan adopts.
  vkattn_vulkan_device adoption() const {
    vkattn_vulkan_device app;
    vkattn_vulkan_device_init(&app);
    app.get_instance_proc_addr = vkGetInstanceProcAddr;
    app.instance = instance;
    app.instance_api_version = VK_API_VERSION_1_2;
    app.physical_device = physical;
    app.device = device;
    app.device_create_info = &device_info;
    app.queue_family_index = family;
    app.queue = queue;
    return app;
  }

  AppBuffer create_buffer(VkDeviceSize size, VkBufferUsageFlags usage) {
    AppBuffer result;
    result.size = size;
    result.usage = usage;
    VkBufferCreateInfo info{};
    info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    info.size = size;
    info.usage = usage;
    VK_CHECK_OK(vkCreateBuffer(device, &info, nullptr, &result.buffer));
    VkMemoryRequirements requirements{};
    vkGetBufferMemoryRequirements(device, result.buffer, &requirements);
    VkPhysicalDeviceMemoryProperties memory{};
    vkGetPhysicalDeviceMemoryProperties(physical, &memory);
    const VkMemoryPropertyFlags wanted = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    uint32_t type = UINT32_MAX;
    for (uint32_t t = 0; t < memory.memoryTypeCount && type == UINT32_MAX; ++t) {
      if ((requirements.memoryTypeBits & (1u << t)) && (memory.memoryTypes[t].propertyFlags & wanted) == wanted) type = t;
    }
    REQUIRE(type != UINT32_MAX);
    result.properties = memory.memoryTypes[type].propertyFlags;
    VkMemoryAllocateInfo allocate{};
    allocate.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
    allocate.allocationSize = requirements.size;
    allocate.memoryTypeIndex = type;
    VK_CHECK_OK(vkAllocateMemory(device, &allocate, nullptr, &result.memory));
    VK_CHECK_OK(vkBindBufferMemory(device, result.buffer, result.memory, 0));
    void* pointer = nullptr;
    VK_CHECK_OK(vkMapMemory(device, result.memory, 0, VK_WHOLE_SIZE, 0, &pointer));
    result.mapped = static_cast<uint8_t*>(pointer);
    return result;
  }

  void destroy_buffer(AppBuffer& buffer) {
    if (buffer.buffer != VK_NULL_HANDLE) vkDestroyBuffer(device, buffer.buffer, nullptr);
    if (buffer.memory != VK_NULL_HANDLE) vkFreeMemory(device, buffer.memory, nullptr);
    buffer = AppBuffer{};
  }

  // Bytes [offset, offset + size) of `buffer` for vkattn_buffer_import_vulkan.
  static vkattn_vulkan_buffer range(const AppBuffer& buffer, VkDeviceSize offset, VkDeviceSize size, bool with_mapping) {
    vkattn_vulkan_buffer desc;
    vkattn_vulkan_buffer_init(&desc);
    desc.buffer = buffer.buffer;
    desc.offset = offset;
    desc.size = size;
    desc.usage = buffer.usage;
    desc.memory_properties = buffer.properties;
    desc.mapped = with_mapping ? buffer.mapped + offset : nullptr;
    return desc;
  }

  VkCommandBuffer begin_commands() {
    VkCommandBufferAllocateInfo allocate{};
    allocate.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
    allocate.commandPool = pool;
    allocate.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    allocate.commandBufferCount = 1;
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    VK_CHECK_OK(vkAllocateCommandBuffers(device, &allocate, &cmd));
    VkCommandBufferBeginInfo begin{};
    begin.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
    VK_CHECK_OK(vkBeginCommandBuffer(cmd, &begin));
    return cmd;
  }

  // A compute pipeline of a shader with two storage buffers (bindings 0 and
  // 1) and up to 12 bytes of push constants, destroyed with the app.
  VkPipeline create_pipeline(const uint32_t* words, size_t word_count) {
    VkShaderModuleCreateInfo module_info{};
    module_info.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
    module_info.codeSize = word_count * 4;
    module_info.pCode = words;
    VkShaderModule module = VK_NULL_HANDLE;
    VK_CHECK_OK(vkCreateShaderModule(device, &module_info, nullptr, &module));
    VkComputePipelineCreateInfo pipeline_info{};
    pipeline_info.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
    pipeline_info.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
    pipeline_info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    pipeline_info.stage.module = module;
    pipeline_info.stage.pName = "main";
    pipeline_info.layout = pipeline_layout;
    VkPipeline pipeline = VK_NULL_HANDLE;
    VK_CHECK_OK(vkCreateComputePipelines(device, VK_NULL_HANDLE, 1, &pipeline_info, nullptr, &pipeline));
    vkDestroyShaderModule(device, module, nullptr);
    pipelines.push_back(pipeline);
    return pipeline;
  }

  // dst[i] = a * src[i] + b over `count` floats of the two ranges.
  void record_affine(VkCommandBuffer cmd, const AppBuffer& src, VkDeviceSize src_offset, const AppBuffer& dst,
                     VkDeviceSize dst_offset, uint32_t count, float a, float b) {
    struct {
      uint32_t count;
      float a, b;
    } push{count, a, b};
    record_dispatch(cmd, affine, src, src_offset, dst, dst_offset, VkDeviceSize{count} * 4, &push, sizeof(push),
                    (count + 63) / 64);
  }

  // One dispatch of `pipeline` over `groups` workgroups, binding `range`
  // bytes of each buffer and pushing `push_bytes` of constants.
  void record_dispatch(VkCommandBuffer cmd, VkPipeline pipeline, const AppBuffer& src, VkDeviceSize src_offset,
                       const AppBuffer& dst, VkDeviceSize dst_offset, VkDeviceSize range, const void* push,
                       uint32_t push_bytes, uint32_t groups) {
    VkDescriptorSetAllocateInfo allocate{};
    allocate.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
    allocate.descriptorPool = descriptor_pool;
    allocate.descriptorSetCount = 1;
    allocate.pSetLayouts = &set_layout;
    VkDescriptorSet set = VK_NULL_HANDLE;
    VK_CHECK_OK(vkAllocateDescriptorSets(device, &allocate, &set));
    VkDescriptorBufferInfo infos[2] = {{src.buffer, src_offset, range}, {dst.buffer, dst_offset, range}};
    VkWriteDescriptorSet writes[2] = {};
    for (uint32_t b = 0; b < 2; ++b) {
      writes[b].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
      writes[b].dstSet = set;
      writes[b].dstBinding = b;
      writes[b].descriptorCount = 1;
      writes[b].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      writes[b].pBufferInfo = &infos[b];
    }
    vkUpdateDescriptorSets(device, 2, writes, 0, nullptr);
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
    vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_layout, 0, 1, &set, 0, nullptr);
    vkCmdPushConstants(cmd, pipeline_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes, push);
    vkCmdDispatch(cmd, groups, 1, 1);
  }

  // Ends `cmd`, submits it (waiting on / signalling one semaphore each when
  // set: the values are for timeline semaphores, ignored for binary ones)
  // and, with `wait`, waits for it.
  void submit(VkCommandBuffer cmd, VkSemaphore wait_semaphore, uint64_t wait_value, VkSemaphore signal_semaphore,
              uint64_t signal_value, bool wait) {
    VK_CHECK_OK(vkEndCommandBuffer(cmd));
    const VkPipelineStageFlags stage = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
    VkTimelineSemaphoreSubmitInfo values{};
    values.sType = VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO;
    values.waitSemaphoreValueCount = wait_semaphore != VK_NULL_HANDLE ? 1 : 0;
    values.pWaitSemaphoreValues = &wait_value;
    values.signalSemaphoreValueCount = signal_semaphore != VK_NULL_HANDLE ? 1 : 0;
    values.pSignalSemaphoreValues = &signal_value;
    VkSubmitInfo info{};
    info.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    info.pNext = has_timeline ? &values : nullptr;
    info.waitSemaphoreCount = values.waitSemaphoreValueCount;
    info.pWaitSemaphores = &wait_semaphore;
    info.pWaitDstStageMask = &stage;
    info.commandBufferCount = 1;
    info.pCommandBuffers = &cmd;
    info.signalSemaphoreCount = values.signalSemaphoreValueCount;
    info.pSignalSemaphores = &signal_semaphore;
    VkFenceCreateInfo fence_info{};
    fence_info.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
    VkFence fence = VK_NULL_HANDLE;
    VK_CHECK_OK(vkCreateFence(device, &fence_info, nullptr, &fence));
    VK_CHECK_OK(vkQueueSubmit(queue, 1, &info, fence));
    fences.push_back(fence);
    if (wait) VK_CHECK_OK(vkWaitForFences(device, 1, &fence, VK_TRUE, UINT64_MAX));
  }

  VkSemaphore create_timeline() {
    VkSemaphoreTypeCreateInfo type{};
    type.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO;
    type.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
    VkSemaphoreCreateInfo info{};
    info.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO;
    info.pNext = &type;
    VkSemaphore semaphore = VK_NULL_HANDLE;
    VK_CHECK_OK(vkCreateSemaphore(device, &info, nullptr, &semaphore));
    semaphores.push_back(semaphore);
    return semaphore;
  }

  VkSemaphore create_binary() {
    VkSemaphoreCreateInfo info{};
    info.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO;
    VkSemaphore semaphore = VK_NULL_HANDLE;
    VK_CHECK_OK(vkCreateSemaphore(device, &info, nullptr, &semaphore));
    semaphores.push_back(semaphore);
    return semaphore;
  }

  void signal_from_host(VkSemaphore semaphore, uint64_t value) {
    VkSemaphoreSignalInfo info{};
    info.sType = VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO;
    info.semaphore = semaphore;
    info.value = value;
    VK_CHECK_OK(vkSignalSemaphore(device, &info));
  }

  // Waits for everything the app submitted.
  void finish() {
    if (!fences.empty()) {
      VK_CHECK_OK(vkWaitForFences(device, static_cast<uint32_t>(fences.size()), fences.data(), VK_TRUE, UINT64_MAX));
    }
  }

  // Destroys the app's objects, then its device (where the validation layer
  // reports every object still alive on it) and instance. Once.
  void destroy() {
    if (device != VK_NULL_HANDLE) {
      finish();
      for (VkFence fence : fences) vkDestroyFence(device, fence, nullptr);
      for (VkSemaphore semaphore : semaphores) vkDestroySemaphore(device, semaphore, nullptr);
      fences.clear();
      semaphores.clear();
      vkDestroyDescriptorPool(device, descriptor_pool, nullptr);
      for (VkPipeline pipeline : pipelines) vkDestroyPipeline(device, pipeline, nullptr);
      pipelines.clear();
      vkDestroyPipelineLayout(device, pipeline_layout, nullptr);
      vkDestroyDescriptorSetLayout(device, set_layout, nullptr);
      vkDestroyCommandPool(device, pool, nullptr);
      vkDestroyDevice(device, nullptr);
      device = VK_NULL_HANDLE;
    }
    if (messenger != VK_NULL_HANDLE) {
      auto destroy_messenger = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
          vkGetInstanceProcAddr(instance, "vkDestroyDebugUtilsMessengerEXT"));
      destroy_messenger(instance, messenger, nullptr);
      messenger = VK_NULL_HANDLE;
    }
    if (instance != VK_NULL_HANDLE) vkDestroyInstance(instance, nullptr);
    instance = VK_NULL_HANDLE;
  }

  // Validation-layer warnings and errors so far, with the first few texts.
  int messages() const { return message_count; }
  // The error messages since the last call (warnings left out), cleared.
  std::vector<std::string> take_errors() {
    std::vector<std::string> taken;
    taken.swap(errors);
    return taken;
  }
  std::string first_messages() const {
    std::string all;
    for (const std::string& m : message_texts) all += m + "\n";
    return all;
  }

  bool validation = false;  // the layer is installed and on
  bool has_timeline = false;
  VkInstance instance = VK_NULL_HANDLE;
  VkPhysicalDevice physical = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  uint32_t family = 0;
  VkQueue queue = VK_NULL_HANDLE;
  VkDeviceSize storage_alignment = 256;

 private:
  static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                   VkDebugUtilsMessageTypeFlagsEXT,
                                                   const VkDebugUtilsMessengerCallbackDataEXT* data, void* user) {
    auto* self = static_cast<AppVulkan*>(user);
    const std::string text = data->pMessage != nullptr ? data->pMessage : "";
    self->message_count++;
    if (self->message_texts.size() < 5) self->message_texts.push_back(text);
    if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) self->errors.push_back(text);
    return VK_FALSE;
  }

  void create(const std::string& device_name, bool timeline, VkValidationFeatureEnableEXT validation_feature) {
    const char* layer = "VK_LAYER_KHRONOS_validation";
    uint32_t layer_count = 0;
    vkEnumerateInstanceLayerProperties(&layer_count, nullptr);
    std::vector<VkLayerProperties> layers(layer_count);
    vkEnumerateInstanceLayerProperties(&layer_count, layers.data());
    for (const VkLayerProperties& l : layers) validation |= std::strcmp(l.layerName, layer) == 0;
    const char* extensions[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME};
    VkValidationFeatureEnableEXT enables[] = {validation_feature};
    VkValidationFeaturesEXT features{};
    features.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT;
    features.enabledValidationFeatureCount = 1;
    features.pEnabledValidationFeatures = enables;
    VkApplicationInfo app{};
    app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
    app.apiVersion = VK_API_VERSION_1_2;
    VkInstanceCreateInfo instance_info{};
    instance_info.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
    instance_info.pNext = validation ? &features : nullptr;
    instance_info.pApplicationInfo = &app;
    instance_info.enabledLayerCount = validation ? 1 : 0;
    instance_info.ppEnabledLayerNames = &layer;
    instance_info.enabledExtensionCount = validation ? 2 : 0;
    instance_info.ppEnabledExtensionNames = extensions;
    VK_CHECK_OK(vkCreateInstance(&instance_info, nullptr, &instance));
    if (validation) {
      auto create_messenger = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
          vkGetInstanceProcAddr(instance, "vkCreateDebugUtilsMessengerEXT"));
      VkDebugUtilsMessengerCreateInfoEXT messenger_info{};
      messenger_info.sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT;
      messenger_info.messageSeverity =
          VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
      messenger_info.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT;
      messenger_info.pfnUserCallback = &AppVulkan::on_message;
      messenger_info.pUserData = this;
      VK_CHECK_OK(create_messenger(instance, &messenger_info, nullptr, &messenger));
    }
    uint32_t count = 0;
    VK_CHECK_OK(vkEnumeratePhysicalDevices(instance, &count, nullptr));
    std::vector<VkPhysicalDevice> all(count);
    VK_CHECK_OK(vkEnumeratePhysicalDevices(instance, &count, all.data()));
    for (VkPhysicalDevice p : all) {
      VkPhysicalDeviceProperties props{};
      vkGetPhysicalDeviceProperties(p, &props);
      if (device_name == props.deviceName) {
        physical = p;
        storage_alignment = props.limits.minStorageBufferOffsetAlignment;
      }
    }
    REQUIRE_MESSAGE(physical != VK_NULL_HANDLE, "no physical device named " << device_name);
    uint32_t families = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(physical, &families, nullptr);
    std::vector<VkQueueFamilyProperties> family_props(families);
    vkGetPhysicalDeviceQueueFamilyProperties(physical, &families, family_props.data());
    while (family < families && !(family_props[family].queueFlags & VK_QUEUE_COMPUTE_BIT)) ++family;
    REQUIRE(family < families);

    VkPhysicalDeviceVulkan12Features supported12{};
    supported12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
    VkPhysicalDeviceFeatures2 supported{};
    supported.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
    supported.pNext = &supported12;
    vkGetPhysicalDeviceFeatures2(physical, &supported);
    has_timeline = timeline && supported12.timelineSemaphore == VK_TRUE;
    features12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
    features12.timelineSemaphore = has_timeline ? VK_TRUE : VK_FALSE;
    queue_info.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
    queue_info.queueFamilyIndex = family;
    queue_info.queueCount = 1;
    queue_info.pQueuePriorities = &priority;
    device_info.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
    device_info.pNext = &features12;
    device_info.queueCreateInfoCount = 1;
    device_info.pQueueCreateInfos = &queue_info;
    VK_CHECK_OK(vkCreateDevice(physical, &device_info, nullptr, &device));
    vkGetDeviceQueue(device, family, 0, &queue);

    VkCommandPoolCreateInfo pool_info{};
    pool_info.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
    pool_info.queueFamilyIndex = family;
    VK_CHECK_OK(vkCreateCommandPool(device, &pool_info, nullptr, &pool));
    VkDescriptorSetLayoutBinding bindings[2] = {};
    for (uint32_t b = 0; b < 2; ++b) {
      bindings[b].binding = b;
      bindings[b].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      bindings[b].descriptorCount = 1;
      bindings[b].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    }
    VkDescriptorSetLayoutCreateInfo layout_info{};
    layout_info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
    layout_info.bindingCount = 2;
    layout_info.pBindings = bindings;
    VK_CHECK_OK(vkCreateDescriptorSetLayout(device, &layout_info, nullptr, &set_layout));
    VkPushConstantRange push{VK_SHADER_STAGE_COMPUTE_BIT, 0, 12};
    VkPipelineLayoutCreateInfo pipeline_layout_info{};
    pipeline_layout_info.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
    pipeline_layout_info.setLayoutCount = 1;
    pipeline_layout_info.pSetLayouts = &set_layout;
    pipeline_layout_info.pushConstantRangeCount = 1;
    pipeline_layout_info.pPushConstantRanges = &push;
    VK_CHECK_OK(vkCreatePipelineLayout(device, &pipeline_layout_info, nullptr, &pipeline_layout));
    VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 64};
    VkDescriptorPoolCreateInfo descriptor_pool_info{};
    descriptor_pool_info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
    descriptor_pool_info.maxSets = 32;
    descriptor_pool_info.poolSizeCount = 1;
    descriptor_pool_info.pPoolSizes = &size;
    VK_CHECK_OK(vkCreateDescriptorPool(device, &descriptor_pool_info, nullptr, &descriptor_pool));
  }

  VkDebugUtilsMessengerEXT messenger = VK_NULL_HANDLE;
  const float priority = 1.0f;
  VkPhysicalDeviceVulkan12Features features12{};
  VkDeviceQueueCreateInfo queue_info{};
  VkDeviceCreateInfo device_info{};
  VkCommandPool pool = VK_NULL_HANDLE;
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
  VkPipelineLayout pipeline_layout = VK_NULL_HANDLE;
  std::vector<VkPipeline> pipelines;
  VkPipeline affine = VK_NULL_HANDLE;
  VkDescriptorPool descriptor_pool = VK_NULL_HANDLE;
  std::vector<VkFence> fences;
  std::vector<VkSemaphore> semaphores;
  int message_count = 0;
  std::vector<std::string> message_texts;
  std::vector<std::string> errors;
};

}  // namespace vkattn_test
