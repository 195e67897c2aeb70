// The Vulkan entry points vkattn uses, in one X-macro table: each is loaded at
// run time through vkGetInstanceProcAddr / vkGetDeviceProcAddr (no link to
// libvulkan), marked required (missing = backend unavailable) or optional.
// Every call goes through a table owned by the context, which is also where
// a test build injects faults.
#pragma once

#define VK_NO_PROTOTYPES
#if defined(__ANDROID__)
#define VK_USE_PLATFORM_ANDROID_KHR  // AHardwareBuffer import (interop.cpp)
#endif
#include <vulkan/vulkan.h>

#include <cstddef>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>

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
  X(vkCmdUpdateBuffer, true)                   \
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
  X(vkGetQueryPoolResults, true)               \
  X(vkGetPipelineExecutablePropertiesKHR, false) \
  X(vkGetPipelineExecutableStatisticsKHR, false) \
  X(vkGetPipelineExecutableInternalRepresentationsKHR, false) \
  VKATTN_VK_ANDROID_DEVICE_FUNCTIONS(X)

#if defined(__ANDROID__)
#define VKATTN_VK_ANDROID_DEVICE_FUNCTIONS(X) X(vkGetAndroidHardwareBufferPropertiesANDROID, false)
#else
#define VKATTN_VK_ANDROID_DEVICE_FUNCTIONS(X)
#endif

class CallHooks;

// What a function does to object lifetimes, from its name (vk_api.cpp).
struct ObjectEffect {
  enum Kind { kNone, kCreates, kDestroys } kind = kNone;
  const char* object = "";  // "Buffer", "Memory", "CommandBuffers", "Pipeline", ...
};
ObjectEffect object_effect(const char* function_name);

// One entry of a function table: the driver's function pointer, called like
// it. Normally a plain forwarding call; when the table was loaded while test
// hooks were installed (install_call_hooks), every call also reports to them.
template <typename Pfn>
class Entry;

template <typename R, typename... A>
class Entry<R(VKAPI_PTR*)(A...)> {
 public:
  using Pfn = R(VKAPI_PTR*)(A...);

  R operator()(A... args) const {
    if (hooks_ == nullptr) return real_(args...);
    return hooked_call(args...);
  }
  bool operator==(std::nullptr_t) const { return real_ == nullptr; }
  Pfn raw() const { return real_; }  // the driver's pointer, for handing on to the app
  bool operator!=(std::nullptr_t) const { return real_ != nullptr; }

  // Loading (vk_api.cpp).
  void set(Pfn real, const char* name, CallHooks* hooks) {
    real_ = real;
    name_ = name;
    hooks_ = real != nullptr ? hooks : nullptr;
    if (hooks_ != nullptr) effect_ = object_effect(name);
  }

 private:
  R hooked_call(A... args) const;

  Pfn real_ = nullptr;
  const char* name_ = nullptr;
  CallHooks* hooks_ = nullptr;
  ObjectEffect effect_;
};

#define VKATTN_VK_DECLARE(name, required) Entry<PFN_##name> name;

struct GlobalFunctions {
  VKATTN_VK_GLOBAL_FUNCTIONS(VKATTN_VK_DECLARE)
};
struct InstanceFunctions {
  VKATTN_VK_INSTANCE_FUNCTIONS(VKATTN_VK_DECLARE)
};
struct DeviceFunctions {
  VKATTN_VK_DEVICE_FUNCTIONS(VKATTN_VK_DECLARE)
};

// Test-only observation of the driver boundary: fault injection (device loss,
// out-of-memory, driver faults) and counts of live Vulkan objects. The library
// never installs hooks itself; tests reach this through vkattn_internal.
class CallHooks {
 public:
  virtual ~CallHooks() = default;
  // Before each call that returns VkResult: any other answer than VK_SUCCESS
  // is returned in place of making the call.
  virtual VkResult before_call(const char* name) = 0;
  // Around every call: driver code runs in between.
  virtual void enter_driver() {}
  virtual void leave_driver() {}
  // Handles a call created or destroyed, by kind ("Buffer", "Memory", ...).
  virtual void objects_created(const char* kind, uint32_t count) = 0;
  virtual void objects_destroyed(const char* kind, uint32_t count) = 0;
};

// Installs `hooks` (nullptr removes them) for every function table loaded
// from now on, that is for contexts and device enumerations started later.
// The hooks must outlive every context created while they were installed.
void install_call_hooks(CallHooks* hooks);
CallHooks* installed_call_hooks();

