#version 450
// Appends new keys and values to a K/V cache (vkattn_append_desc; the CPU
// twin is runtime/cpu/append_kernel.cpp). Workgroup row y (+ block_base) is
// one (sequence, kv head, token); its invocations take the row's units: a
// value (f32 cache), a pair of values (f16) or a block of 32 (q8_0, q4_0),
// K's units first, then V's. Keys are turned by RoPE at their cache
// position on the way.
//
// Every tensor is addressed as 32-bit words. A word that a unit fills
// whole is stored plainly; a word it shares with a neighbour (an f16 value
// at an odd index, a block edge at a 2-byte boundary: blocks are 34 or 18
// bytes) is written with two atomics that touch only the unit's own bits,
// so units writing either half never disturb each other.
#extension GL_EXT_control_flow_attributes : enable
#extension GL_GOOGLE_include_directive : require

#include "rope.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint SRC_F16 = 0u;     // sources: 0 f32, 1 f16
layout(constant_id = 2) const uint K_TYPE = 0u;      // caches: 0 f32, 1 f16, 2 q8_0, 3 q4_0
layout(constant_id = 3) const uint V_TYPE = 0u;
layout(constant_id = 4) const uint PAGE_SIZE = 0u;   // 0: contiguous caches
layout(constant_id = 5) const uint ROPE_STYLE = 0u;  // 0 none, 1 NeoX, 2 GPT-J
const uint TYPE_F32 = 0u;
const uint TYPE_F16 = 1u;
const uint TYPE_Q8_0 = 2u;

// One slice of batches and kv heads per dispatch (runtime/vulkan/
// append_plan.cpp). Views relative to the slice's binding windows: offset,
// batch (page) stride, head stride, row stride; in elements of the source
// or cache type, bytes for block caches. Batch and head indices below are
// the slice's; positions and block-table rows take the batch's own index.
layout(std140, set = 0, binding = 0) uniform AppendParams {
  uvec4 k_src;
  uvec4 v_src;
  uvec4 k_cache;
  uvec4 v_cache;
  uvec4 sizes;   // x: kv heads in the slice, y: new tokens, z: qk_dim, w: v_dim
  uvec4 extra;   // x: block-table row length, y: RoPE dims, z: rows of the slice (batches x kv heads x new tokens), w: its first batch
} A;

layout(push_constant) uniform Dispatch {
  uint block_base;  // first row of this dispatch
  uint unused0;
  uint unused1;
  uint unused2;
  uint unused3;
} pc;

layout(std430, set = 0, binding = 1) readonly buffer KSource { uint k_src_words[]; };
layout(std430, set = 0, binding = 4) readonly buffer VSource { uint v_src_words[]; };
layout(std430, set = 0, binding = 2) buffer KCache { uint k_cache_words[]; };
layout(std430, set = 0, binding = 3) buffer VCache { uint v_cache_words[]; };
layout(std430, set = 0, binding = 8) readonly buffer Positions { int positions[]; };
layout(std430, set = 0, binding = 10) readonly buffer RopeTurns { uint rope_words[]; };
layout(std430, set = 0, binding = 11) readonly buffer BlockTable { int block_table[]; };

float source_value(bool of_v, uint e) {
  if (SRC_F16 != 0u) {
    const uint word = of_v ? v_src_words[e >> 1u] : k_src_words[e >> 1u];
    return unpackHalf2x16(word >> ((e & 1u) << 4u)).x;
  }
  return uintBitsToFloat(of_v ? v_src_words[e] : k_src_words[e]);
}

// Element d of the source row at `base`; keys are turned to `position`.
float new_value(bool of_v, uint base, uint d, int position) {
  const float x = source_value(of_v, base + d);
  if (of_v || ROPE_STYLE == 0u || d >= A.extra.y) return x;
  uint p, partner;
  float sign;
  rope_pair(ROPE_STYLE == 1u, A.extra.y, d, p, partner, sign);
  const vec2 cs = rope_cos_sin(position, rope_words[2u * p], rope_words[2u * p + 1u]);
  return x * cs.x + sign * source_value(of_v, base + partner) * cs.y;
}

