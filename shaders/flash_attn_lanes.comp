#version 450
// Attention for devices that run a workgroup as the SIMD lanes of one CPU
// core (lavapipe / llvmpipe). What is cheap there and what is not (measured,
// docs/PERFORMANCE.md):
//   - outside control flow, a load whose address is the same for every lane
//     is one scalar load and a broadcast;
//   - inside any loop or branch every load is a per-lane gather, whether
//     the lanes' addresses differ or not, so each loaded element should
//     serve as many multiply-adds as possible;
//   - shared memory is reached the same way and barriers switch coroutines;
//   - loads and stores at per-lane addresses that are unrolled, and private
//     arrays indexed at run time, cost compile time (seconds);
//   - a branch runs both sides under a mask.
// So one workgroup (one subgroup) takes ROWS query rows of one kv head and
// its lanes split the keys: lane `lane` walks keys j0 + c * WG + lane of
// each tile of WG * TILE keys. The rows' q (pre-scaled) are uniform,
// loaded once outside any loop; each lane keeps its own online-softmax
// state (m, l, o) for every row in registers, indexed by constants only
// (every loop but the key loop is unrolled for the specialised head
// dimensions), and each K and V element it gathers serves ROWS
// multiply-adds. At the end the lanes' states merge with subgroup
// arithmetic and one lane stores the result. Decode (a kv head's few query
// heads) keeps every lane busy this way.
// As in flash_attn.comp, a kv head's query heads are interleaved with
// positions (row = position * G + head), so one pass over K and V serves
// the whole GQA group. Split-KV and key chunks use the same (O, m, l)
// records as flash_attn.comp. The key loop is the only loop: one iteration
// per tile (see loop_iterations_per_tile() in runtime/vulkan/).
#extension GL_EXT_control_flow_attributes : enable
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "attention_common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 8;       // the device's subgroup size: one subgroup per workgroup
layout(constant_id = 1) const uint ROWS = 4;     // query rows per workgroup
layout(constant_id = 2) const uint TILE = 2;     // keys per lane per softmax step
layout(constant_id = 3) const uint DQK = 64;
layout(constant_id = 4) const uint DV = 64;
layout(constant_id = 7) const uint FLAGS = 0;

const bool HAS_KV_LENS = (FLAGS & FLAG_KV_LENS) != 0u;
const bool HAS_LSE = (FLAGS & FLAG_LSE) != 0u;
const bool SPLIT = (FLAGS & FLAG_SPLIT) != 0u;
const bool KV_VEC4 = (FLAGS & FLAG_KV_VEC4) != 0u;
const bool STATE_IN = (FLAGS & FLAG_STATE_IN) != 0u;
const bool STATE_OUT = (FLAGS & FLAG_STATE_OUT) != 0u;
const bool O_VEC4 = (FLAGS & FLAG_O_VEC4) != 0u;
const bool HAS_SINKS = (FLAGS & FLAG_SINKS) != 0u;
const bool ROPE_NEOX = (FLAGS & FLAG_ROPE_NEOX) != 0u;
const bool ROPE_GPTJ = (FLAGS & FLAG_ROPE_GPTJ) != 0u;
const bool HAS_Q_LENS = (FLAGS & FLAG_Q_LENS) != 0u;
const bool PACKED_Q = (FLAGS & FLAG_PACKED_Q) != 0u;
const bool HAS_BLOCK_MASK = (FLAGS & FLAG_BLOCK_MASK) != 0u;
const bool BLOCK_PER_BATCH = (FLAGS & FLAG_BLOCK_PER_BATCH) != 0u;
const bool BLOCK_PER_HEAD = (FLAGS & FLAG_BLOCK_PER_HEAD) != 0u;

// The records again, four floats at a time (alias of binding 9).
layout(std430, set = 0, binding = 9) buffer Partials4 { vec4 partial_data4[]; };

