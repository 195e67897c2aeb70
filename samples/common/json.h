// JSON string escaping for the command-line tools' --json output.
#pragma once

#include <cstdio>
#include <string>

namespace vkattn_samples {

inline std::string json_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

// A JSON number: %.6g of a finite value; null for NaN and infinities,
// which JSON cannot write (a case whose output held NaN has an infinite
// error).
inline std::string json_number(double value) {
  if (!(value - value == 0.0)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", value);
  return buf;
}

}  // namespace vkattn_samples
