#include "status.h"

#include <cstdarg>
#include <cstdio>

namespace vkattn {

static std::string vformat(const char* fmt, va_list args) {
  va_list copy;
  va_copy(copy, args);
  const int length = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (length <= 0) return std::string();
  std::string text(static_cast<size_t>(length), '\0');
  std::vsnprintf(&text[0], text.size() + 1, fmt, args);
  return text;
}

std::string format(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  std::string text = vformat(fmt, args);
  va_end(args);
  return text;
}

#define VKATTN_DEFINE_STATUS_CTOR(name, code)  \
  Status name(const char* fmt, ...) {          \
    va_list args;                              \
    va_start(args, fmt);                       \
    std::string text = vformat(fmt, args);     \
    va_end(args);                              \
    return Status(code, std::move(text));      \
  }

VKATTN_DEFINE_STATUS_CTOR(invalid_argument, VKATTN_ERROR_INVALID_ARGUMENT)
VKATTN_DEFINE_STATUS_CTOR(failed_precondition, VKATTN_ERROR_FAILED_PRECONDITION)
VKATTN_DEFINE_STATUS_CTOR(unsupported, VKATTN_ERROR_UNSUPPORTED)
VKATTN_DEFINE_STATUS_CTOR(backend_unavailable, VKATTN_ERROR_BACKEND_UNAVAILABLE)
VKATTN_DEFINE_STATUS_CTOR(out_of_host_memory, VKATTN_ERROR_OUT_OF_HOST_MEMORY)
VKATTN_DEFINE_STATUS_CTOR(out_of_device_memory, VKATTN_ERROR_OUT_OF_DEVICE_MEMORY)
VKATTN_DEFINE_STATUS_CTOR(device_lost, VKATTN_ERROR_DEVICE_LOST)
VKATTN_DEFINE_STATUS_CTOR(internal_error, VKATTN_ERROR_INTERNAL)

}  // namespace vkattn