void store_word(bool of_v, uint index, uint value) {
  if (of_v) {
    v_cache_words[index] = value;
  } else {
    k_cache_words[index] = value;
  }
}

// Replaces the 16 bits of word `index` at `shift` (0 or 16), nothing else.
void store_half_word(bool of_v, uint index, uint shift, uint bits) {
  if (of_v) {
    atomicAnd(v_cache_words[index], ~(0xffffu << shift));
    atomicOr(v_cache_words[index], bits << shift);
  } else {
    atomicAnd(k_cache_words[index], ~(0xffffu << shift));
    atomicOr(k_cache_words[index], bits << shift);
  }
}

bool is_nonfinite(float x) { return (floatBitsToUint(x) & 0x7f800000u) == 0x7f800000u; }

// IEEE binary16 bits of x, rounded to nearest even (runtime/half.h's
// float_to_half): packHalf2x16 leaves the rounding to the implementation.
uint half_bits(float x) {
  const uint bits = floatBitsToUint(x);
  const uint sign = (bits >> 16u) & 0x8000u;
  const uint magnitude = bits & 0x7fffffffu;
  if (magnitude >= 0x7f800000u) {  // Inf or NaN (quiet, payload kept)
    return sign | 0x7c00u | (magnitude > 0x7f800000u ? 0x200u : 0u) | ((magnitude >> 13u) & 0x3ffu);
  }
  if (magnitude >= 0x477ff000u) return sign | 0x7c00u;  // rounds to Inf
  if (magnitude < 0x38800000u) {                        // subnormal or zero
    if (magnitude < 0x33000000u) return sign;
    const uint shift = 126u - (magnitude >> 23u);        // 14..24
    const uint mantissa = (magnitude & 0x7fffffu) | 0x800000u;
    uint value = mantissa >> shift;
    const uint remainder = mantissa & ((1u << shift) - 1u);
    const uint halfway = 1u << (shift - 1u);
    if (remainder > halfway || (remainder == halfway && (value & 1u) != 0u)) ++value;
    return sign | value;
  }
  uint value = magnitude - 0x38000000u;
  const uint remainder = value & 0x1fffu;
  value >>= 13u;
  if (remainder > 0x1000u || (remainder == 0x1000u && (value & 1u) != 0u)) ++value;
  return sign | value;
}

// roundf: to nearest, halves away from zero (the GLSL round() leaves
// halves to the implementation). x - trunc(x) is exact.
float round_half_away(float x) {
  const float t = trunc(x);
  return abs(x - t) >= 0.5 ? t + sign(x) : t;
}

// Writes n (<= 17) 16-bit halves starting at even byte `byte`.
void store_halves(bool of_v, uint byte, uint halves[17], uint n) {
  uint i = 0u;
  while (i < n) {
    const uint address = byte + 2u * i;
    if ((address & 2u) == 0u && i + 1u < n) {
      store_word(of_v, address >> 2u, halves[i] | (halves[i + 1u] << 16u));
      i += 2u;
    } else {
      store_half_word(of_v, address >> 2u, (address & 2u) << 3u, halves[i]);
      i += 1u;
    }
  }
}

