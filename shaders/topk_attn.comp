#version 450
// Top-k attention (VKATTN_MODE_TOPK): each query row keeps the k keys with
// the largest logits among those it sees (equal logits: the lower key
// wins) and attends them alone. Two pipelines of this shader, told apart by
// FLAG_TOPK_ATTEND (runtime/vulkan/topk_plan.cpp runs them):
//
// Selection, one dispatch per key chunk. A workgroup takes ROWS query rows
// of one kv head (a kv head's query heads interleaved with positions,
// row = position * G + head, as in the other kernels) and its WG
// invocations TILE consecutive keys each per round, so every K element
// loaded serves ROWS multiply-adds (the rows' q wait in shared memory). Each row owns a
// candidate list in the Partials binding: a header (count, threshold,
// poisoned) and up to CAPACITY entries (order bits of the logit, ~key),
// whose unsigned order (logit, then lower key) is the selection's order.
// A visible key at or above the row's threshold is appended, in key order
// (a prefix sum over the workgroup places it). Before a round could
// overflow a list, the list is cut to its k best by a radix select over
// its entries (8-bit digits, most significant first) and the threshold
// rises to the k-th best. Lists carry over from one key chunk to the next.
//
// Attention, one workgroup per query row: the list is cut to its k best,
// the kept logits give the row's maximum and sum, and the invocations
// split O's columns four at a time, each walking every kept entry and
// reading its V row: a row reads k rows of V, not all of them.
//
// Bounded memory: (4 + 2 CAPACITY) words per row of a row batch (the plan
// sizes the batches), never Sq x Skv. No subgroup operation: prefix sums
// and reductions go through shared memory, so every device runs the same
// code. Loops llvmpipe counts (it caps an invocation's loop iterations)
// are counted by topk_loop_costs() in runtime/vulkan/topk_plan.cpp.
#extension GL_EXT_control_flow_attributes : enable
#extension GL_GOOGLE_include_directive : require
#include "attention_common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;         // invocations per workgroup: a power of two, 4 to 256
layout(constant_id = 1) const uint ROWS = 1;        // query rows per selecting workgroup
layout(constant_id = 2) const uint TOPK = 1;        // k
layout(constant_id = 3) const uint DQK = 64;
layout(constant_id = 4) const uint DV = 64;
layout(constant_id = 5) const uint CAPACITY = 576;  // entries a row's list holds (> TOPK + WG * TILE where cuts happen)
layout(constant_id = 6) const uint LOG_WG = 6;      // log2(WG)
layout(constant_id = 7) const uint FLAGS = 0;
layout(constant_id = 12) const uint TILE = 1;       // keys per invocation per round of the selection

const bool ATTEND = (FLAGS & FLAG_TOPK_ATTEND) != 0u;
const bool HAS_KV_LENS = (FLAGS & FLAG_KV_LENS) != 0u;
const bool HAS_LSE = (FLAGS & FLAG_LSE) != 0u;
const bool KV_VEC4 = (FLAGS & FLAG_KV_VEC4) != 0u;
const bool O_VEC4 = (FLAGS & FLAG_O_VEC4) != 0u;
const bool HAS_SINKS = (FLAGS & FLAG_SINKS) != 0u;
const bool ROPE_NEOX = (FLAGS & FLAG_ROPE_NEOX) != 0u;
const bool ROPE_GPTJ = (FLAGS & FLAG_ROPE_GPTJ) != 0u;
const bool HAS_Q_LENS = (FLAGS & FLAG_Q_LENS) != 0u;
const bool PACKED_Q = (FLAGS & FLAG_PACKED_Q) != 0u;
const bool HAS_BLOCK_MASK = (FLAGS & FLAG_BLOCK_MASK) != 0u;
const bool BLOCK_PER_BATCH = (FLAGS & FLAG_BLOCK_PER_BATCH) != 0u;
const bool BLOCK_PER_HEAD = (FLAGS & FLAG_BLOCK_PER_HEAD) != 0u;

// The rows' lists (binding 9): per row of the dispatch's row batch a slot
// of SLOT_WORDS words, the header (count, threshold high and low word,
// poisoned) then the entries, two words each. Coherent: invocations read
// entries other invocations of the workgroup appended.
const uint SLOT_WORDS = 4u + 2u * CAPACITY;
layout(std430, set = 0, binding = 9) coherent buffer ListWords { uint list_words[]; };
layout(std430, set = 0, binding = 9) coherent buffer ListEntries { uvec2 list_entries[]; };

shared uvec4 scan_sh[WG];
shared uint bins[256];
shared uint digit_sh[2];
shared float reduce_sh[WG];
shared float q_sh[ROWS * DQK];

