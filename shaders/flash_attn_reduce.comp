#version 450
// Split-KV merge: for each query row, combine the partial (O, m, l) that the
// kv_splits workgroups of flash_attn.comp wrote (in split order, so the
// result is deterministic) into O = sum_s O_s e^(m_s - M) / L and
// LSE = M + log L, with M = max_s m_s and L = sum_s l_s e^(m_s - M).
#extension GL_EXT_control_flow_attributes : enable
#extension GL_GOOGLE_include_directive : require

#include "attention_common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 4) const uint DV = 64;
layout(constant_id = 7) const uint FLAGS = 0;
const bool HAS_LSE = (FLAGS & FLAG_LSE) != 0u;
const bool HAS_SINKS = (FLAGS & FLAG_SINKS) != 0u;
const bool HAS_Q_LENS = (FLAGS & FLAG_Q_LENS) != 0u;
const bool PACKED_Q = (FLAGS & FLAG_PACKED_Q) != 0u;
const uint MAX_SPLITS = 64u;  // kernel_config.cpp never chooses more

shared float split_weight[MAX_SPLITS];
shared float merged_max;
shared float merged_sum;
shared float sink_factor;

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint row = gl_WorkGroupID.x + pc.block_base;  // (b * q_heads + q_head) * q_len + i, within the slice
  const uint rows = P.split.z;
  if (row >= rows) return;
  // Rows past a ragged sequence's query count were never computed: nothing to merge or store.
  if (row % P.sizes.z >= query_count(row / P.sizes.z / P.split.w, HAS_Q_LENS)) return;
  const uint splits = P.split.x;
  const uint stride = state_stride(DV);

  if (tid == 0u) {
    float m = SCORE_FLOOR;
    for (uint s = 0u; s < splits; ++s) m = max(m, partial_data[(s * rows + row) * stride + DV]);
    float l = 0.0;
    for (uint s = 0u; s < splits; ++s) {
      const uint record = (s * rows + row) * stride;
      const float w = exp(partial_data[record + DV] - m);
      split_weight[s] = w;
      l += partial_data[record + DV + 1u] * w;
    }
    // The sink joins the merged row (its q head: row / q_len % q heads in slice).
    sink_factor = HAS_SINKS ? add_sink(m, l, (row / P.sizes.z) % P.split.w) : 1.0;
    merged_max = m;
    merged_sum = l;
  }
  barrier();

  const uint q_len = P.sizes.z;
  const uint i = row % q_len;
  const uint q_head = (row / q_len) % P.split.w;
  const uint b = row / q_len / P.split.w;
  const float sum = merged_sum;
  const float inverse = output_factor(sum) * sink_factor;
  const uint base = query_row_index(P.o_view, b, q_head, i, PACKED_Q);
  for (uint d = tid; d < DV; d += WG) {
    float acc = 0.0;
    for (uint s = 0u; s < splits; ++s) acc += partial_data[(s * rows + row) * stride + d] * split_weight[s];
    o_store(base + d, acc * inverse);
  }
  if (HAS_LSE && tid == 0u) {
    lse_data[query_row_index(P.lse_view, b, q_head, i, PACKED_Q)] =
        row_lse(merged_max, sum);
  }
}
