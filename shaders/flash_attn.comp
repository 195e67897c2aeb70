#version 450
// Tiled scaled dot-product attention with an online softmax.
//
// One workgroup = one block of BR query rows of one (batch, kv head): the
// G = q_heads/kv_heads query heads sharing the kv head are interleaved with
// the positions (row = position * G + head), so every K/V tile is loaded once
// for the whole group and causal skipping stays tight. Per tile of BC keys:
//   load K, V tiles to shared memory (keys past the range are zeros)
//   S = Q.K^T        each thread a QK_ROWS x QK_COLS micro-tile
//   softmax step     SM_THREADS threads per row: mask, running max m, p, l
//   O = O*alpha + P.V  each thread a PV_ROWS x PV_DIMS micro-tile in registers
// Key tiles that causal/window/length masking hides from every row of the
// block are never visited. With split-KV (FLAG_SPLIT) each workgroup covers
// one slice of the keys and writes unnormalised (O, m, l) for
// flash_attn_reduce.comp to merge. With key chunks (pc.chunk_count > 1) the
// same (O, m, l) records carry a row's state from one dispatch to the next.
#extension GL_EXT_control_flow_attributes : enable
#extension GL_GOOGLE_include_directive : require
#if USE_SUBGROUPS
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_clustered : require
#endif

#include "attention_common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;        // invocations per workgroup
layout(constant_id = 1) const uint BR = 32;        // query rows per workgroup
layout(constant_id = 2) const uint BC = 32;        // keys per tile
layout(constant_id = 3) const uint DQK = 64;
layout(constant_id = 4) const uint DV = 64;
layout(constant_id = 5) const uint DV_PAD = 64;    // DV rounded up to the P.V thread grid
layout(constant_id = 6) const uint QK_ROWS = 1;
layout(constant_id = 7) const uint QK_COLS = 1;
layout(constant_id = 8) const uint PV_ROWS = 1;
layout(constant_id = 9) const uint PV_DIMS = 1;
layout(constant_id = 10) const uint SM_THREADS = 1;
layout(constant_id = 11) const uint FLAGS = 0;

const bool HAS_ADDITIVE_MASK = (FLAGS & 1u) != 0u;
const bool HAS_BOOL_MASK = (FLAGS & 2u) != 0u;
const bool HAS_KV_LENS = (FLAGS & 4u) != 0u;
const bool HAS_LSE = (FLAGS & 8u) != 0u;
const bool SPLIT = (FLAGS & 16u) != 0u;
const bool CONTIGUOUS_LOADS = (FLAGS & 32u) != 0u;
const bool SUBGROUP_SOFTMAX = (FLAGS & 64u) != 0u;

const uint QK_STRIDE = DQK | 1u;  // odd row strides: no shared-memory bank conflicts
const uint S_STRIDE = BC | 1u;
const uint QK_ROW_THREADS = BR / QK_ROWS;
const uint QK_COL_THREADS = BC / QK_COLS;
const uint QK_THREADS = QK_ROW_THREADS * QK_COL_THREADS;
const uint PV_ROW_THREADS = BR / PV_ROWS;
const uint PV_DIM_THREADS = DV_PAD / PV_DIMS;
const uint PV_THREADS = PV_ROW_THREADS * PV_DIM_THREADS;
const uint SM_ROWS_PER_PASS = WG / SM_THREADS;
const uint SM_COLS = BC / SM_THREADS;  // keys per softmax thread

// Sizes must match shared_memory_bytes() in runtime/vulkan/kernel_config.cpp.
shared float Qs[BR * QK_STRIDE];
shared float Ks[BC * QK_STRIDE];
shared float Vs[BC * DV_PAD];
shared float Ss[BR * S_STRIDE];
shared float row_max[BR];
shared float row_sum[BR];
shared float row_scale[BR];
shared vec2 reduce_scratch[BR * SM_THREADS];
shared uint values_nonfinite[2];  // per tile parity: the V tile holds NaN or Inf

