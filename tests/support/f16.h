// An independent, deliberately simple IEEE binary16 codec for the tests
// (frexp/ldexp arithmetic, no bit tricks), so that test data and the
// runtime's fast conversions never share a bug.
#pragma once

#include <cmath>
#include <cstdint>

namespace vkattn_test {

inline double decode_f16(uint16_t bits) {
  const int sign = (bits >> 15) & 1;
  const int exponent = (bits >> 10) & 0x1f;
  const int mantissa = bits & 0x3ff;
  double magnitude;
  if (exponent == 0x1f) {
    magnitude = mantissa == 0 ? INFINITY : NAN;
  } else if (exponent == 0) {
    magnitude = std::ldexp(static_cast<double>(mantissa), -24);
  } else {
    magnitude = std::ldexp(1.0 + mantissa / 1024.0, exponent - 15);
  }
  return sign ? -magnitude : magnitude;
}

// Round-to-nearest-even encoding of a double.
inline uint16_t encode_f16(double value) {
  if (std::isnan(value)) return 0x7e00;
  const uint16_t sign = std::signbit(value) ? 0x8000 : 0;
  const double a = std::fabs(value);
  if (a == 0.0) return sign;
  if (std::isinf(a)) return static_cast<uint16_t>(sign | 0x7c00);
  int e2 = 0;
  std::frexp(a, &e2);  // a = m * 2^e2, m in [0.5, 1)
  int exponent = e2 - 1;  // a = 1.f * 2^exponent
  if (exponent < -14) {
    // Subnormal: units of 2^-24; 1024 units round up into the smallest normal.
    const double units = std::nearbyint(std::ldexp(a, 24));
    return static_cast<uint16_t>(sign | static_cast<uint16_t>(units));
  }
  double mantissa = std::nearbyint((std::ldexp(a, -exponent) - 1.0) * 1024.0);
  if (mantissa >= 1024.0) {
    mantissa = 0.0;
    ++exponent;
  }
  if (exponent > 15) return static_cast<uint16_t>(sign | 0x7c00);
  return static_cast<uint16_t>(sign | ((exponent + 15) << 10) | static_cast<uint16_t>(mantissa));
}

// The float a value becomes when stored as f16.
inline float round_to_f16(float value) { return static_cast<float>(decode_f16(encode_f16(value))); }

}  // namespace vkattn_test