// The order bits of a logit: unsigned order is the logit's order (-0
// counts as +0, so equal logits tie and the key decides). NaN never
// enters a list.
uint order_bits(float s) {
  uint u = floatBitsToUint(s);
  if (u == 0x80000000u) u = 0u;
  return (u & 0x80000000u) != 0u ? ~u : u | 0x80000000u;
}
float logit_of(uint bits) { return uintBitsToFloat((bits & 0x80000000u) != 0u ? bits & 0x7fffffffu : ~bits); }
bool at_or_above(uvec2 a, uvec2 b) { return a.x > b.x || (a.x == b.x && a.y >= b.y); }

// Exclusive prefix sums of v over the workgroup, invocations ordered by
// `position` (a permutation of 0 .. WG-1); `total` gets the sum of all.
// Called in uniform control flow (barriers).
uvec4 exclusive_sum(uvec4 v, uint position, out uvec4 total) {
  scan_sh[position] = v;
  barrier();
  for (uint i = 0u; i < LOG_WG; ++i) {
    const uint step = 1u << i;
    const uvec4 before = position >= step ? scan_sh[position - step] : uvec4(0u);
    barrier();
    scan_sh[position] += before;
    barrier();
  }
  total = scan_sh[WG - 1u];
  const uvec4 inclusive = scan_sh[position];
  barrier();
  return inclusive - v;
}

// The maximum (or sum) of x over the workgroup, summed in a fixed tree
// order (the result does not depend on timing). Uniform control flow.
float workgroup_reduce(float x, bool maximum) {
  const uint lane = gl_LocalInvocationID.x;
  reduce_sh[lane] = x;
  barrier();
  for (uint width = WG / 2u; width > 0u; width >>= 1u) {
    if (lane < width) {
      const float other = reduce_sh[lane + width];
      reduce_sh[lane] = maximum ? max(reduce_sh[lane], other) : reduce_sh[lane] + other;
    }
    barrier();
  }
  const float result = reduce_sh[0];
  barrier();
  return result;
}

// Cuts the list in slot word `slot` (count entries) to its `keep` best
// (keep < count), keeping their order, and returns the threshold T: the
// kept entries are exactly those at or above T. A radix select from the
// most significant of the entries' 8 digits: each pass histograms the
// entries that match the digits chosen so far, and the digit where the
// count from the top reaches the entries still needed is chosen; it stops
// early once every entry of that digit is needed. Uniform control flow.
uvec2 cut_list(uint slot, uint count, uint keep) {
  const uint lane = gl_LocalInvocationID.x;
  const uint first = (slot + 4u) / 2u;  // the first entry (slots and headers are even word counts)
  const uint per_lane = 256u / WG;      // digit bins each invocation sums, from the top
  const uint top = 256u - lane * per_lane;
  uvec2 prefix = uvec2(0u), mask = uvec2(0u);
  uint needed = keep;
  memoryBarrierBuffer();  // the entries other invocations appended
  for (uint pass = 0u; pass < 8u; ++pass) {
    const uint word = pass >> 2u;
    const uint shift = 24u - 8u * (pass & 3u);
    for (uint i = lane; i < 256u; i += WG) bins[i] = 0u;
    barrier();
    for (uint e = lane; e < count; e += WG) {
      const uvec2 c = list_entries[first + e];
      if ((c & mask) == prefix) atomicAdd(bins[(c[word] >> shift) & 255u], 1u);
    }
    barrier();
    uint own = 0u;
    for (uint i = 0u; i < per_lane; ++i) own += bins[top - 1u - i];
    uvec4 total;
    const uint above = exclusive_sum(uvec4(own, 0u, 0u, 0u), lane, total).x;
    if (above < needed && needed <= above + own) {  // exactly one invocation
      uint seen = above;
      for (uint i = 0u; i < per_lane; ++i) {
        const uint d = top - 1u - i;
        if (seen + bins[d] >= needed) {
          digit_sh[0] = d;
          digit_sh[1] = seen;
          break;
        }
        seen += bins[d];
      }
    }
    barrier();
    const uint d = digit_sh[0];
    const uint in_digit = bins[d];
    needed -= digit_sh[1];
    prefix[word] |= d << shift;
    mask[word] |= 255u << shift;
    barrier();  // every invocation has read the bins and the digit before the next pass clears them
    if (in_digit == needed) break;
  }
  // Compaction in list order: each round's prefix sum places the kept
  // entries (its barriers come after every invocation read its entry, and
  // the places written lie below the round's entries).
  uint kept = 0u;
  for (uint e0 = 0u; e0 < count; e0 += WG) {
    const uint e = e0 + lane;
    const uvec2 c = e < count ? list_entries[first + e] : uvec2(0u);
    const bool stays = e < count && at_or_above(c, prefix);
    uvec4 total;
    const uint offset = exclusive_sum(uvec4(stays ? 1u : 0u, 0u, 0u, 0u), lane, total).x;
    if (stays) list_entries[first + kept + offset] = c;
    kept += total.x;
  }
  memoryBarrierBuffer();
  barrier();
  return prefix;
}

