// The tests' own q8_0 / q4_0 block codec, transcribed from the formulas of
// llama.cpp's reference quantizers (quantize_row_q8_0_ref,
// quantize_row_q4_0_ref) and kept apart from runtime/quant.h, so that test
// data and the library's quantizer never share a bug. The f16 scale goes
// through the tests' own f16 codec (f16.h).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "f16.h"
#include "vkattn.h"

namespace vkattn_test {

constexpr int kBlockValues = 32;

inline bool is_block_type(vkattn_dtype dtype) { return dtype == VKATTN_DTYPE_Q8_0 || dtype == VKATTN_DTYPE_Q4_0; }

inline uint64_t block_size_bytes(vkattn_dtype dtype) { return dtype == VKATTN_DTYPE_Q8_0 ? 34 : 18; }

// Bytes of `count` values (a multiple of 32 for block types) of `dtype`.
inline uint64_t values_bytes(vkattn_dtype dtype, uint64_t count) {
  if (is_block_type(dtype)) return count / kBlockValues * block_size_bytes(dtype);
  return count * (dtype == VKATTN_DTYPE_F16 ? 2 : 4);
}

// One block of 32 finite floats into `block`, as llama.cpp writes it.
//   q8_0: d = amax / 127; id = 1/d (0 if d = 0); code = roundf(x * id).
//   q4_0: xm = the value of largest |x| (first of equals), d = xm / -8,
//         id = 1/d (0 if d = 0); code = min(15, (int8_t)(x * id + 8.5f));
//         byte j = code(j) | code(j + 16) << 4.
inline void encode_block(vkattn_dtype dtype, const float* x, uint8_t* block) {
  float d;
  if (dtype == VKATTN_DTYPE_Q8_0) {
    float amax = 0.0f;
    for (int j = 0; j < kBlockValues; ++j) amax = std::fabs(x[j]) > amax ? std::fabs(x[j]) : amax;
    d = amax / 127;
  } else {
    float amax = 0.0f, xm = 0.0f;
    for (int j = 0; j < kBlockValues; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        xm = x[j];
      }
    }
    d = xm / -8;
  }
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  const uint16_t scale = encode_f16(static_cast<double>(d));
  block[0] = static_cast<uint8_t>(scale & 0xff);
  block[1] = static_cast<uint8_t>(scale >> 8);
  if (dtype == VKATTN_DTYPE_Q8_0) {
    for (int j = 0; j < kBlockValues; ++j) {
      const int8_t code = static_cast<int8_t>(std::round(x[j] * id));
      block[2 + j] = static_cast<uint8_t>(code);
    }
  } else {
    for (int j = 0; j < kBlockValues / 2; ++j) {
      int low = static_cast<int8_t>(x[j] * id + 8.5f);
      int high = static_cast<int8_t>(x[j + 16] * id + 8.5f);
      low = low > 15 ? 15 : low;
      high = high > 15 ? 15 : high;
      block[2 + j] = static_cast<uint8_t>(low | (high << 4));
    }
  }
}

// Value j of a block, exactly (code * d, computed in f32 as llama.cpp does).
inline float decode_block_value(vkattn_dtype dtype, const uint8_t* block, int j) {
  const float d = static_cast<float>(decode_f16(static_cast<uint16_t>(block[0] | (block[1] << 8))));
  if (dtype == VKATTN_DTYPE_Q8_0) return static_cast<float>(static_cast<int8_t>(block[2 + j])) * d;
  const int code = j < 16 ? (block[2 + j] & 0x0f) : (block[2 + j - 16] >> 4);
  return static_cast<float>(code - 8) * d;
}

}  // namespace vkattn_test
