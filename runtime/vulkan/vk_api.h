// The Vulkan entry points vkattn uses, in one X-macro table: each is loaded at
// run time through vkGetInstanceProcAddr / vkGetDeviceProcAddr (no link to
// libvulkan), marked required (missing = backend unavailable) or optional.
// Every call goes through a table owned by the context, which is also where
// a test build injects faults.
#pragma once

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include <memory>
#include <string>

#include "platform/dynamic_library.h"
#include "runtime/status.h"

namespace vkattn {
namespace vk {

#define VKATTN_VK_GLOBAL_FUNCTIONS(X)            \
  X(vkCreateInstance, true)                      \
  X(vkEnumerateInstanceExtensionProperties, true) \
  X(vkEnumerateInstanceLayerProperties, true)    \
  X(vkEnumerateInstanceVersion, false)

#define VKATTN_VK_INSTANCE_FUNCTIONS(X)               \
  X(vkDestroyInstance, true)                          \
  X(vkEnumeratePhysicalDevices, true)                 \
  X(vkGetPhysicalDeviceProperties, true)              \
  X(vkGetPhysicalDeviceProperties2, true)             \
  X(vkGetPhysicalDeviceFeatures2, true)               \
  X(vkGetPhysicalDeviceMemoryProperties, true)        \
  X(vkGetPhysicalDeviceQueueFamilyProperties, true)   \
  X(vkEnumerateDeviceExtensionProperties, true)       \
  X(vkCreateDevice, true)                             \
  X(vkGetDeviceProcAddr, true)                        \
  X(vkCreateDebugUtilsMessengerEXT, false)            \
  X(vkDestroyDebugUtilsMessengerEXT, false)

#define VKATTN_VK_DEVICE_FUNCTIONS(X)          \
  X(vkDestroyDevice, true)                     \
  X(vkGetDeviceQueue, true)                    \
  X(vkDeviceWaitIdle, true)                    \
  X(vkQueueSubmit, true)                       \
  X(vkCreateBuffer, true)                      \
  X(vkDestroyBuffer, true)                     \
  X(vkGetBufferMemoryRequirements, true)       \
  X(vkAllocateMemory, true)                    \
  X(vkFreeMemory, true)                        \
  X(vkBindBufferMemory, true)                  \
  X(vkMapMemory, true)                         \
  X(vkUnmapMemory, true)                       \
  X(vkFlushMappedMemoryRanges, true)           \
  X(vkInvalidateMappedMemoryRanges, true)      \
  X(vkCreateCommandPool, true)                 \
  X(vkDestroyCommandPool, true)                \
  X(vkAllocateCommandBuffers, true)            \
  X(vkFreeCommandBuffers, true)                \
  X(vkBeginCommandBuffer, true)                \
  X(vkEndCommandBuffer, true)                  \
  X(vkResetCommandBuffer, true)                \
  X(vkCmdBindPipeline, true)                   \
  X(vkCmdBindDescriptorSets, true)             \
  X(vkCmdPushConstants, true)                  \
  X(vkCmdDispatch, true)                       \
  X(vkCmdPipelineBarrier, true)                \
  X(vkCmdCopyBuffer, true)                     \
  X(vkCmdResetQueryPool, true)                 \
  X(vkCmdWriteTimestamp, true)                 \
  X(vkCreateFence, true)                       \
  X(vkDestroyFence, true)                      \
  X(vkResetFences, true)                       \
  X(vkWaitForFences, true)                     \
  X(vkGetFenceStatus, true)                    \
  X(vkCreateShaderModule, true)                \
  X(vkDestroyShaderModule, true)               \
  X(vkCreatePipelineCache, true)               \
  X(vkDestroyPipelineCache, true)              \
  X(vkGetPipelineCacheData, true)              \
  X(vkCreateComputePipelines, true)            \
  X(vkDestroyPipeline, true)                   \
  X(vkCreatePipelineLayout, true)              \
  X(vkDestroyPipelineLayout, true)             \
  X(vkCreateDescriptorSetLayout, true)         \
  X(vkDestroyDescriptorSetLayout, true)        \
  X(vkCreateDescriptorPool, true)              \
  X(vkDestroyDescriptorPool, true)             \
  X(vkAllocateDescriptorSets, true)            \
  X(vkUpdateDescriptorSets, true)              \
  X(vkCreateQueryPool, true)                   \
  X(vkDestroyQueryPool, true)                  \
  X(vkGetQueryPoolResults, true)

#define VKATTN_VK_DECLARE(name, required) PFN_##name name = nullptr;

struct GlobalFunctions {
  VKATTN_VK_GLOBAL_FUNCTIONS(VKATTN_VK_DECLARE)
};
struct InstanceFunctions {
  VKATTN_VK_INSTANCE_FUNCTIONS(VKATTN_VK_DECLARE)
};
struct DeviceFunctions {
  VKATTN_VK_DEVICE_FUNCTIONS(VKATTN_VK_DECLARE)
};

// The opened loader library and its global entry points.
class Loader {
 public:
  // BACKEND_UNAVAILABLE (with what dlopen said) if no loader can be opened.
  static Status open(std::unique_ptr<Loader>* out);

  PFN_vkGetInstanceProcAddr get_instance_proc_addr = nullptr;
  GlobalFunctions global;

 private:
  DynamicLibrary library_;
};

Status load_instance_functions(const Loader& loader, VkInstance instance, InstanceFunctions* out);
Status load_device_functions(const InstanceFunctions& instance, VkDevice device, DeviceFunctions* out);

// A VkResult as a Status: OUT_OF_HOST/DEVICE_MEMORY, DEVICE_LOST, else INTERNAL.
Status from_result(VkResult result, const char* call);
const char* result_name(VkResult result);

}  // namespace vk
}  // namespace vkattn

// Calls a Vulkan function returning VkResult and returns its Status on failure.
#define VKATTN_VK_CHECK(call_expr, name)                                          \
  do {                                                                            \
    const VkResult vkattn_result_ = (call_expr);                                  \
    if (vkattn_result_ != VK_SUCCESS) return ::vkattn::vk::from_result(vkattn_result_, name); \
  } while (0)
