#include "vk_api.h"

#include <atomic>
#include <cstring>

namespace vkattn {
namespace vk {

namespace {
std::atomic<CallHooks*> g_call_hooks{nullptr};
}  // namespace

void install_call_hooks(CallHooks* hooks) { g_call_hooks.store(hooks); }
CallHooks* installed_call_hooks() { return g_call_hooks.load(); }

ObjectEffect object_effect(const char* name) {
  struct Prefix {
    const char* text;
    ObjectEffect::Kind kind;
  };
  static const Prefix kPrefixes[] = {{"vkCreate", ObjectEffect::kCreates},
                                     {"vkAllocate", ObjectEffect::kCreates},
                                     {"vkDestroy", ObjectEffect::kDestroys},
                                     {"vkFree", ObjectEffect::kDestroys}};
  ObjectEffect effect;
  // Descriptor sets are returned with their pool, never one by one.
  if (std::strcmp(name, "vkAllocateDescriptorSets") == 0) return effect;
  for (const Prefix& prefix : kPrefixes) {
    const size_t length = std::strlen(prefix.text);
    if (std::strncmp(name, prefix.text, length) != 0) continue;
    effect.kind = prefix.kind;
    effect.object = name + length;
    // The one pair whose names differ: vkCreateComputePipelines / vkDestroyPipeline.
    if (std::strcmp(effect.object, "ComputePipelines") == 0) effect.object = "Pipeline";
    break;
  }
  return effect;
}

Status Loader::open(std::unique_ptr<Loader>* out) {
  // Android names the loader libvulkan.so; desktop Linux libvulkan.so.1
  // (libvulkan.so only exists where the -dev package is installed).
  static const char* const kNames[] = {"libvulkan.so.1", "libvulkan.so"};
  std::unique_ptr<Loader> loader(new Loader());
  std::string error;
  if (!loader->library_.open(kNames, 2, &error)) {
    return backend_unavailable("no Vulkan loader could be opened (%s)", error.c_str());
  }
  CallHooks* const hooks = installed_call_hooks();
  loader->get_instance_proc_addr.set(
      reinterpret_cast<PFN_vkGetInstanceProcAddr>(loader->library_.symbol("vkGetInstanceProcAddr")),
      "vkGetInstanceProcAddr", hooks);
  if (loader->get_instance_proc_addr == nullptr) {
    return backend_unavailable("the Vulkan loader does not export vkGetInstanceProcAddr");
  }
  VKATTN_RETURN_IF_ERROR(load_global_functions(loader.get()));
  *out = std::move(loader);
  return Status();
}

Status Loader::from_proc_addr(PFN_vkGetInstanceProcAddr get_proc, std::unique_ptr<Loader>* out) {
  std::unique_ptr<Loader> loader(new Loader());
  loader->get_instance_proc_addr.set(get_proc, "vkGetInstanceProcAddr", installed_call_hooks());
  VKATTN_RETURN_IF_ERROR(load_global_functions(loader.get()));
  *out = std::move(loader);
  return Status();
}

Status Loader::load_global_functions(Loader* loader) {
  CallHooks* const hooks = installed_call_hooks();
#define VKATTN_VK_LOAD_GLOBAL(name, required)                                                                  \
  loader->global.name.set(reinterpret_cast<PFN_##name>(loader->get_instance_proc_addr(VK_NULL_HANDLE, #name)),  \
                          #name, hooks);                                                                       \
  if ((required) && loader->global.name == nullptr) return backend_unavailable("the Vulkan loader lacks " #name);
  VKATTN_VK_GLOBAL_FUNCTIONS(VKATTN_VK_LOAD_GLOBAL)
#undef VKATTN_VK_LOAD_GLOBAL
  return Status();
}

Status load_instance_functions(const Loader& loader, VkInstance instance, InstanceFunctions* out) {
  CallHooks* const hooks = installed_call_hooks();
#define VKATTN_VK_LOAD_INSTANCE(name, required)                                                   \
  out->name.set(reinterpret_cast<PFN_##name>(loader.get_instance_proc_addr(instance, #name)), #name, hooks); \
  if ((required) && out->name == nullptr) return backend_unavailable("the Vulkan instance lacks " #name);
  VKATTN_VK_INSTANCE_FUNCTIONS(VKATTN_VK_LOAD_INSTANCE)
#undef VKATTN_VK_LOAD_INSTANCE
  return Status();
}

Status load_device_functions(const InstanceFunctions& instance, VkDevice device, DeviceFunctions* out) {
  CallHooks* const hooks = installed_call_hooks();
#define VKATTN_VK_LOAD_DEVICE(name, required)                                                  \
  out->name.set(reinterpret_cast<PFN_##name>(instance.vkGetDeviceProcAddr(device, #name)), #name, hooks); \
  if ((required) && out->name == nullptr) return backend_unavailable("the Vulkan device lacks " #name);
  VKATTN_VK_DEVICE_FUNCTIONS(VKATTN_VK_LOAD_DEVICE)
#undef VKATTN_VK_LOAD_DEVICE
  return Status();
}

const char* result_name(VkResult result) {
  switch (result) {
#define VKATTN_RESULT_CASE(r) \
  case r: return #r;
    VKATTN_RESULT_CASE(VK_SUCCESS)
    VKATTN_RESULT_CASE(VK_NOT_READY)
    VKATTN_RESULT_CASE(VK_TIMEOUT)
    VKATTN_RESULT_CASE(VK_INCOMPLETE)
    VKATTN_RESULT_CASE(VK_ERROR_OUT_OF_HOST_MEMORY)
    VKATTN_RESULT_CASE(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    VKATTN_RESULT_CASE(VK_ERROR_INITIALIZATION_FAILED)
    VKATTN_RESULT_CASE(VK_ERROR_DEVICE_LOST)
    VKATTN_RESULT_CASE(VK_ERROR_MEMORY_MAP_FAILED)
    VKATTN_RESULT_CASE(VK_ERROR_LAYER_NOT_PRESENT)
    VKATTN_RESULT_CASE(VK_ERROR_EXTENSION_NOT_PRESENT)
    VKATTN_RESULT_CASE(VK_ERROR_FEATURE_NOT_PRESENT)
    VKATTN_RESULT_CASE(VK_ERROR_INCOMPATIBLE_DRIVER)
    VKATTN_RESULT_CASE(VK_ERROR_TOO_MANY_OBJECTS)
    VKATTN_RESULT_CASE(VK_ERROR_FORMAT_NOT_SUPPORTED)
    VKATTN_RESULT_CASE(VK_ERROR_FRAGMENTED_POOL)
    VKATTN_RESULT_CASE(VK_ERROR_OUT_OF_POOL_MEMORY)
    VKATTN_RESULT_CASE(VK_ERROR_UNKNOWN)
#undef VKATTN_RESULT_CASE
    default: return "VkResult (unnamed)";
  }
}

Status from_result(VkResult result, const char* call) {
  switch (result) {
    case VK_SUCCESS: return Status();
    case VK_ERROR_OUT_OF_HOST_MEMORY: return out_of_host_memory("%s: VK_ERROR_OUT_OF_HOST_MEMORY", call);
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return out_of_device_memory("%s: VK_ERROR_OUT_OF_DEVICE_MEMORY", call);
    case VK_ERROR_DEVICE_LOST: return device_lost("%s: VK_ERROR_DEVICE_LOST", call);
    default: return internal_error("%s failed: %s (%d)", call, result_name(result), (int)result);
  }
}

}  // namespace vk
}  // namespace vkattn
