// The C entry points of vkattn_vulkan.h. Compiled wherever the Vulkan
// headers are (the backend itself may be left out of the build: contexts
// then answer BACKEND_UNAVAILABLE, from runtime/vulkan/vulkan_unavailable.cpp).
#include "api_call.h"
#include "backend.h"
#include "bindings.h"
#include "vkattn_vulkan.h"

using vkattn::Status;
using vkattn::api::api_call;
using vkattn::api::open_buffer;
using vkattn::api::open_context;
using vkattn::api::wrap_buffer;

namespace {

template <typename T>
Status check_struct(const T* value, const char* name, const char* init) {
  if (value == nullptr) return vkattn::invalid_argument("%s is NULL", name);
  if (value->struct_size != sizeof(T)) {
    return vkattn::invalid_argument("%s.struct_size is %zu but this library expects %zu; use %s()", name,
                                    value->struct_size, sizeof(T), init);
  }
  return Status();
}

}  // namespace

extern "C" {

vkattn_status vkattn_context_create_vulkan(const vkattn_context_options* options, const vkattn_vulkan_device* device,
                                           vkattn_context* out_context) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(check_struct(device, "vkattn_vulkan_device", "vkattn_vulkan_device_init"));
    return vkattn::api::create_context(
        options,
        [&](const vkattn_context_options& checked, const vkattn::Logger& log, std::unique_ptr<vkattn::Device>* out) {
          return vkattn::adopt_vulkan_device(checked, *device, log, out);
        },
        out_context);
  });
}

vkattn_status vkattn_context_get_vulkan_device(vkattn_context context, vkattn_vulkan_device* out) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(open_context(context, "context"));
    VKATTN_RETURN_IF_ERROR(check_struct(out, "out", "vkattn_vulkan_device_init"));
    vkattn_vulkan_device described;
    vkattn_vulkan_device_init(&described);
    VKATTN_RETURN_IF_ERROR(context->state->device->describe_vulkan_device(&described));
    *out = described;
    return Status();
  });
}

vkattn_status vkattn_buffer_import_vulkan(vkattn_context context, const vkattn_vulkan_buffer* desc,
                                          vkattn_buffer* out_buffer) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(open_context(context, "context"));
    VKATTN_RETURN_IF_ERROR(check_struct(desc, "vkattn_vulkan_buffer", "vkattn_vulkan_buffer_init"));
    if (out_buffer == nullptr) return vkattn::invalid_argument("out_buffer is NULL");
    std::unique_ptr<vkattn::DeviceBuffer> impl;
    VKATTN_RETURN_IF_ERROR(context->state->device->import_vulkan_buffer(*desc, &impl));
    return wrap_buffer(context, std::move(impl), out_buffer);
  });
}

vkattn_status vkattn_buffer_import_android_hardware_buffer(vkattn_context context, struct AHardwareBuffer* hardware_buffer,
                                                          vkattn_buffer* out_buffer) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(open_context(context, "context"));
    if (out_buffer == nullptr) return vkattn::invalid_argument("out_buffer is NULL");
    std::unique_ptr<vkattn::DeviceBuffer> impl;
    VKATTN_RETURN_IF_ERROR(context->state->device->import_android_hardware_buffer(hardware_buffer, &impl));
    return wrap_buffer(context, std::move(impl), out_buffer);
  });
}

vkattn_status vkattn_buffer_get_vulkan(vkattn_buffer buffer, vkattn_vulkan_buffer* out) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(open_buffer(buffer));
    VKATTN_RETURN_IF_ERROR(check_struct(out, "out", "vkattn_vulkan_buffer_init"));
    vkattn_vulkan_buffer described;
    vkattn_vulkan_buffer_init(&described);
    VKATTN_RETURN_IF_ERROR(buffer->context->device->describe_vulkan_buffer(*buffer->impl, &described));
    *out = described;
    return Status();
  });
}

vkattn_status vkattn_record_vulkan(vkattn_context context, const vkattn_execution* executions, uint32_t count,
                                   const vkattn_vulkan_recording* recording) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(open_context(context, "context"));
    VKATTN_RETURN_IF_ERROR(check_struct(recording, "vkattn_vulkan_recording", "vkattn_vulkan_recording_init"));
    if (recording->command_buffer == VK_NULL_HANDLE) {
      return vkattn::invalid_argument("vkattn_vulkan_recording.command_buffer is VK_NULL_HANDLE");
    }
    vkattn::CheckedBatch batch;
    VKATTN_RETURN_IF_ERROR(vkattn::check_executions(context->state, executions, count, &batch));
    return context->state->device->record_vulkan(batch.work, *recording);
  });
}

vkattn_status vkattn_submit_vulkan(vkattn_context context, const vkattn_execution* executions, uint32_t count,
                                   const vkattn_vulkan_sync* sync, uint64_t* out_ticket) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(open_context(context, "context"));
    if (sync != nullptr) {
      VKATTN_RETURN_IF_ERROR(check_struct(sync, "vkattn_vulkan_sync", "vkattn_vulkan_sync_init"));
      if (sync->wait_semaphore_count > 0 && sync->wait_semaphores == nullptr) {
        return vkattn::invalid_argument("vkattn_vulkan_sync.wait_semaphores is NULL but wait_semaphore_count is %u",
                                        sync->wait_semaphore_count);
      }
      if (sync->signal_semaphore_count > 0 && sync->signal_semaphores == nullptr) {
        return vkattn::invalid_argument("vkattn_vulkan_sync.signal_semaphores is NULL but signal_semaphore_count is %u",
                                        sync->signal_semaphore_count);
      }
    }
    vkattn::CheckedBatch batch;
    VKATTN_RETURN_IF_ERROR(vkattn::check_executions(context->state, executions, count, &batch));
    uint64_t ticket = 0;
    VKATTN_RETURN_IF_ERROR(context->state->device->submit(batch.work, sync, &ticket));
    if (out_ticket != nullptr) *out_ticket = ticket;
    return Status();
  });
}

}  // extern "C"