// The slot of the row batch's row `index` within this workgroup's rows:
// rows are numbered across the dispatch grid, so the attention dispatch
// (ROWS workgroups per selecting workgroup along x) finds the same slots.
uint slot_of(uint index) {
  return (((gl_WorkGroupID.z * gl_NumWorkGroups.y + gl_WorkGroupID.y) * gl_NumWorkGroups.x + gl_WorkGroupID.x) * ROWS +
          index) * SLOT_WORDS;
}

void select_keys() {
  const uint lane = gl_LocalInvocationID.x;
  const uint block = gl_WorkGroupID.x + pc.block_base;
  const uint kv_head = gl_WorkGroupID.y + pc.head_base;
  const uint b = gl_WorkGroupID.z + pc.batch_base;
  const uint group = P.sizes.y;
  sequence_queries = int(query_count(b, HAS_Q_LENS));
  const uint rows = group * uint(sequence_queries);
  // Rows past the sequence's take the last row's addresses and keep nothing.
  const uint row0 = block * ROWS;
  const bool has_rows = row0 < rows;
  const uint row_last = has_rows ? min(row0 + ROWS, rows) - 1u : row0;

  // This chunk's keys: the global keys below the rows' windows
  // [lo, global_last), then the windows' union [key_begin, key_end).
  const int L = HAS_KV_LENS ? int(kv_lens[uint(P.masking.w) + b]) : int(P.sizes.w);
  const int window_first = key_range(int(row0 / group), L).x;
  int lo = 0;
  int hi = has_rows ? L : 0;
  if (pc.chunk_keys != 0u) {
    lo = int(pc.chunk * pc.chunk_keys);
    hi = min(hi, int((pc.chunk + 1u) * pc.chunk_keys));
  }
  const int key_begin = max(window_first, lo);
  const int key_end = min(key_range(int(row_last / group), L).y, hi);
  const int global_last = min(min(global_end(int(row_last / group), L), window_first), hi);

  uint q_head_of[ROWS];
  uint pos_of[ROWS];
  bool valid[ROWS];
  ivec2 range[ROWS];
  int global_keys_of[ROWS];
  int diagonal[ROWS];
  uint slot[ROWS];
  uint count[ROWS];
  uvec2 threshold[ROWS];
  bool poisoned[ROWS];
  [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
    const uint row = min(row0 + r, row_last);
    valid[r] = row0 + r < rows;
    pos_of[r] = row / group;
    q_head_of[r] = kv_head * group + row % group;
    range[r] = key_range(int(pos_of[r]), L);
    global_keys_of[r] = global_end(int(pos_of[r]), L);
    diagonal[r] = diagonal_of(int(pos_of[r]), L);
    slot[r] = slot_of(r);
    const bool resume = pc.chunk != 0u;
    count[r] = resume ? list_words[slot[r]] : 0u;
    threshold[r] = resume ? uvec2(list_words[slot[r] + 1u], list_words[slot[r] + 2u]) : uvec2(0u);
    poisoned[r] = resume && list_words[slot[r] + 3u] != 0u;
  }
  // The rows' q, scaled (and turned by RoPE), into shared memory.
  for (uint i = lane; i < ROWS * DQK; i += WG) {
    const uint row = min(row0 + i / DQK, row_last);
    const uint q_base = query_row_index(P.q_view, b, kv_head * group + row % group, row / group, PACKED_Q);
    const int position = L - sequence_queries + int(row / group);
    q_sh[i] = has_rows ? query_element(q_base, i % DQK, ROPE_NEOX, ROPE_GPTJ, position) * P.scaling.x : 0.0;
  }
  barrier();

  const int tile_keys = int(WG * TILE);
  const int global_tiles = global_last > lo ? (global_last - lo + tile_keys - 1) / tile_keys : 0;
  const int window_tiles = key_end > key_begin ? (key_end - key_begin + tile_keys - 1) / tile_keys : 0;
  for (int t = 0; t < global_tiles + window_tiles; ++t) {
    const bool global_tile = t < global_tiles;
    const int j0 = global_tile ? lo + t * tile_keys : key_begin + (t - global_tiles) * tile_keys;
    const int segment_end = global_tile ? global_last : key_end;
    if (HAS_BLOCK_MASK) {
      // Tiles whose key blocks no query head of the rows' positions sees
      // are skipped (the mask's kv-head unions), by every invocation alike.
      const int tile_end = min(j0 + tile_keys, segment_end);
      bool any = false;
      for (uint qb = (row0 / group) >> BLOCK_Q_SHIFT; qb <= ((row_last / group) >> BLOCK_Q_SHIFT); ++qb) {
        for (uint kb = uint(j0) >> BLOCK_K_SHIFT; kb <= (uint(tile_end - 1) >> BLOCK_K_SHIFT); ++kb) {
          any = any || group_sees_block(b, kv_head, group, qb, kb, BLOCK_PER_BATCH, BLOCK_PER_HEAD);
        }
      }
      if (!any) continue;
    }
    // Lists that this tile could overflow are cut to k first, one at a
    // time (one call site: the cut is long code).
    for (;;) {
      uint cut = ROWS;
      [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
        if (cut == ROWS && count[r] + WG * TILE > CAPACITY) cut = r;
      }
      if (cut == ROWS) break;
      uint cut_slot = 0u, cut_count = 0u;
      [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
        if (r == cut) {
          cut_slot = slot[r];
          cut_count = count[r];
        }
      }
      const uvec2 raised = cut_list(cut_slot, cut_count, TOPK);
      [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
        if (r == cut) {
          count[r] = TOPK;
          threshold[r] = raised;
        }
      }
    }

    // This invocation's TILE consecutive keys, clamped into the segment so
    // that every load is in bounds; a key past it is not seen.
    int key[TILE];
    uint safe_key[TILE];
    float s[ROWS][TILE];
    [[unroll]] for (uint c = 0u; c < TILE; ++c) {
      key[c] = j0 + int(lane * TILE + c);
      safe_key[c] = uint(min(key[c], segment_end - 1));
      const uint k_base = key_row_offset(P.k_view, b, kv_head, safe_key[c]);
      [[unroll]] for (uint r = 0u; r < ROWS; ++r) s[r][c] = 0.0;
      if (K_BLOCKS) {  // a block per load round (block_run)
        [[unroll]] for (uint kb = 0u; kb < DQK / 32u; ++kb) {
          vec4 run[8];
          block_run(false, K_STORAGE, k_base, 32u * kb, 8u, run);
          [[unroll]] for (uint i = 0u; i < 32u; ++i) {
            const uint d = 32u * kb + i;
            [[unroll]] for (uint r = 0u; r < ROWS; ++r) s[r][c] = fma(q_sh[r * DQK + d], run[i / 4u][i % 4u], s[r][c]);
          }
        }
      } else {
        [[unroll]] for (uint d4 = 0u; d4 < (DQK + 3u) / 4u; ++d4) {
          const vec4 k = kv_row4(false, k_base, d4, DQK, KV_VEC4);
          [[unroll]] for (uint e = 0u; e < 4u; ++e) {
            if (4u * d4 + e < DQK) {
              [[unroll]] for (uint r = 0u; r < ROWS; ++r) s[r][c] = fma(q_sh[r * DQK + 4u * d4 + e], k[e], s[r][c]);
            }
          }
        }
      }
    }

    // Per row: which keys are candidates (seen, not NaN, at or above the
    // threshold) and how many (low 16 bits), and whether one poisons the
    // row (bit 16 up); then one prefix sum places every row's candidates,
    // in key order.
    uvec2 entry[ROWS][TILE];
    bool candidate[ROWS][TILE];
    uvec4 flags = uvec4(0u);
    [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
      [[unroll]] for (uint c = 0u; c < TILE; ++c) {
        const bool sees = valid[r] && visible_logit(s[r][c], FLAGS, b, q_head_of[r], pos_of[r], range[r],
                                                    global_keys_of[r], diagonal[r], key[c], safe_key[c],
                                                    key[c] < segment_end);
        entry[r][c] = uvec2(order_bits(s[r][c]), ~uint(key[c]));
        candidate[r][c] = sees && !is_nan(s[r][c]) && at_or_above(entry[r][c], threshold[r]);
        flags[r] += (candidate[r][c] ? 1u : 0u) + (sees && poisons_row(s[r][c]) ? 65536u : 0u);
      }
    }
    uvec4 totals;
    const uvec4 offsets = exclusive_sum(flags, lane, totals);
    [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
      uint at = (slot[r] + 4u) / 2u + count[r] + (offsets[r] & 0xffffu);
      [[unroll]] for (uint c = 0u; c < TILE; ++c) {
        if (candidate[r][c]) list_entries[at] = entry[r][c];
        at += candidate[r][c] ? 1u : 0u;
      }
      count[r] += totals[r] & 0xffffu;
      poisoned[r] = poisoned[r] || (totals[r] >> 16u) != 0u;
    }
  }

  // The headers, for the next chunk or the attention pipeline.
  [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
    if (lane == 0u && valid[r]) {
      list_words[slot[r]] = count[r];
      list_words[slot[r] + 1u] = threshold[r].x;
      list_words[slot[r] + 2u] = threshold[r].y;
      list_words[slot[r] + 3u] = poisoned[r] ? 1u : 0u;
    }
  }
}