void main() {
  const uint lane = gl_SubgroupInvocationID;
  const uint block = gl_WorkGroupID.x + pc.block_base;
  const uint kv_head = gl_WorkGroupID.y + pc.head_base;
  const uint b = gl_WorkGroupID.z / P.split.x;
  const uint split = gl_WorkGroupID.z % P.split.x;
  const uint group = P.sizes.y;
  const uint q_len = P.sizes.z;  // the Q/O views' rows (state records are laid out by it)
  sequence_queries = int(query_count(b, HAS_Q_LENS));
  const uint rows = group * uint(sequence_queries);
  // The plan dispatches exactly ceil(group * q_len / ROWS) blocks; no early
  // exit (it would put all that follows under a mask): a workgroup past a
  // ragged sequence's rows walks no keys and stores nothing.
  const uint row0 = block * ROWS;
  const bool has_rows = row0 < rows;
  const uint row_last = has_rows ? min(row0 + ROWS, rows) - 1u : row0;

  // The keys within this split and chunk [lo, hi): the global keys below
  // the rows' windows [lo, global_last), then the windows' union
  // [key_begin, key_end); the keys in between are skipped.
  const int L = HAS_KV_LENS ? int(kv_lens[uint(P.masking.w) + b]) : int(P.sizes.w);
  const int window_first = key_range(int(row0 / group), L).x;
  const int split_first = SPLIT ? int(split * P.split.y) : 0;
  int lo = 0;
  int hi = has_rows ? L : 0;
  if (SPLIT) {
    lo = split_first;
    hi = min(hi, split_first + int(P.split.y));
  }
  if (pc.chunk_keys != 0u) {
    lo = max(lo, split_first + int(pc.chunk * pc.chunk_keys));
    hi = min(hi, split_first + int((pc.chunk + 1u) * pc.chunk_keys));
  }
  const int key_begin = max(window_first, lo);
  const int key_end = min(key_range(int(row_last / group), L).y, hi);
  const int global_last = min(min(global_end(int(row_last / group), L), window_first), hi);

  // The workgroup's rows (the same in every lane). Rows past the last take
  // the last row's addresses (every read in bounds) and store nothing.
  uint q_head_of[ROWS];
  uint pos_of[ROWS];
  bool valid[ROWS];
  ivec2 range[ROWS];
  int global_keys_of[ROWS];  // global keys [0, global_keys_of) the row sees besides its range
  int diagonal[ROWS];  // aligned position of each row (ALiBi distances)
  uint record[ROWS];
  float q[ROWS][DQK];
  [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
    const uint row = min(row0 + r, row_last);
    valid[r] = row0 + r < rows;
    pos_of[r] = row / group;
    q_head_of[r] = kv_head * group + row % group;
    range[r] = key_range(int(pos_of[r]), L);
    global_keys_of[r] = global_end(int(pos_of[r]), L);
    diagonal[r] = diagonal_of(int(pos_of[r]), L);
    record[r] = state_record(split, b * P.split.w + q_head_of[r], pos_of[r], q_len, DV);
    // A workgroup past the sequence's rows reads no query (with packed
    // queries its row would not exist).
    const uint q_base = query_row_index(P.q_view, b, q_head_of[r], pos_of[r], PACKED_Q);
    const int position = L - sequence_queries + int(pos_of[r]);  // RoPE position of the query
    [[unroll]] for (uint d = 0u; d < DQK; ++d) {
      q[r][d] = has_rows ? query_element(q_base, d, ROPE_NEOX, ROPE_GPTJ, position) * P.scaling.x : 0.0;
    }
  }

  // This lane's running state per row. A resumed chunk's state goes to
  // lane 0; the other lanes start empty.
  float o[ROWS][DV];
  float m[ROWS];
  float l[ROWS];
  [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
    m[r] = SCORE_FLOOR;
    l[r] = 0.0;
    [[unroll]] for (uint d = 0u; d < DV; ++d) o[r][d] = 0.0;
    if (STATE_IN) {
      const bool first = lane == 0u;
      m[r] = first ? partial_data[record[r] + DV] : SCORE_FLOOR;
      l[r] = first ? partial_data[record[r] + DV + 1u] : 0.0;
      [[unroll]] for (uint d = 0u; d < DV; ++d) o[r][d] = first ? partial_data[record[r] + d] : 0.0;
    }
  }

  // One loop over the tiles of both segments (the global keys', then the
  // windows'): the key loop stays the only loop.
  const int tile_keys = int(WG * TILE);
  const int global_tiles = global_last > lo ? (global_last - lo + tile_keys - 1) / tile_keys : 0;
  const int window_tiles = key_end > key_begin ? (key_end - key_begin + tile_keys - 1) / tile_keys : 0;
  for (int t = 0; t < global_tiles + window_tiles; ++t) {
    const bool global_tile = t < global_tiles;
    const int j0 = global_tile ? lo + t * tile_keys : key_begin + (t - global_tiles) * tile_keys;
    const int segment_end = global_tile ? global_last : key_end;
    if (HAS_BLOCK_MASK) {
      // Block-sparse: a tile whose key blocks no query head of the
      // workgroup's positions sees (the mask's kv-head unions) is skipped
      // by every lane alike. (These loops count towards llvmpipe's cap:
      // loop_iterations_per_tile.)
      const int tile_end = min(j0 + tile_keys, segment_end);
      bool any = false;
      for (uint qb = (row0 / group) >> BLOCK_Q_SHIFT; qb <= ((row_last / group) >> BLOCK_Q_SHIFT); ++qb) {
        for (uint kb = uint(j0) >> BLOCK_K_SHIFT; kb <= (uint(tile_end - 1) >> BLOCK_K_SHIFT); ++kb) {
          any = any || group_sees_block(b, kv_head, group, qb, kb, BLOCK_PER_BATCH, BLOCK_PER_HEAD);
        }
      }
      if (!any) continue;
    }
    // This lane's keys of the tile, clamped into the segment so every load
    // is in bounds without a branch; keys past it get weight 0 below.
    int key[TILE];
    uint k_base[TILE];
    uint v_base[TILE];
    [[unroll]] for (uint c = 0u; c < TILE; ++c) {
      key[c] = j0 + int(c * WG + lane);
      const uint j = uint(min(key[c], segment_end - 1));
      k_base[c] = key_row_offset(P.k_view, b, kv_head, j);
      v_base[c] = key_row_offset(P.v_view, b, kv_head, j);
    }

    // s = q.k: each K element gathered serves ROWS multiply-adds.
    float s[ROWS][TILE];
    [[unroll]] for (uint c = 0u; c < TILE; ++c) {
      [[unroll]] for (uint r = 0u; r < ROWS; ++r) s[r][c] = 0.0;
      if (K_BLOCKS) {  // a block per load round (block_run); the same products in the same order
        [[unroll]] for (uint block = 0u; block < DQK / 32u; ++block) {
          vec4 run[8];
          block_run(false, K_STORAGE, k_base[c], 32u * block, 8u, run);
          // (Constant bounds: lavapipe caps every loop it does not unroll at
          // 65535 iterations over the whole invocation, and NIR unrolls inner
          // loops before the outer ones make bounds like 32 * block constant.)
          [[unroll]] for (uint i = 0u; i < 32u; ++i) {
            const uint d = 32u * block + i;
            [[unroll]] for (uint r = 0u; r < ROWS; ++r) s[r][c] = fma(q[r][d], run[i / 4u][i % 4u], s[r][c]);
          }
        }
      } else {
        [[unroll]] for (uint d4 = 0u; d4 < (DQK + 3u) / 4u; ++d4) {
          const vec4 k = kv_row4(false, k_base[c], d4, DQK, KV_VEC4);
          [[unroll]] for (uint e = 0u; e < 4u; ++e) {
            if (4u * d4 + e < DQK) {
              [[unroll]] for (uint r = 0u; r < ROWS; ++r) s[r][c] = fma(q[r][4u * d4 + e], k[e], s[r][c]);
            }
          }
        }
      }
    }

    // Mask and online-softmax step per row; hidden keys get weight exactly 0.
    bool zero_weight = false;
    [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
      float tile_max = SCORE_FLOOR;
      bool any_nan = false;
      bool sees[TILE];
      [[unroll]] for (uint c = 0u; c < TILE; ++c) {
        const int j = key[c];
        sees[c] = visible_logit(s[r][c], FLAGS, b, q_head_of[r], pos_of[r], range[r], global_keys_of[r], diagonal[r], j,
                                uint(min(j, segment_end - 1)), j < segment_end);
        if (sees[c]) {
          tile_max = max(tile_max, s[r][c]);
          any_nan = any_nan || poisons_row(s[r][c]);
        }
      }
      const float m_new = max(m[r], tile_max);
      float sum = 0.0;
      [[unroll]] for (uint c = 0u; c < TILE; ++c) {
        s[r][c] = sees[c] ? softmax_weight(s[r][c], m_new) : 0.0;
        sum += s[r][c];
        zero_weight = zero_weight || s[r][c] == 0.0;
      }
      const float alpha = exp(m[r] - m_new);
      l[r] = any_nan ? NAN_VALUE : l[r] * alpha + sum;
      m[r] = m_new;
      [[unroll]] for (uint d = 0u; d < DV; ++d) o[r][d] *= alpha;
    }

    // o += p.v; a zero weight must skip its value (0 * NaN is NaN).
    [[unroll]] for (uint c = 0u; c < TILE; ++c) {
      vec4 run[8];  // block-typed V: the block of the chunks below (block_run)
      [[unroll]] for (uint d4 = 0u; d4 < (DV + 3u) / 4u; ++d4) {
        vec4 v;
        if (V_BLOCKS) {  // a block per load round, read at its first chunk
          if (d4 % 8u == 0u) block_run(true, V_STORAGE, v_base[c], 4u * d4, 8u, run);
          v = run[d4 % 8u];
        } else {
          v = kv_row4(true, v_base[c], d4, DV, KV_VEC4);
        }
        [[unroll]] for (uint e = 0u; e < 4u; ++e) {
          const uint d = 4u * d4 + e;
          if (d < DV) {
            [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
              o[r][d] = zero_weight && s[r][c] == 0.0 ? o[r][d] : fma(s[r][c], v[e], o[r][d]);
            }
          }
        }
      }
    }
  }

  // Merge the lanes' states: M = max m, then l and o rescaled by e^(m - M)
  // and summed. A lane that saw no key has l = 0 and o = 0 and adds nothing;
  // a NaN anywhere stays NaN.
  [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
    const float merged_max = subgroupMax(m[r]);
    const float weight = exp(m[r] - merged_max);
    const bool lane_nan = is_nan(l[r]);
    l[r] = subgroupAdd(lane_nan ? 0.0 : l[r] * weight);
    if (subgroupMax(lane_nan ? 1u : 0u) != 0u) l[r] = NAN_VALUE;
    m[r] = merged_max;
    [[unroll]] for (uint d = 0u; d < DV; ++d) o[r][d] = subgroupAdd(o[r][d] * weight);
  }

  // Results (every lane holds them; the elected one stores): the
  // unnormalised (O, m, l) record (STATE_OUT), or O / l and the LSE. A row
  // that saw no key has l = 0: zeros and LSE -inf, never 0/0.
  const bool store = subgroupElect();
  [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
    const float sink_factor = HAS_SINKS && !STATE_OUT ? add_sink(m[r], l[r], q_head_of[r]) : 1.0;
    const float scale = STATE_OUT ? 1.0 : output_factor(l[r]) * sink_factor;
    [[unroll]] for (uint d = 0u; d < DV; ++d) o[r][d] *= scale;
    if (!(store && valid[r])) continue;
    if (STATE_OUT) {
      partial_data[record[r] + DV] = m[r];
      partial_data[record[r] + DV + 1u] = l[r];
      [[unroll]] for (uint d4 = 0u; d4 < DV / 4u; ++d4) {  // records start at multiples of 4 floats
        partial_data4[record[r] / 4u + d4] =
            vec4(o[r][4u * d4], o[r][4u * d4 + 1u], o[r][4u * d4 + 2u], o[r][4u * d4 + 3u]);
      }
      [[unroll]] for (uint d = DV / 4u * 4u; d < DV; ++d) partial_data[record[r] + d] = o[r][d];
    } else {
      const uint o_base = query_row_index(P.o_view, b, q_head_of[r], pos_of[r], PACKED_Q);
      if (O_VEC4) {
        [[unroll]] for (uint d4 = 0u; d4 < DV / 4u; ++d4) {
          o_store4(o_base + 4u * d4, vec4(o[r][4u * d4], o[r][4u * d4 + 1u], o[r][4u * d4 + 2u], o[r][4u * d4 + 3u]));
        }
      } else {
        [[unroll]] for (uint d = 0u; d < DV; ++d) o_store(o_base + d, o[r][d]);
      }
      if (HAS_LSE) {
        lse_data[query_row_index(P.lse_view, b, q_head_of[r], pos_of[r], PACKED_Q)] =
            row_lse(m[r], l[r]);
      }
    }
  }
}
