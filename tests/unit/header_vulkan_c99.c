/* The Vulkan interop header must compile on its own (with the Vulkan
 * headers) as strict C99, and be usable. */
#include "vkattn_vulkan.h"

int vkattn_header_vulkan_c99_probe(void);
int vkattn_header_vulkan_c99_probe(void) {
  vkattn_vulkan_device device;
  vkattn_vulkan_buffer buffer;
  vkattn_vulkan_recording recording;
  vkattn_vulkan_sync sync;
  vkattn_execution execution;
  vkattn_vulkan_device_init(&device);
  vkattn_vulkan_buffer_init(&buffer);
  vkattn_vulkan_recording_init(&recording);
  vkattn_vulkan_sync_init(&sync);
  vkattn_execution_init(&execution);
  return (int)(device.struct_size + buffer.struct_size + recording.struct_size + sync.struct_size +
               execution.struct_size);
}