// The opened loader library and its global entry points.
class Loader {
 public:
  // BACKEND_UNAVAILABLE (with what dlopen said) if no loader can be opened.
  static Status open(std::unique_ptr<Loader>* out);
  // The app's vkGetInstanceProcAddr in place of an opened library.
  static Status from_proc_addr(PFN_vkGetInstanceProcAddr get_proc, std::unique_ptr<Loader>* out);

  Entry<PFN_vkGetInstanceProcAddr> get_instance_proc_addr;
  GlobalFunctions global;

 private:
  static Status load_global_functions(Loader* loader);
  DynamicLibrary library_;
};

Status load_instance_functions(const Loader& loader, VkInstance instance, InstanceFunctions* out);
Status load_device_functions(const InstanceFunctions& instance, VkDevice device, DeviceFunctions* out);

// A VkResult as a Status: OUT_OF_HOST/DEVICE_MEMORY, DEVICE_LOST, else INTERNAL.
Status from_result(VkResult result, const char* call);
const char* result_name(VkResult result);

// The hooked path: injection, driver bracketing and object accounting.
// Handles are counted from the arguments, which follow two shapes in Vulkan:
// a creating call's last argument points at the new handle(s), counted when
// non-null after success; a destroying call names its handle first
// (vkDestroyDevice/Instance) or second, or passes (count, array) third and
// fourth (vkFreeCommandBuffers).
namespace detail {
template <typename T>
constexpr bool is_handle_array = std::is_pointer<T>::value && std::is_pointer<std::remove_pointer_t<T>>::value;
template <size_t I, typename... A>
using Arg = std::tuple_element_t<I, std::tuple<A..., void*, void*, void*, void*>>;
template <typename T>
bool non_null(T handle) {
  return handle != T();
}
}  // namespace detail

template <typename R, typename... A>
R Entry<R(VKAPI_PTR*)(A...)>::hooked_call(A... args) const {
  if constexpr (std::is_same<R, VkResult>::value) {
    const VkResult injected = hooks_->before_call(name_);
    if (injected != VK_SUCCESS) return injected;
  }
  const ObjectEffect& effect = effect_;
  const std::tuple<A...> arguments(args...);
  constexpr size_t kArgs = sizeof...(A);
  uint32_t destroyed = 0;
  if (effect.kind == ObjectEffect::kDestroys) {
    if constexpr (kArgs == 2) {
      destroyed = detail::non_null(std::get<0>(arguments)) ? 1 : 0;
    } else if constexpr (kArgs == 3) {
      destroyed = detail::non_null(std::get<1>(arguments)) ? 1 : 0;
    } else if constexpr (kArgs == 4 && std::is_integral<detail::Arg<2, A...>>::value &&
                         detail::is_handle_array<detail::Arg<3, A...>>) {
      for (uint32_t i = 0; i < std::get<2>(arguments); ++i) destroyed += detail::non_null(std::get<3>(arguments)[i]) ? 1 : 0;
    }
  }
  hooks_->enter_driver();
  if constexpr (std::is_same<R, void>::value) {
    real_(args...);
    hooks_->leave_driver();
    if (destroyed > 0) hooks_->objects_destroyed(effect.object, destroyed);
  } else {
    const R result = real_(args...);
    hooks_->leave_driver();
    if constexpr (std::is_same<R, VkResult>::value && kArgs >= 2) {
      using Last = detail::Arg<kArgs - 1, A...>;
      if constexpr (detail::is_handle_array<Last>) {
        if (effect.kind == ObjectEffect::kCreates && result == VK_SUCCESS) {
          uint32_t count = 1;
          if constexpr (kArgs == 6 && std::is_integral<detail::Arg<2, A...>>::value) {
            count = std::get<2>(arguments);  // vkCreateComputePipelines
          }
          if constexpr (std::is_same<detail::Arg<1, A...>, const VkCommandBufferAllocateInfo*>::value) {
            count = std::get<1>(arguments)->commandBufferCount;
          }
          uint32_t created = 0;
          for (uint32_t i = 0; i < count; ++i) created += detail::non_null(std::get<kArgs - 1>(arguments)[i]) ? 1 : 0;
          if (created > 0) hooks_->objects_created(effect.object, created);
        }
      }
    }
    if (destroyed > 0) hooks_->objects_destroyed(effect.object, destroyed);
    return result;
  }
}

}  // namespace vk
}  // namespace vkattn

// Calls a Vulkan function returning VkResult and returns its Status on failure.
#define VKATTN_VK_CHECK(call_expr, name)                                          \
  do {                                                                            \
    const VkResult vkattn_result_ = (call_expr);                                  \
    if (vkattn_result_ != VK_SUCCESS) return ::vkattn::vk::from_result(vkattn_result_, name); \
  } while (0)