void attend_row() {
  const uint lane = gl_LocalInvocationID.x;
  const uint block = gl_WorkGroupID.x / ROWS + pc.block_base;
  const uint kv_head = gl_WorkGroupID.y + pc.head_base;
  const uint b = gl_WorkGroupID.z + pc.batch_base;
  const uint group = P.sizes.y;
  sequence_queries = int(query_count(b, HAS_Q_LENS));
  const uint row = block * ROWS + gl_WorkGroupID.x % ROWS;
  if (row >= group * uint(sequence_queries)) return;  // past a ragged sequence's rows: nothing to store
  const uint pos = row / group;
  const uint q_head = kv_head * group + row % group;
  // (This workgroup's slot: slot_of's numbering, ROWS workgroups per selecting one.)
  const uint slot = ((gl_WorkGroupID.z * gl_NumWorkGroups.y + gl_WorkGroupID.y) * gl_NumWorkGroups.x + gl_WorkGroupID.x) *
                    SLOT_WORDS;
  const uint count = list_words[slot];
  const bool poisoned = list_words[slot + 3u] != 0u;
  if (count > TOPK) cut_list(slot, count, TOPK);
  const uint kept = min(count, TOPK);
  const uint first = (slot + 4u) / 2u;

  // The kept logits' maximum and sum (a row that kept nothing: l = 0).
  float m = SCORE_FLOOR;
  for (uint e = lane; e < kept; e += WG) m = max(m, logit_of(list_entries[first + e].x));
  m = workgroup_reduce(m, true);
  float l = 0.0;
  for (uint e = lane; e < kept; e += WG) l += softmax_weight(logit_of(list_entries[first + e].x), m);
  l = poisoned ? NAN_VALUE : workgroup_reduce(l, false);

  // O: this invocation's columns 4 * (lane + i * WG) .. + 3 over every
  // kept key; a zero weight never touches its value (0 * NaN is NaN).
  const uint chunks = (DV + 3u) / 4u;
  const uint PER_LANE = (DV + 4u * WG - 1u) / (4u * WG);
  vec4 o[PER_LANE];
  [[unroll]] for (uint i = 0u; i < PER_LANE; ++i) o[i] = vec4(0.0);
  for (uint e = 0u; e < kept; ++e) {
    const uvec2 c = list_entries[first + e];
    const float w = softmax_weight(logit_of(c.x), m);
    if (w == 0.0) continue;
    const uint v_base = key_row_offset(P.v_view, b, kv_head, ~c.y);
    [[unroll]] for (uint i = 0u; i < PER_LANE; ++i) {
      const uint d4 = lane + i * WG;
      if (d4 < chunks) o[i] = fma(vec4(w), kv_row4(true, v_base, d4, DV, KV_VEC4), o[i]);
    }
  }

  const float sink_factor = HAS_SINKS ? add_sink(m, l, q_head) : 1.0;
  const float scale = output_factor(l) * sink_factor;
  const uint o_base = query_row_index(P.o_view, b, q_head, pos, PACKED_Q);
  [[unroll]] for (uint i = 0u; i < PER_LANE; ++i) {
    const uint d4 = lane + i * WG;
    if (d4 >= chunks) continue;
    const vec4 value = o[i] * scale;
    if (O_VEC4) {
      o_store4(o_base + 4u * d4, value);
    } else {
      [[unroll]] for (uint e = 0u; e < 4u; ++e) {
        if (4u * d4 + e < DV) o_store(o_base + 4u * d4 + e, value[e]);
      }
    }
  }
  if (HAS_LSE && lane == 0u) lse_data[query_row_index(P.lse_view, b, q_head, pos, PACKED_Q)] = row_lse(m, l);
}

void main() {
  if (ATTEND) {
    attend_row();
  } else {
    select_keys();
  }
}
