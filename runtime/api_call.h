// What every C entry point shares (api.cpp, api_vulkan.cpp): the call
// wrapper that turns a Status into a return code and the thread-local
// message, and the handle checks.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <string>

#include "objects.h"
#include "status.h"
#include "vkattn.h"

namespace vkattn {
namespace api {

// The calling thread's last failure message (vkattn_last_error).
std::string& last_error();

// Runs `body` (returning Status) as one API call: clears the message, catches
// every exception, records the failure message.
template <class Body>
vkattn_status api_call(Body&& body) {
  last_error().clear();
  Status status;
  try {
    status = body();
  } catch (const std::bad_alloc&) {
    status = out_of_host_memory("a host allocation failed");
  } catch (const std::exception& e) {
    status = internal_error("unexpected exception: %s", e.what());
  } catch (...) {
    status = internal_error("unexpected exception");
  }
  if (!status.ok()) {
    try {
      last_error() = status.message().empty() ? vkattn_status_string(status.code()) : status.message();
    } catch (...) {
      last_error().clear();
    }
  }
  return status.code();
}

// A live handle of the right kind; buffers also need a live context.
Status open_context(vkattn_context context, const char* what);
Status open_buffer(vkattn_buffer buffer);
// The options' struct size, flags and enum values.
Status validate_options(const vkattn_context_options& options);

// The handle of a buffer the context's device made (created or imported).
Status wrap_buffer(vkattn_context context, std::unique_ptr<DeviceBuffer> impl, vkattn_buffer* out_buffer);

// Makes the device of a new context from its checked options.
using DeviceFactory =
    std::function<Status(const vkattn_context_options& options, const Logger& log, std::unique_ptr<Device>* out)>;
// Checks `options` (NULL: the defaults) and creates a context handle around
// the device `make_device` creates.
Status create_context(const vkattn_context_options* options, const DeviceFactory& make_device,
                      vkattn_context* out_context);

}  // namespace api
}  // namespace vkattn
