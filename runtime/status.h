// Status: the one error type inside the library. A code from the public
// vkattn_status enum plus a message that names the offending field or limit.
// api.cpp turns it into the return value and the thread-local last error.
#pragma once

#include <string>
#include <utility>

#include "vkattn.h"

namespace vkattn {

class Status {
 public:
  Status() = default;  // success
  Status(vkattn_status code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == VKATTN_SUCCESS; }
  vkattn_status code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  vkattn_status code_ = VKATTN_SUCCESS;
  std::string message_;
};

// printf-style constructors, one per status code.
#if defined(__GNUC__) || defined(__clang__)
#define VKATTN_PRINTF_LIKE(fmt_index) __attribute__((format(printf, fmt_index, fmt_index + 1)))
#else
#define VKATTN_PRINTF_LIKE(fmt_index)
#endif

std::string format(const char* fmt, ...) VKATTN_PRINTF_LIKE(1);
Status invalid_argument(const char* fmt, ...) VKATTN_PRINTF_LIKE(1);
Status failed_precondition(const char* fmt, ...) VKATTN_PRINTF_LIKE(1);
Status unsupported(const char* fmt, ...) VKATTN_PRINTF_LIKE(1);
Status backend_unavailable(const char* fmt, ...) VKATTN_PRINTF_LIKE(1);
Status out_of_host_memory(const char* fmt, ...) VKATTN_PRINTF_LIKE(1);
Status out_of_device_memory(const char* fmt, ...) VKATTN_PRINTF_LIKE(1);
Status device_lost(const char* fmt, ...) VKATTN_PRINTF_LIKE(1);
Status internal_error(const char* fmt, ...) VKATTN_PRINTF_LIKE(1);

}  // namespace vkattn

#define VKATTN_RETURN_IF_ERROR(expr)             \
  do {                                           \
    ::vkattn::Status vkattn_status_ = (expr);    \
    if (!vkattn_status_.ok()) return vkattn_status_; \
  } while (0)
