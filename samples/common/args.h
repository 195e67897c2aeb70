// Command-line parsing shared by the sample tools. A bad argument becomes a
// Failure, thrown, which main() prints as one message naming the argument
// before exiting with its code (2: bad command line, 1: bad input or a
// failed run): never a crash.
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "vkattn.h"

namespace vkattn_samples {

// An error the tool reports and exits on.
struct Failure {
  int exit_code;
  std::string message;
};

inline Failure usage_error(const std::string& message) { return Failure{2, message}; }
inline Failure input_error(const std::string& message) { return Failure{1, message}; }

// The status of a C API call: anything but VKATTN_SUCCESS becomes a Failure
// (exit 1) reading "WHAT: STATUS: vkattn_last_error()", where `what` names
// the call or what it was doing ("creating the plan").
inline void check(vkattn_status status, const char* what) {
  if (status != VKATTN_SUCCESS) {
    throw input_error(std::string(what) + ": " + vkattn_status_string(status) + ": " + vkattn_last_error());
  }
}

// A decimal integer in [lo, hi], the whole text.
inline bool parse_int(const std::string& text, int64_t lo, int64_t hi, int64_t* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || value < lo || value > hi) return false;
  *out = value;
  return true;
}

// A finite float, the whole text.
inline bool parse_finite(const std::string& text, float* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  const float value = std::strtof(text.c_str(), &end);
  if (*end != '\0' || !std::isfinite(value)) return false;
  *out = value;
  return true;
}

// Walks argv: each argument's name, and its value either after '='
// (--window=4,0) or as the next argument (--window 4,0).
class ArgCursor {
 public:
  ArgCursor(int argc, char** argv) : argc_(argc), argv_(argv) {}

  // Moves to the next argument; false after the last.
  bool next() {
    if (++index_ >= argc_) return false;
    name_ = argv_[index_];
    value_.clear();
    has_value_ = false;
    const size_t eq = name_.find('=');
    if (name_.rfind("--", 0) == 0 && eq != std::string::npos) {
      value_ = name_.substr(eq + 1);
      name_ = name_.substr(0, eq);
      has_value_ = true;
    }
    return true;
  }

  const std::string& name() const { return name_; }     // "--window" for --window=4,0
  bool has_value() const { return has_value_; }          // given with '='
  const char* raw() const { return argv_[index_]; }      // the argument as typed

  // The argument's value: after '=', or the next argument (consumed).
  std::string value() {
    if (has_value_) return value_;
    if (index_ + 1 >= argc_) throw usage_error(name_ + " needs a value");
    return argv_[++index_];
  }

  // The value as an integer in [lo, hi]; `what` describes the range.
  int64_t int_value(int64_t lo, int64_t hi, const char* what) {
    const std::string text = value();
    int64_t n = 0;
    if (!parse_int(text, lo, hi, &n)) throw usage_error(name_ + " needs " + what + ", not '" + text + "'");
    return n;
  }

  // The value as a finite float, > 0 where `positive`.
  float float_value(bool positive) {
    const std::string text = value();
    float x = 0.0f;
    if (!parse_finite(text, &x) || (positive && !(x > 0.0f))) {
      throw usage_error(name_ + " needs a finite number" + (positive ? " > 0" : "") + ", not '" + text + "'");
    }
    return x;
  }

 private:
  int argc_;
  char** argv_;
  int index_ = 0;
  std::string name_, value_;
  bool has_value_ = false;
};

inline vkattn_backend parse_backend(const std::string& text) {
  if (text == "auto") return VKATTN_BACKEND_AUTO;
  if (text == "cpu") return VKATTN_BACKEND_CPU;
  if (text == "vulkan") return VKATTN_BACKEND_VULKAN;
  throw usage_error("--backend must be auto, cpu or vulkan, not '" + text + "'");
}

// A causal alignment: bottom-right or top-left (with '-' or '_'), or none
// where `allow_none`.
inline vkattn_causal parse_causal(const std::string& text, bool allow_none) {
  if (text == "bottom-right" || text == "bottom_right") return VKATTN_CAUSAL_BOTTOM_RIGHT;
  if (text == "top-left" || text == "top_left") return VKATTN_CAUSAL_TOP_LEFT;
  if (allow_none && text == "none") return VKATTN_CAUSAL_NONE;
  throw usage_error(std::string("--causal must be ") + (allow_none ? "none, " : "") +
                    "bottom-right or top-left, not '" + text + "'");
}

// --window L,R: integers >= -1 (-1 = unbounded).
inline void parse_window(const std::string& text, int64_t* left, int64_t* right) {
  const size_t comma = text.find(',');
  if (comma == std::string::npos || !parse_int(text.substr(0, comma), -1, INT64_MAX / 4, left) ||
      !parse_int(text.substr(comma + 1), -1, INT64_MAX / 4, right)) {
    throw usage_error("--window takes L,R with integers >= -1 (-1 = unbounded), not '" + text + "'");
  }
}

// A tool's main(): runs `body`, and turns a Failure it throws into
// "TOOL: error: message" on stderr (followed by the usage after a bad
// command line) and its exit code; running out of memory exits 1.
template <class Body>
int run_main(const char* tool, const char* usage, Body body) {
  try {
    return body();
  } catch (const Failure& failure) {
    std::fprintf(stderr, "%s: error: %s\n", tool, failure.message.c_str());
    if (failure.exit_code == 2) std::fputs(usage, stderr);
    return failure.exit_code;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "%s: error: out of memory\n", tool);
    return 1;
  }
}

// The comma-separated parts of a --filter (empty parts dropped).
inline std::vector<std::string> filter_parts(const std::string& filter) {
  std::vector<std::string> parts;
  size_t begin = 0;
  while (begin <= filter.size()) {
    size_t end = filter.find(',', begin);
    if (end == std::string::npos) end = filter.size();
    if (end > begin) parts.push_back(filter.substr(begin, end - begin));
    begin = end + 1;
  }
  return parts;
}

// Whether a --filter selects the case `name`: an empty filter takes every
// case; otherwise the filter is one or more comma-separated substrings, any
// of which may occur in the name (--filter prefill_h8_s512,decode_q1_kv4096).
inline bool filter_matches(const std::string& filter, const std::string& name) {
  if (filter.empty()) return true;
  for (const std::string& part : filter_parts(filter)) {
    if (name.find(part) != std::string::npos) return true;
  }
  return false;
}

// The first part of `filter` that no case name contains ("" if none):
// most likely a typo, which would otherwise drop cases quietly.
inline std::string unmatched_filter_part(const std::string& filter, const std::vector<std::string>& names) {
  for (const std::string& part : filter_parts(filter)) {
    bool found = false;
    for (const std::string& name : names) found = found || name.find(part) != std::string::npos;
    if (!found) return part;
  }
  return "";
}

}  // namespace vkattn_samples
