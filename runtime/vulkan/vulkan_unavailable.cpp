// Builds without the Vulkan backend: VULKAN answers BACKEND_UNAVAILABLE and
// device enumeration lists only the CPU.
#include "runtime/backend.h"

namespace vkattn {

Status create_vulkan_device(const vkattn_context_options&, const Logger&, std::unique_ptr<Device>*) {
  return backend_unavailable("the Vulkan backend is not part of this build of vkattn");
}

Status adopt_vulkan_device(const vkattn_context_options&, const vkattn_vulkan_device&, const Logger&,
                           std::unique_ptr<Device>*) {
  return backend_unavailable("the Vulkan backend is not part of this build of vkattn");
}

void describe_vulkan_devices(const Logger&, std::vector<vkattn_device_info>*) {}

}  // namespace vkattn