// Element range [first, end) with step of a flat tile load for this thread:
// interleaved (GPUs coalesce neighbours) or one contiguous chunk (CPU-type
// devices read whole chunks fastest).
void load_range(uint total, out uint first, out uint end, out uint step) {
  const uint tid = gl_LocalInvocationID.x;
  if (CONTIGUOUS_LOADS) {
    const uint chunk = (total + WG - 1u) / WG;
    first = min(total, tid * chunk);
    end = min(total, first + chunk);
    step = 1u;
  } else {
    first = tid;
    end = total;
    step = WG;
  }
}

// Index of this thread among the threads of the softmax step, so that the
// SM_THREADS threads of one row are one cluster of one subgroup.
uint softmax_thread() {
#if USE_SUBGROUPS
  if (SUBGROUP_SOFTMAX) return gl_SubgroupID * gl_SubgroupSize + gl_SubgroupInvocationID;
#endif
  return gl_LocalInvocationID.x;
}

bool bool_mask_allows(uint b, uint q_head, uint i, uint j) {
  const uint index = P.bmask_view.x + b * P.bmask_view.y + q_head * P.bmask_view.z + i * P.bmask_view.w +
                     j * P.mask_cols.y;
  return ((bmask_words[index >> 2] >> ((index & 3u) * 8u)) & 0xffu) != 0u;
}

float additive_mask(uint b, uint q_head, uint i, uint j) {
  return amask_data[P.amask_view.x + b * P.amask_view.y + q_head * P.amask_view.z + i * P.amask_view.w +
                    j * P.mask_cols.x];
}

// Combine one value per thread over the SM_THREADS threads of a row (the
// maximum componentwise, or the sum). Threads past the last row take part in
// the barriers but leave the scratch alone.
vec2 row_reduce_max(vec2 value, uint row, uint lane, bool participates) {
#if USE_SUBGROUPS
  // The cluster size must be a literal; specialization keeps one case.
  if (SUBGROUP_SOFTMAX) {
    switch (SM_THREADS) {
      case 2u: return subgroupClusteredMax(value, 2u);
      case 4u: return subgroupClusteredMax(value, 4u);
      case 8u: return subgroupClusteredMax(value, 8u);
      case 16u: return subgroupClusteredMax(value, 16u);
      case 32u: return subgroupClusteredMax(value, 32u);
      default: return subgroupClusteredMax(value, 64u);
    }
  }
#endif
  if (SM_THREADS == 1u) return value;
  if (participates) reduce_scratch[row * SM_THREADS + lane] = value;
  barrier();
  vec2 result = value;
  if (participates) {
    result = reduce_scratch[row * SM_THREADS];
    [[unroll]] for (uint t = 1u; t < SM_THREADS; ++t) result = max(result, reduce_scratch[row * SM_THREADS + t]);
  }
  barrier();
  return result;
}