// Quantizes values [32 u, 32 u + 32) of a row into the block at byte
// `block` with llama.cpp's formulas (vkattn_quantize): q8_0 d = max|x| / 127,
// codes roundf(x / d); q4_0 d = x_m / -8 (x_m the first value of largest
// magnitude), codes min(15, trunc(x / d + 8.5)). A block holding NaN or
// Inf gets a NaN scale and zero codes.
void store_block(bool of_v, uint type, uint block, uint src_base, uint u, int position) {
  float x[32];
  bool finite = true;
  float amax = 0.0;
  float extreme = 0.0;
  [[unroll]] for (uint j = 0u; j < 32u; ++j) {
    x[j] = new_value(of_v, src_base, 32u * u + j, position);
    finite = finite && !is_nonfinite(x[j]);
    if (amax < abs(x[j])) {
      amax = abs(x[j]);
      extreme = x[j];
    }
  }
  uint halves[17];
  const uint count = type == TYPE_Q8_0 ? 17u : 9u;
  if (!finite) {
    halves[0] = 0x7e00u;
    [[unroll]] for (uint i = 1u; i < 17u; ++i) halves[i] = 0u;
    store_halves(of_v, block, halves, count);
    return;
  }
  const float d = type == TYPE_Q8_0 ? amax / 127.0 : extreme / -8.0;
  const float id = d != 0.0 ? 1.0 / d : 0.0;
  halves[0] = half_bits(d);
  if (type == TYPE_Q8_0) {
    [[unroll]] for (uint i = 0u; i < 16u; ++i) {
      precise const float a = x[2u * i] * id;
      precise const float b = x[2u * i + 1u] * id;
      const uint low = uint(int(round_half_away(a))) & 0xffu;
      const uint high = uint(int(round_half_away(b))) & 0xffu;
      halves[1u + i] = low | (high << 8u);
    }
  } else {
    uint codes[16];
    [[unroll]] for (uint j = 0u; j < 16u; ++j) {
      precise const float a = x[j] * id + 8.5;
      precise const float b = x[j + 16u] * id + 8.5;
      codes[j] = min(15u, uint(a)) | (min(15u, uint(b)) << 4u);
    }
    [[unroll]] for (uint i = 0u; i < 8u; ++i) halves[1u + i] = codes[2u * i] | (codes[2u * i + 1u] << 8u);
    [[unroll]] for (uint i = 9u; i < 17u; ++i) halves[i] = 0u;
  }
  store_halves(of_v, block, halves, count);
}

uint units_of(uint type, uint dim) {
  return type == TYPE_F32 ? dim : (type == TYPE_F16 ? (dim + 1u) >> 1u : dim >> 5u);
}

// Where cache position j of (sequence b of the slice, kv head h of the
// slice) starts in `view`; `sequence` is b's index in the batch.
uint cache_row(uvec4 view, uint b, uint sequence, uint h, uint j) {
  if (PAGE_SIZE == 0u) return view.x + b * view.y + h * view.z + j * view.w;
  const uint page = uint(block_table[sequence * A.extra.x + j / PAGE_SIZE]);
  return view.x + page * view.y + h * view.z + (j % PAGE_SIZE) * view.w;
}

void main() {
  const uint row = gl_WorkGroupID.y + pc.block_base;
  if (row >= A.extra.z) return;
  const uint tokens = A.sizes.y;
  const uint t = row % tokens;
  const uint h = (row / tokens) % A.sizes.x;
  const uint b = row / tokens / A.sizes.x;
  const uint sequence = A.extra.w + b;
  const uint position = uint(positions[sequence]) + t;  // checked: < kv_len

  const uint k_units = units_of(K_TYPE, A.sizes.z);
  const uint v_units = units_of(V_TYPE, A.sizes.w);
  const uint unit = gl_GlobalInvocationID.x;
  if (unit >= k_units + v_units) return;
  const bool of_v = unit >= k_units;
  const uint u = of_v ? unit - k_units : unit;
  const uint type = of_v ? V_TYPE : K_TYPE;
  const uint dim = of_v ? A.sizes.w : A.sizes.z;
  const uvec4 src_view = of_v ? A.v_src : A.k_src;
  const uint src_base = src_view.x + b * src_view.y + h * src_view.z + t * src_view.w;
  const uint target = cache_row(of_v ? A.v_cache : A.k_cache, b, sequence, h, position);

  if (type == TYPE_F32) {
    store_word(of_v, target + u, floatBitsToUint(new_value(of_v, src_base, u, int(position))));
  } else if (type == TYPE_F16) {
    const uint d = 2u * u;
    const uint e = target + d;
    const uint low = half_bits(new_value(of_v, src_base, d, int(position)));
    if (d + 1u < dim) {
      const uint high = half_bits(new_value(of_v, src_base, d + 1u, int(position)));
      if ((e & 1u) == 0u) {
        store_word(of_v, e >> 1u, low | (high << 16u));
      } else {
        store_half_word(of_v, e >> 1u, 16u, low);
        store_half_word(of_v, (e + 1u) >> 1u, 0u, high);
      }
    } else {
      store_half_word(of_v, e >> 1u, (e & 1u) << 4u, low);
    }
  } else {
    store_block(of_v, type, target + u * (type == TYPE_Q8_0 ? 34u : 18u), src_base, u, int(position));
  }
}
