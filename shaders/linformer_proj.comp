#version 450
// Linformer's projections (VKATTN_MODE_LINFORMER; include/vkattn.h):
//   K' = E K,  V' = F V   per (batch, kv head), over the keys j < L_b,
// K'[p][c] = sum_j E[p][j] K[j][c]. The softmax kernel then attends the
// proj_len rows of K' and V' (runtime/vulkan/linformer_plan.cpp).
//
// One workgroup of 64 invocations computes a tile of TILE rows x TILE
// columns of K' (or V') for one (batch, kv head): per step of TILE keys it
// loads E's block [TILE x TILE] and the keys' block [TILE x TILE] into
// shared memory (keys in any storage: f32, f16, q8_0, q4_0, paged), then
// each invocation adds them into its 4 x 4 outputs (rows ty + 8 t,
// columns tx + 8 u), held in registers: 8 shared loads per 16 FMAs. Keys
// from the sequence's length on are never read (their terms are 0, as if
// E's columns there were 0).
//
// Bindings and parameters (the shared layout, read as this shader's):
// K and V (2, 3) the execution's, through the slice's windows; E in the
// head-constants binding (10) and F in the additive-mask binding (6), f32
// rows of kv_len; K' and V' in the output binding (4), in Q's storage, at
// the views P.o_view and P.lse_view (slice-relative batch and head).
// P.split: x = proj_len, y = floats per kv head's E (0 when shared), z =
// the slice's first kv head, w = kv heads in the slice.
// Push constants: pc.block_base = 0 projects K, 1 projects V; the keys
// are walked in dispatches of pc.chunk_keys keys (pc.chunk of
// pc.chunk_count; 0 keys: one dispatch walks all), each carrying its f32
// sums in the Partials binding to the next, the last storing K' or V'.
#extension GL_EXT_control_flow_attributes : enable
#extension GL_GOOGLE_include_directive : require
#include "attention_common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;  // the plan passes 64: the tiling below assumes it
layout(constant_id = 3) const uint DQK = 64;
layout(constant_id = 4) const uint DV = 64;
layout(constant_id = 7) const uint FLAGS = 0;

const bool HAS_KV_LENS = (FLAGS & FLAG_KV_LENS) != 0u;
const uint TILE = 32u;   // rows and columns per workgroup, keys per step
const uint SPREAD = 8u;  // an invocation's rows (and columns) are SPREAD apart
const uint OUT = 4u;     // rows (and columns) per invocation: TILE / SPREAD
const uint DMAX = DQK > DV ? DQK : DV;

layout(std430, set = 0, binding = 10) readonly buffer ProjectionE { float e_rows[]; };
layout(std430, set = 0, binding = 6) readonly buffer ProjectionF { float f_rows[]; };

// E's (or F's) block, row r and key jj at r * (TILE + 1) + jj (padded: the
// invocations of a row of outputs read one column), and the keys' block,
// key jj and column c at jj * TILE + c.
shared float weights[TILE * (TILE + 1u)];
shared float keys[TILE * TILE];

// Element e of key j's K row or V row (any storage).
float key_value(bool of_v, uint b, uint kv_head, uint j, uint e) {
  const uint row = key_row_offset(of_v ? P.v_view : P.k_view, b, kv_head, j);
  if (of_v) return V_BLOCKS ? v_block_chunk(row, e & ~3u)[e & 3u] : v_element(row + e);
  return K_BLOCKS ? k_block_chunk(row, e & ~3u)[e & 3u] : k_element(row + e);
}

void main() {
  const uint inv = gl_LocalInvocationIndex;
  const bool of_v = pc.block_base == 1u;
  const uint dim = of_v ? DV : DQK;
  const uint proj_len = P.split.x;
  const uint col_tiles = (dim + TILE - 1u) / TILE;
  const uint p0 = (gl_WorkGroupID.x / col_tiles) * TILE;
  const uint c0 = (gl_WorkGroupID.x % col_tiles) * TILE;
  const uint kv_head = gl_WorkGroupID.y;  // within the slice
  const uint b = gl_WorkGroupID.z;
  const uint kv_len = P.sizes.w;
  const uint L = HAS_KV_LENS ? kv_lens[uint(P.masking.w) + b] : kv_len;
  const uint matrix_base = (P.split.z + kv_head) * P.split.y;
  const uint tx = inv % SPREAD, ty = inv / SPREAD;
  const uint partial_base = (((b * P.split.w + kv_head) * 2u + (of_v ? 1u : 0u)) * proj_len) * DMAX;

  float acc[OUT][OUT];
  [[unroll]] for (uint t = 0u; t < OUT; ++t) {
    [[unroll]] for (uint u = 0u; u < OUT; ++u) {
      const uint p = p0 + ty + t * SPREAD, c = c0 + tx + u * SPREAD;
      acc[t][u] = pc.chunk > 0u && p < proj_len && c < dim ? partial_data[partial_base + p * DMAX + c] : 0.0;
    }
  }
  const uint first = pc.chunk * pc.chunk_keys;
  const uint end = pc.chunk_keys == 0u ? L : min(L, first + pc.chunk_keys);
  for (uint j0 = first; j0 < end; j0 += TILE) {
    barrier();  // the previous step's readers are done
    for (uint e = inv; e < TILE * TILE; e += WG) {
      const uint r = e / TILE, jj = e % TILE;
      const uint p = p0 + r, j = j0 + jj;
      float w = 0.0;
      if (p < proj_len && j < end) {
        const uint index = matrix_base + p * kv_len + j;
        w = of_v ? f_rows[index] : e_rows[index];
      }
      weights[r * (TILE + 1u) + jj] = w;
    }
    for (uint e = inv; e < TILE * TILE; e += WG) {
      const uint jj = e / TILE, c = c0 + e % TILE, j = j0 + jj;
      keys[e] = j < end && c < dim ? key_value(of_v, b, kv_head, j, c) : 0.0;
    }
    barrier();
    [[unroll]] for (uint jj = 0u; jj < TILE; ++jj) {
      float w[OUT], k[OUT];
      [[unroll]] for (uint t = 0u; t < OUT; ++t) w[t] = weights[(ty + t * SPREAD) * (TILE + 1u) + jj];
      [[unroll]] for (uint u = 0u; u < OUT; ++u) k[u] = keys[jj * TILE + tx + u * SPREAD];
      [[unroll]] for (uint t = 0u; t < OUT; ++t) {
        [[unroll]] for (uint u = 0u; u < OUT; ++u) acc[t][u] += w[t] * k[u];
      }
    }
  }
  const bool last = pc.chunk + 1u == pc.chunk_count;
  const uvec4 view = of_v ? P.lse_view : P.o_view;
  [[unroll]] for (uint t = 0u; t < OUT; ++t) {
    [[unroll]] for (uint u = 0u; u < OUT; ++u) {
      const uint p = p0 + ty + t * SPREAD, c = c0 + tx + u * SPREAD;
      if (p >= proj_len || c >= dim) continue;
      if (last) {
        o_store(view.x + b * view.y + kv_head * view.z + p * view.w + c, acc[t][u]);
      } else {
        partial_data[partial_base + p * DMAX + c] = acc[t][u];
      }
    }
  }
}