float row_reduce_add(float value, uint row, uint lane, bool participates) {
#if USE_SUBGROUPS
  if (SUBGROUP_SOFTMAX) {
    switch (SM_THREADS) {
      case 2u: return subgroupClusteredAdd(value, 2u);
      case 4u: return subgroupClusteredAdd(value, 4u);
      case 8u: return subgroupClusteredAdd(value, 8u);
      case 16u: return subgroupClusteredAdd(value, 16u);
      case 32u: return subgroupClusteredAdd(value, 32u);
      default: return subgroupClusteredAdd(value, 64u);
    }
  }
#endif
  if (SM_THREADS == 1u) return value;
  if (participates) reduce_scratch[row * SM_THREADS + lane] = vec2(value, 0.0);
  barrier();
  float result = value;
  if (participates) {
    result = 0.0;
    [[unroll]] for (uint t = 0u; t < SM_THREADS; ++t) result += reduce_scratch[row * SM_THREADS + t].x;
  }
  barrier();
  return result;
}

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint block = gl_WorkGroupID.x + pc.block_base;
  const uint kv_head = gl_WorkGroupID.y;
  const uint b = gl_WorkGroupID.z / P.split.x;
  const uint split = gl_WorkGroupID.z % P.split.x;
  const uint group = P.sizes.y;
  const uint q_len = P.sizes.z;
  const uint rows = group * q_len;
  const uint row0 = block * BR;
  if (row0 >= rows) return;  // the whole workgroup leaves together
  const uint row_last = min(row0 + BR, rows) - 1u;

  const int L = HAS_KV_LENS ? int(kv_lens[uint(P.masking.w) + b]) : int(P.sizes.w);
  // Keys visible to any row of the block (key ranges grow with the position).
  int key_begin = key_range(int(row0 / group), L).x;
  int key_end = key_range(int(row_last / group), L).y;
  const int split_first = SPLIT ? int(split * P.split.y) : 0;
  if (SPLIT) {
    key_begin = max(key_begin, split_first);
    key_end = min(key_end, split_first + int(P.split.y));
  }
  if (pc.chunk_keys != 0u) {
    key_begin = max(key_begin, split_first + int(pc.chunk * pc.chunk_keys));
    key_end = min(key_end, split_first + int((pc.chunk + 1u) * pc.chunk_keys));
  }
  const bool resume = pc.chunk > 0u;                       // state comes from the previous chunk
  const bool keep_state = SPLIT || pc.chunk + 1u < pc.chunk_count;  // unnormalised (O, m, l) out

  // Q tile, pre-scaled; rows past the end are zeros.
  {
    uint first, end, step;
    load_range(BR * DQK, first, end, step);
    for (uint e = first; e < end; e += step) {
      const uint r = e / DQK;
      const uint d = e % DQK;
      const uint row = row0 + r;
      float value = 0.0;
      if (row < rows) {
        const uint q_head = kv_head * group + row % group;
        value = float(q_data[P.q_view.x + b * P.q_view.y + q_head * P.q_view.z + (row / group) * P.q_view.w + d]) *
                P.scaling.x;
      }
      Qs[r * QK_STRIDE + d] = value;
    }
  }
  // (O, m, l) record of a row: one per (split, row) in the Partials buffer.
  #define STATE_RECORD(row) state_record(split, b * P.split.w + kv_head * group + (row) % group, (row) / group, q_len, DV)
  for (uint r = tid; r < BR; r += WG) {
    const uint row = row0 + r;
    row_max[r] = SCORE_FLOOR;
    row_sum[r] = 0.0;
    if (resume && row < rows) {  // a branch, not a select: no read past the last row's record
      row_max[r] = partial_data[STATE_RECORD(row) + DV];
      row_sum[r] = partial_data[STATE_RECORD(row) + DV + 1u];
    }
  }
  if (tid < 2u) values_nonfinite[tid] = 0u;

  const uint pv_row = tid / PV_DIM_THREADS;
  const uint pv_dim = tid % PV_DIM_THREADS;
  float o_acc[PV_ROWS * PV_DIMS];
  [[unroll]] for (uint k = 0u; k < PV_ROWS; ++k) {
    const uint row = row0 + pv_row + k * PV_ROW_THREADS;
    [[unroll]] for (uint m = 0u; m < PV_DIMS; ++m) {
      const uint d = pv_dim + m * PV_DIM_THREADS;
      o_acc[k * PV_DIMS + m] = 0.0;
      if (resume && tid < PV_THREADS && row < rows && d < DV) o_acc[k * PV_DIMS + m] = partial_data[STATE_RECORD(row) + d];
    }
  }
  const uint qk_row = tid / QK_COL_THREADS;
  const uint qk_col = tid % QK_COL_THREADS;
  const uint sm_index = softmax_thread();
  const uint sm_lane = sm_index % SM_THREADS;

  uint tile = 0u;
  for (int j0 = key_begin; j0 < key_end; j0 += int(BC), ++tile) {
    const uint n = uint(min(int(BC), key_end - j0));
    const uint parity = tile & 1u;
    barrier();  // the previous tile's P.V is done with Ks, Vs, Ss

    // K and V tiles; keys past n are zeros (never NaN).
    {
      uint first, end, step;
      load_range(BC * DQK, first, end, step);
      for (uint e = first; e < end; e += step) {
        const uint c = e / DQK;
        const uint d = e % DQK;
        float value = 0.0;
        if (c < n) {
          value = float(k_data[P.k_view.x + b * P.k_view.y + kv_head * P.k_view.z + (uint(j0) + c) * P.k_view.w + d]);
        }
        Ks[c * QK_STRIDE + d] = value;
      }
      load_range(BC * DV_PAD, first, end, step);
      bool nonfinite = false;
      for (uint e = first; e < end; e += step) {
        const uint c = e / DV_PAD;
        const uint d = e % DV_PAD;
        float value = 0.0;
        if (c < n && d < DV) {
          value = float(v_data[P.v_view.x + b * P.v_view.y + kv_head * P.v_view.z + (uint(j0) + c) * P.v_view.w + d]);
          nonfinite = nonfinite || isnan(value) || isinf(value);
        }
        Vs[c * DV_PAD + d] = value;
      }
      // A flag, not a reduction: the result does not depend on the order.
      if (nonfinite) atomicOr(values_nonfinite[parity], 1u);
    }
    barrier();

    // S = Q.K^T on this thread's micro-tile.
    if (tid < QK_THREADS) {
      float s_acc[QK_ROWS * QK_COLS];
      [[unroll]] for (uint a = 0u; a < QK_ROWS * QK_COLS; ++a) s_acc[a] = 0.0;
      for (uint d = 0u; d < DQK; ++d) {
        float k_values[QK_COLS];
        [[unroll]] for (uint m = 0u; m < QK_COLS; ++m) k_values[m] = Ks[(qk_col + m * QK_COL_THREADS) * QK_STRIDE + d];
        [[unroll]] for (uint k = 0u; k < QK_ROWS; ++k) {
          const float q = Qs[(qk_row + k * QK_ROW_THREADS) * QK_STRIDE + d];
          [[unroll]] for (uint m = 0u; m < QK_COLS; ++m) s_acc[k * QK_COLS + m] += q * k_values[m];
        }
      }
      [[unroll]] for (uint k = 0u; k < QK_ROWS; ++k) {
        [[unroll]] for (uint m = 0u; m < QK_COLS; ++m) {
          Ss[(qk_row + k * QK_ROW_THREADS) * S_STRIDE + qk_col + m * QK_COL_THREADS] = s_acc[k * QK_COLS + m];
        }
      }
    }
    barrier();

    // Softmax step: SM_THREADS threads per row, each SM_COLS keys. Hidden
    // keys get weight exactly 0 and never enter the maximum.
    [[unroll]] for (uint pass = 0u; pass < BR; pass += SM_ROWS_PER_PASS) {
      const uint r = pass + sm_index / SM_THREADS;
      const uint row = row0 + r;
      const bool row_valid = r < BR && row < rows;
      const uint i = row / group;
      const uint q_head = kv_head * group + row % group;
      const ivec2 range = key_range(int(i), L);
      float scores[SM_COLS];
      bool visible[SM_COLS];
      float local_max = SCORE_FLOOR;
      bool local_nan = false;
      [[unroll]] for (uint t = 0u; t < SM_COLS; ++t) {
        const uint c = sm_lane + t * SM_THREADS;
        const int j = j0 + int(c);
        bool sees = row_valid && c < n && j >= range.x && j < range.y;
        float s = row_valid ? Ss[r * S_STRIDE + c] : 0.0;
        if (sees && HAS_BOOL_MASK) sees = bool_mask_allows(b, q_head, i, uint(j));
        if (sees && HAS_ADDITIVE_MASK) {
          const float add = additive_mask(b, q_head, i, uint(j));
          sees = !(isinf(add) && add < 0.0);  // -inf hides the key, whatever its score
          s += add;
        }
        scores[t] = s;
        visible[t] = sees;
        if (sees) {
          local_max = max(local_max, s);
          local_nan = local_nan || isnan(s);
        }
      }
      const bool in_tile = r < BR;
      const vec2 reduced = row_reduce_max(vec2(local_max, local_nan ? 1.0 : 0.0), r, sm_lane, in_tile);
      const float tile_max = reduced.x;
      const float any_nan = reduced.y;
      const float m_old = row_valid ? row_max[r] : SCORE_FLOOR;
      const float m_new = max(m_old, tile_max);
      float local_sum = 0.0;
      [[unroll]] for (uint t = 0u; t < SM_COLS; ++t) {
        const float p = visible[t] ? exp(scores[t] - m_new) : 0.0;
        local_sum += p;
        if (row_valid) Ss[r * S_STRIDE + sm_lane + t * SM_THREADS] = p;
      }
      const float tile_sum = row_reduce_add(local_sum, r, sm_lane, in_tile);
      if (row_valid && sm_lane == 0u) {
        const float alpha = exp(m_old - m_new);
        // A NaN logit makes the row NaN (drivers may not propagate it through max).
        row_sum[r] = any_nan > 0.0 ? uintBitsToFloat(0x7fc00000u) : row_sum[r] * alpha + tile_sum;
        row_max[r] = m_new;
        row_scale[r] = alpha;
      }
    }
    barrier();

    // O = O * alpha + P.V on this thread's micro-tile (kept in registers).
    if (tid < PV_THREADS) {
      [[unroll]] for (uint k = 0u; k < PV_ROWS; ++k) {
        const float alpha = row_scale[pv_row + k * PV_ROW_THREADS];
        [[unroll]] for (uint m = 0u; m < PV_DIMS; ++m) o_acc[k * PV_DIMS + m] *= alpha;
      }
      if (values_nonfinite[parity] != 0u) {
        // Skip zero weights so NaN/Inf under a hidden key never reaches a row.
        for (uint c = 0u; c < n; ++c) {
          [[unroll]] for (uint k = 0u; k < PV_ROWS; ++k) {
            const float p = Ss[(pv_row + k * PV_ROW_THREADS) * S_STRIDE + c];
            if (p != 0.0) {
              [[unroll]] for (uint m = 0u; m < PV_DIMS; ++m) {
                o_acc[k * PV_DIMS + m] += p * Vs[c * DV_PAD + pv_dim + m * PV_DIM_THREADS];
              }
            }
          }
        }
      } else {
        for (uint c = 0u; c < n; ++c) {
          float v_values[PV_DIMS];
          [[unroll]] for (uint m = 0u; m < PV_DIMS; ++m) v_values[m] = Vs[c * DV_PAD + pv_dim + m * PV_DIM_THREADS];
          [[unroll]] for (uint k = 0u; k < PV_ROWS; ++k) {
            const float p = Ss[(pv_row + k * PV_ROW_THREADS) * S_STRIDE + c];
            [[unroll]] for (uint m = 0u; m < PV_DIMS; ++m) o_acc[k * PV_DIMS + m] += p * v_values[m];
          }
        }
      }
    }
    if (tid == 0u) values_nonfinite[parity ^ 1u] = 0u;  // ready for the next tile
  }
  barrier();  // final row_sum / row_max visible to every thread

  if (tid < PV_THREADS) {
    [[unroll]] for (uint k = 0u; k < PV_ROWS; ++k) {
      const uint r = pv_row + k * PV_ROW_THREADS;
      const uint row = row0 + r;
      if (row >= rows) continue;
      const uint i = row / group;
      const uint q_head = kv_head * group + row % group;
      const float sum = row_sum[r];
      const float m = row_max[r];
      if (keep_state) {
        const uint record = STATE_RECORD(row);
        [[unroll]] for (uint mm = 0u; mm < PV_DIMS; ++mm) {
          const uint d = pv_dim + mm * PV_DIM_THREADS;
          if (d < DV) partial_data[record + d] = o_acc[k * PV_DIMS + mm];
        }
        if (pv_dim == 0u) {
          partial_data[record + DV] = m;
          partial_data[record + DV + 1u] = sum;
        }
      } else {
        // A row that saw no key has sum 0: zeros and LSE -inf, never 0/0.
        const bool saw_keys = sum > 0.0 || isnan(sum);
        const float inverse = saw_keys ? 1.0 / sum : 0.0;
        const uint base = P.o_view.x + b * P.o_view.y + q_head * P.o_view.z + i * P.o_view.w;
        [[unroll]] for (uint mm = 0u; mm < PV_DIMS; ++mm) {
          const uint d = pv_dim + mm * PV_DIM_THREADS;
          if (d < DV) o_data[base + d] = STORAGE_T(o_acc[k * PV_DIMS + mm] * inverse);
        }
        if (HAS_LSE && pv_dim == 0u) {
          lse_data[P.lse_view.x + b * P.lse_view.y + q_head * P.lse_view.z + i * P.lse_view.w] =
              saw_keys ? m + log(sum) : uintBitsToFloat(0xff800000u);
        }
      }
    }
  }
}
