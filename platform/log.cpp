#include "log.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#if defined(__ANDROID__)
#include <android/api-level.h>
#include <android/log.h>
// The oldest Android vkattn builds for: API 28 (Android 9), which brought
// bionic's aligned_alloc (the CPU backend's buffers) and Vulkan 1.1 (the
// shaders' target). docs/ANDROID.md.
#if __ANDROID_API__ < 28
#error "vkattn needs Android API level 28 or newer: -DANDROID_PLATFORM=android-28 (Gradle: minSdk 28)"
#endif
#endif

namespace vkattn {

Logger::Logger(vkattn_log_fn fn, void* user_data, vkattn_log_level level)
    : fn_(fn), user_data_(user_data), level_(level) {
  if (const char* env = std::getenv("VKATTN_LOG_LEVEL")) {
    const int value = std::atoi(env);
    if (value >= VKATTN_LOG_ERROR && value <= VKATTN_LOG_DEBUG) level_ = static_cast<vkattn_log_level>(value);
  }
}

void Logger::log(vkattn_log_level level, const char* fmt, ...) const {
  if (!enabled(level)) return;
  char text[1024];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(text, sizeof(text), fmt, args);
  va_end(args);
  write(level, text);
}

void Logger::write(vkattn_log_level level, const std::string& message) const {
  if (!enabled(level)) return;
  if (fn_ != nullptr) {
    fn_(user_data_, level, message.c_str());
    return;
  }
#if defined(__ANDROID__)
  // Apps have no visible stderr: the default sink is logcat (tag "vkattn").
  static const int kPriorities[] = {ANDROID_LOG_ERROR, ANDROID_LOG_WARN, ANDROID_LOG_INFO, ANDROID_LOG_DEBUG};
  __android_log_write(kPriorities[level], "vkattn", message.c_str());
#else
  static const char* const kNames[] = {"error", "warning", "info", "debug"};
  std::fprintf(stderr, "vkattn: %s: %s\n", kNames[level], message.c_str());
#endif
}

}  // namespace vkattn
