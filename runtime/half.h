// IEEE binary16 <-> binary32 conversion, exact and round-to-nearest-even,
// in portable C++ (the hot loops that convert whole rows live in the CPU
// kernels, where the compiler may vectorise them).
#pragma once

#include <cstdint>
#include <cstring>

namespace vkattn {

// Branch-free (vectorisable) and exact for every input, subnormals, Inf and
// NaN payloads included: the half's exponent and mantissa are moved into
// float position and the exponent rebiased; subnormals are renormalised by
// one exact float subtraction.
inline float half_to_float(uint16_t h) {
  const uint32_t shifted = static_cast<uint32_t>(h & 0x7fffu) << 13;
  const uint32_t exponent = shifted & 0x0f800000u;
  uint32_t bits = shifted + ((127u - 15u) << 23);
  bits += exponent == 0x0f800000u ? ((128u - 16u) << 23) : 0u;  // Inf/NaN: exponent 255
  bits += exponent == 0 ? (1u << 23) : 0u;                      // subnormal: borrow 2^-14
  float magnitude;
  std::memcpy(&magnitude, &bits, sizeof(magnitude));
  magnitude -= exponent == 0 ? 6.103515625e-05f : 0.0f;        // ... and give it back exactly
  uint32_t result;
  std::memcpy(&result, &magnitude, sizeof(result));
  result |= static_cast<uint32_t>(h & 0x8000u) << 16;
  float f;
  std::memcpy(&f, &result, sizeof(f));
  return f;
}

inline uint16_t float_to_half(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs_bits = bits & 0x7fffffffu;
  if (abs_bits >= 0x7f800000u) {  // Inf or NaN
    const uint16_t nan_bit = abs_bits > 0x7f800000u ? 0x200u : 0u;
    return static_cast<uint16_t>(sign | 0x7c00u | nan_bit | ((abs_bits >> 13) & 0x3ffu));
  }
  if (abs_bits >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to Inf
  if (abs_bits < 0x38800000u) {
    // Result is subnormal or zero: shift the implicit-1 mantissa into place
    // and round to nearest even.
    if (abs_bits < 0x33000000u) return sign;  // below half the smallest subnormal
    const uint32_t exponent = abs_bits >> 23;
    const uint32_t mantissa = (abs_bits & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126u - exponent;  // 14..24
    uint32_t value = mantissa >> shift;
    const uint32_t remainder = mantissa & ((1u << shift) - 1u);
    const uint32_t halfway = 1u << (shift - 1u);
    if (remainder > halfway || (remainder == halfway && (value & 1u))) ++value;
    return static_cast<uint16_t>(sign | value);
  }
  // Normal: rebias exponent, round mantissa to 10 bits (nearest even); a
  // carry out of the mantissa correctly bumps the exponent.
  uint32_t value = abs_bits - 0x38000000u;  // exponent bias 127 -> 15
  const uint32_t remainder = value & 0x1fffu;
  value >>= 13;
  if (remainder > 0x1000u || (remainder == 0x1000u && (value & 1u))) ++value;
  return static_cast<uint16_t>(sign | value);
}

}  // namespace vkattn
