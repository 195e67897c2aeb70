// llama.cpp's q8_0 and q4_0 block formats: the one definition of their
// layout, quantizer and dequantizer, shared by the public helpers
// (vkattn_quantize / vkattn_dequantize) and the CPU row kernels (which
// include it into each instruction-set build, so the loops vectorise there).
// The Vulkan shaders decode the same layout (shaders/attention_common.glsl).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "half.h"
#include "vkattn.h"

namespace vkattn {

constexpr int64_t kQuantBlock = VKATTN_QUANT_BLOCK;  // values per block
constexpr uint64_t kQ8BlockBytes = 34;                // f16 scale + 32 int8 codes
constexpr uint64_t kQ4BlockBytes = 18;                // f16 scale + 16 bytes of nibbles

inline bool is_block_dtype(vkattn_dtype dtype) { return dtype == VKATTN_DTYPE_Q8_0 || dtype == VKATTN_DTYPE_Q4_0; }

inline uint64_t block_bytes(vkattn_dtype dtype) { return dtype == VKATTN_DTYPE_Q8_0 ? kQ8BlockBytes : kQ4BlockBytes; }

// Byte offset of value `element` of a tensor of `dtype` (for the block
// types, `element` is a multiple of kQuantBlock: a row start). The caller
// has checked that the product fits (make_problem bounds every extent).
inline uint64_t storage_offset(vkattn_dtype dtype, uint64_t element) {
  switch (dtype) {
    case VKATTN_DTYPE_F16: return element * 2;
    case VKATTN_DTYPE_Q8_0: return element / kQuantBlock * kQ8BlockBytes;
    case VKATTN_DTYPE_Q4_0: return element / kQuantBlock * kQ4BlockBytes;
    default: return element * 4;
  }
}

inline float block_scale(const uint8_t* block) {
  uint16_t bits;
  std::memcpy(&bits, block, 2);
  return half_to_float(bits);
}

// llama.cpp's quantize_row_q8_0_ref for one block of 32 finite values.
inline void quantize_block_q8_0(const float* x, uint8_t* block) {
  float amax = 0.0f;
  for (int j = 0; j < kQuantBlock; ++j) amax = std::fmax(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  const uint16_t scale = float_to_half(d);
  std::memcpy(block, &scale, 2);
  for (int j = 0; j < kQuantBlock; ++j) block[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(std::round(x[j] * id)));
}

// llama.cpp's quantize_row_q4_0_ref for one block of 32 finite values: the
// scale comes from the value of largest magnitude (the first of equals),
// with its sign, so that value maps to code 0.
inline void quantize_block_q4_0(const float* x, uint8_t* block) {
  float amax = 0.0f;
  float max = 0.0f;
  for (int j = 0; j < kQuantBlock; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  const float d = max / -8.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  const uint16_t scale = float_to_half(d);
  std::memcpy(block, &scale, 2);
  for (int j = 0; j < kQuantBlock / 2; ++j) {
    // (int8_t) truncates toward zero; x * id + 8.5 lies in [0.5, 16.5].
    const int low = std::min(15, static_cast<int>(static_cast<int8_t>(x[j] * id + 8.5f)));
    const int high = std::min(15, static_cast<int>(static_cast<int8_t>(x[j + 16] * id + 8.5f)));
    block[2 + j] = static_cast<uint8_t>(low | (high << 4));
  }
}

// Values [0, 32) of a block, times `scale` (code * d, then * scale: with
// scale 1 exactly llama.cpp's dequantize_row_*).
inline void dequantize_block(vkattn_dtype dtype, const uint8_t* block, float scale, float* out) {
  const float d = block_scale(block);
  const uint8_t* codes = block + 2;
  if (dtype == VKATTN_DTYPE_Q8_0) {
    for (int j = 0; j < kQuantBlock; ++j) out[j] = static_cast<float>(static_cast<int8_t>(codes[j])) * d * scale;
  } else {
    for (int j = 0; j < kQuantBlock / 2; ++j) {
      out[j] = static_cast<float>((codes[j] & 0x0f) - 8) * d * scale;
      out[j + 16] = static_cast<float>((codes[j] >> 4) - 8) * d * scale;
    }
  }
}

}  // namespace vkattn
