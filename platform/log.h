// The library's log: a sink chosen per context (the app's callback, or
// stderr) and a level. No global logger: each context owns one.
#pragma once

#include <string>

#include "vkattn.h"

namespace vkattn {

class Logger {
 public:
  Logger() = default;
  // VKATTN_LOG_LEVEL (0-3) in the environment overrides `level`.
  Logger(vkattn_log_fn fn, void* user_data, vkattn_log_level level);

  bool enabled(vkattn_log_level level) const { return level <= level_; }
  void log(vkattn_log_level level, const char* fmt, ...) const
#if defined(__GNUC__) || defined(__clang__)
      __attribute__((format(printf, 3, 4)))
#endif
      ;
  void error(const std::string& message) const { write(VKATTN_LOG_ERROR, message); }
  void warning(const std::string& message) const { write(VKATTN_LOG_WARNING, message); }
  void info(const std::string& message) const { write(VKATTN_LOG_INFO, message); }
  void write(vkattn_log_level level, const std::string& message) const;

 private:
  vkattn_log_fn fn_ = nullptr;
  void* user_data_ = nullptr;
  vkattn_log_level level_ = VKATTN_LOG_WARNING;
};

}  // namespace vkattn
