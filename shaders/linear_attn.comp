#version 450
// Linear attention (VKATTN_MODE_LINEAR; include/vkattn.h): with phi the
// feature map over sqrt(scale) q and sqrt(scale) k,
//   O_i = phi(q_i)^T S / phi(q_i)^T z,  S = sum_j phi(k_j) v_j^T,  z = sum_j phi(k_j)
// over the keys row i sees (j < L, and j <= d_i when causal).
//
// One workgroup owns one (batch, kv head) and TILE columns of V and O: it
// keeps its part of the state, S [FEATURES x TILE] and z [FEATURES], in
// shared memory and walks the keys in chunks of TILE. Per chunk: the keys'
// features (phi_k, key-major) and the chunk's V columns into shared
// memory; with FAVOR+ the state's stabiliser raised to the chunk's largest
// exponent (the state rescaled); then, causally, the query rows whose
// diagonal lies in the chunk before the last key, from the state before
// the chunk plus the chunk's own keys up to each row's diagonal; then the
// state update (each invocation owns state entries). A kv head's query
// heads are interleaved with positions (row = position * G + head), as in
// the softmax kernels. Parallelism comes from batches x kv heads x V
// column tiles; the walk over the keys is sequential.
//
// The plan cuts the walk into dispatches (key phase: pc.chunk <
// pc.chunk_count, keys [pc.chunk * pc.chunk_keys, ...), all of them when
// chunk_keys is 0), each resuming from and storing its state in the
// Partials binding, then row dispatches (pc.chunk == pc.chunk_count) that
// compute, from the final state, every row the key phase did not: all
// rows without causal masking; causally, the rows that see every key
// (diagonal at or past the last key) and the rows that see none (zeros).
// Row dispatches take P.split.x row blocks each from pc.block_base. So
// every dispatch stays within what llvmpipe lets one invocation loop
// (runtime/vulkan/linear_plan.cpp counts the iterations below).
//
// FAVOR+ exponents are w_f . k' - |k'|^2 / 2; the state holds its sums
// times exp(-c) for the stabiliser c (never a positive exp argument), and
// each query row is divided by its largest exp term; both cancel in O.
// W [FEATURES, QK_DIM] is in the head-constants binding.
#extension GL_EXT_control_flow_attributes : enable
#extension GL_GOOGLE_include_directive : require
#include "attention_common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint TILE = 16;      // keys per chunk, rows per row block, V columns per workgroup
layout(constant_id = 2) const uint FEATURES = 64;  // m
layout(constant_id = 3) const uint DQK = 64;
layout(constant_id = 4) const uint DV = 64;
layout(constant_id = 5) const uint FEATURE_MAP = 1;  // 1: elu(x) + 1, 2: FAVOR+ (vkattn_feature_map)
layout(constant_id = 7) const uint FLAGS = 0;

const bool FAVOR = FEATURE_MAP == 2u;
const bool HAS_KV_LENS = (FLAGS & FLAG_KV_LENS) != 0u;
const bool HAS_Q_LENS = (FLAGS & FLAG_Q_LENS) != 0u;
const bool PACKED_Q = (FLAGS & FLAG_PACKED_Q) != 0u;

shared float state_s[FEATURES * TILE];  // S: feature f, column d at f * TILE + d
shared float state_z[FEATURES];
shared float phi_k[TILE * FEATURES];    // the chunk's keys: key c, feature f at c * FEATURES + f
shared float v_tile[TILE * TILE];       // the chunk's values: key c, column d
shared float key_terms[TILE];           // FAVOR+: |k'|^2 / 2 of each key of the chunk
shared float phi_q[TILE * FEATURES];    // a row block's query features
shared float row_terms[TILE];           // FAVOR+: each row's largest exponent; then its denominator
shared float dots[TILE * TILE];         // phi(q_r) . phi(k_c) for the chunk's keys up to each row's diagonal
shared float reduce_scratch[WG];
shared float stabiliser;                // FAVOR+: the state's c

// A workgroup's state record in the Partials binding: S, z, c.
const uint RECORD_FLOATS = FEATURES * TILE + FEATURES + 1u;

float elu_plus_one(float x) { return x > 0.0 ? x + 1.0 : exp(x); }

// Element e of key j's K row or V row (any storage: float, f16, q8_0, q4_0).
float key_value(uint b, uint kv_head, uint j, uint e) {
  const uint row = key_row_offset(P.k_view, b, kv_head, j);
  return K_BLOCKS ? k_block_chunk(row, e & ~3u)[e & 3u] : k_element(row + e);
}
float value_value(uint b, uint kv_head, uint j, uint e) {
  const uint row = key_row_offset(P.v_view, b, kv_head, j);
  return V_BLOCKS ? v_block_chunk(row, e & ~3u)[e & 3u] : v_element(row + e);
}

// The largest of each invocation's `value` over the workgroup (NaN skipped).
float workgroup_max(float value) {
  reduce_scratch[gl_LocalInvocationIndex] = value;
  barrier();
  for (uint width = WG / 2u; width > 0u; width /= 2u) {
    if (gl_LocalInvocationIndex < width) {
      const float other = reduce_scratch[gl_LocalInvocationIndex + width];
      if (other > reduce_scratch[gl_LocalInvocationIndex]) reduce_scratch[gl_LocalInvocationIndex] = other;
    }
    barrier();
  }
  const float result = reduce_scratch[0];
  barrier();  // every invocation has read it before the scratch is reused
  return result;
}

// The rows of the row phase, in order: causally the rows that see no key
// (positions [0, zero_end)), then those that see all (from full_begin);
// without causal masking every row. Entry t of that list as a row.
struct RowList {
  uint zero_rows;   // rows (positions x group) before full_first
  uint full_first;  // the first row of the second part
  uint count;       // entries
};

uint list_row(RowList list, uint t) { return t < list.zero_rows ? t : list.full_first + (t - list.zero_rows); }

// Entries [first, first + count) of a row list for this workgroup's
// columns [col0, col0 + cols): O from the state, plus (chunk_keys > 0, key
// phase) keys j0 .. j0 + chunk_keys - 1 of the chunk in phi_k / v_tile up
// to each row's diagonal. Rows of the list's zero part are written as 0.
void emit_rows(uint b, uint kv_head, uint group, RowList list, uint first, uint count, uint col0, uint cols, int L,
               uint j0, uint chunk_keys, float root_scale) {
  const uint inv = gl_LocalInvocationIndex;
  barrier();  // the previous block's readers of phi_q, dots and row_terms are done
  // Query features: elu(q') + 1, or FAVOR+'s exponents w_f . q'.
  for (uint e = inv; e < count * FEATURES; e += WG) {
    const uint r = e / FEATURES, f = e % FEATURES;
    const uint row = list_row(list, first + r);
    const uint q_base = query_row_index(P.q_view, b, kv_head * group + row % group, row / group, PACKED_Q);
    if (FAVOR) {
      float dot = 0.0;
      for (uint d = 0u; d < DQK; ++d) dot += head_data[f * DQK + d] * (root_scale * q_element(q_base + d));
      phi_q[e] = dot;
    } else {
      phi_q[e] = elu_plus_one(root_scale * q_element(q_base + f));
    }
  }
  barrier();
  if (FAVOR) {
    if (inv < count) {
      float top = SCORE_FLOOR;
      for (uint f = 0u; f < FEATURES; ++f) top = phi_q[inv * FEATURES + f] > top ? phi_q[inv * FEATURES + f] : top;
      row_terms[inv] = top;
    }
    barrier();
    for (uint e = inv; e < count * FEATURES; e += WG) phi_q[e] = exp(phi_q[e] - row_terms[e / FEATURES]);
    barrier();
  }
  // The chunk's keys up to each row's diagonal: phi(q) . phi(k).
  for (uint e = inv; e < count * chunk_keys; e += WG) {
    const uint r = e / chunk_keys, c = e % chunk_keys;
    const int last = diagonal_of(int(list_row(list, first + r) / group), L) - int(j0);
    float dot = 0.0;
    if (int(c) <= last) {
      for (uint f = 0u; f < FEATURES; ++f) dot += phi_q[r * FEATURES + f] * phi_k[c * FEATURES + f];
    }
    dots[r * TILE + c] = dot;
  }
  barrier();
  // Denominators: phi(q) . z plus the chunk's weights.
  if (inv < count) {
    float den = 0.0;
    for (uint f = 0u; f < FEATURES; ++f) den += phi_q[inv * FEATURES + f] * state_z[f];
    for (uint c = 0u; c < chunk_keys; ++c) den += dots[inv * TILE + c];
    row_terms[inv] = den;
  }
  barrier();
  for (uint e = inv; e < count * cols; e += WG) {
    const uint r = e / cols, d = e % cols;
    const uint row = list_row(list, first + r);
    float num = 0.0;
    for (uint f = 0u; f < FEATURES; ++f) num += phi_q[r * FEATURES + f] * state_s[f * TILE + d];
    // Only keys up to the diagonal: a later key's value (NaN or not) never
    // reaches the row.
    const int last = diagonal_of(int(row / group), L) - int(j0);
    for (uint c = 0u; c < chunk_keys; ++c) {
      if (int(c) <= last) num += dots[r * TILE + c] * v_tile[c * TILE + d];
    }
    const float den = row_terms[r];
    // No key (den 0): zeros, never 0/0; a NaN denominator makes the row NaN.
    float value = den > 0.0 || is_nan(den) ? num / den : 0.0;
    if (first + r < list.zero_rows) value = 0.0;
    o_store(query_row_index(P.o_view, b, kv_head * group + row % group, row / group, PACKED_Q) + col0 + d, value);
  }
}

// The keys [key_first, key_end) of (b, kv_head) into the state in shared
// memory; with `emit` (causal walk) the rows whose diagonal lies in each
// chunk before the last key are computed on the way.
void walk_keys(uint b, uint kv_head, uint group, uint col0, uint cols, int L, int offset, uint key_first,
               uint key_end, bool emit, float root_scale) {
  const uint inv = gl_LocalInvocationIndex;
  for (uint j0 = key_first; j0 < key_end; j0 += TILE) {
    const uint n = min(TILE, key_end - j0);
    barrier();  // the previous chunk's readers of phi_k, v_tile and the state are done
    if (FAVOR && inv < n) {
      float sum = 0.0;
      for (uint d = 0u; d < DQK; ++d) {
        const float x = root_scale * key_value(b, kv_head, j0 + inv, d);
        sum += x * x;
      }
      key_terms[inv] = 0.5 * sum;
    }
    for (uint e = inv; e < n * cols; e += WG) {
      v_tile[(e / cols) * TILE + e % cols] = value_value(b, kv_head, j0 + e / cols, col0 + e % cols);
    }
    barrier();
    float top = SCORE_FLOOR;
    for (uint e = inv; e < n * FEATURES; e += WG) {
      const uint c = e / FEATURES, f = e % FEATURES;
      if (FAVOR) {
        float dot = 0.0;
        for (uint d = 0u; d < DQK; ++d) dot += head_data[f * DQK + d] * (root_scale * key_value(b, kv_head, j0 + c, d));
        const float exponent = dot - key_terms[c];
        phi_k[e] = exponent;
        top = exponent > top ? exponent : top;
      } else {
        phi_k[e] = elu_plus_one(root_scale * key_value(b, kv_head, j0 + c, f));
      }
    }
    if (FAVOR) {
      // Raise the stabiliser to the chunk's largest exponent, rescaling the
      // state, so that every exp below has a non-positive argument.
      const float chunk_top = workgroup_max(top);
      const float old = stabiliser;
      barrier();  // every invocation has read the stabiliser
      if (chunk_top > old) {
        const float factor = exp(old - chunk_top);
        for (uint e = inv; e < FEATURES * TILE; e += WG) state_s[e] *= factor;
        for (uint f = inv; f < FEATURES; f += WG) state_z[f] *= factor;
        if (inv == 0u) stabiliser = chunk_top;
      }
      const float c_now = max(old, chunk_top);
      for (uint e = inv; e < n * FEATURES; e += WG) phi_k[e] = exp(phi_k[e] - c_now);
    }
    barrier();
    if (emit) {
      // Rows whose diagonal is in this chunk and before the last key (the
      // row phase computes those that see every key).
      const uint first = uint(clamp(int(j0) - offset, 0, sequence_queries)) * group;
      const uint end = uint(clamp(min(int(j0 + n), L - 1) - offset, 0, sequence_queries)) * group;
      RowList list;
      list.zero_rows = 0u;
      list.full_first = 0u;
      list.count = end;
      for (uint row0 = first; row0 < end; row0 += TILE) {
        emit_rows(b, kv_head, group, list, row0, min(TILE, end - row0), col0, cols, L, j0, n, root_scale);
      }
      barrier();  // the rows have read the state before the chunk
    }
    // The state update: every key of the chunk is visible to the state.
    for (uint e = inv; e < FEATURES * TILE; e += WG) {
      const uint f = e / TILE, d = e % TILE;
      if (d < cols) {
        float sum = state_s[e];
        for (uint c = 0u; c < n; ++c) sum += phi_k[c * FEATURES + f] * v_tile[c * TILE + d];
        state_s[e] = sum;
      }
    }
    for (uint f = inv; f < FEATURES; f += WG) {
      float sum = state_z[f];
      for (uint c = 0u; c < n; ++c) sum += phi_k[c * FEATURES + f];
      state_z[f] = sum;
    }
  }
}

void load_state(uint record) {
  for (uint e = gl_LocalInvocationIndex; e < FEATURES * TILE; e += WG) state_s[e] = partial_data[record + e];
  for (uint f = gl_LocalInvocationIndex; f < FEATURES; f += WG) state_z[f] = partial_data[record + FEATURES * TILE + f];
  if (gl_LocalInvocationIndex == 0u) stabiliser = partial_data[record + FEATURES * TILE + FEATURES];
}

void clear_state() {
  for (uint e = gl_LocalInvocationIndex; e < FEATURES * TILE; e += WG) state_s[e] = 0.0;
  for (uint f = gl_LocalInvocationIndex; f < FEATURES; f += WG) state_z[f] = 0.0;
  // An empty FAVOR+ state has no scale yet: the floor makes the first
  // chunk's rescaling factor exp(floor - c) exactly 0.
  if (gl_LocalInvocationIndex == 0u) stabiliser = FAVOR ? SCORE_FLOOR : 0.0;
}

// Phases (pc.chunk; the plan dispatches them in this order, a barrier
// between): the keys are cut into pc.chunk_count chunks of pc.chunk_keys.
const uint PHASE_SUM = 0u;     // x = column tile + tiles x chunk: the chunk's own sums -> its record
const uint PHASE_PREFIX = 1u;  // x = column tile: records become the sums of chunks 0 .. their own
const uint PHASE_WALK = 2u;    // causal, x as SUM: from the previous chunk's record, walk the chunk's keys emitting rows
const uint PHASE_ROWS = 3u;    // x = column tile: P.split.x row blocks from pc.block_base, from the last record

void main() {
  const uint inv = gl_LocalInvocationIndex;
  const uint tiles = (DV + TILE - 1u) / TILE;
  const uint tile = gl_WorkGroupID.x % tiles;
  const uint chunk = gl_WorkGroupID.x / tiles;  // PHASE_SUM and PHASE_WALK
  const uint col0 = tile * TILE;
  const uint cols = min(TILE, DV - col0);
  const uint kv_head = gl_WorkGroupID.y + pc.head_base;
  const uint b = gl_WorkGroupID.z;
  const uint group = P.sizes.y;
  const float root_scale = sqrt(P.scaling.x);
  sequence_queries = int(query_count(b, HAS_Q_LENS));
  const int L = HAS_KV_LENS ? int(kv_lens[uint(P.masking.w) + b]) : int(P.sizes.w);
  const bool causal = P.masking.x != 0;
  const int offset = diagonal_of(0, L);  // row position i has diagonal i + offset
  // Record of chunk c for this workgroup's (batch, kv head, column tile).
  const uint first_record = (b * P.split.z + kv_head) * pc.chunk_count * tiles;
#define RECORD(c) ((first_record + (c) * tiles + tile) * RECORD_FLOATS)

  if (pc.chunk == PHASE_PREFIX) {
    // Record c := record c (+) record c - 1, in chunk order, to the larger
    // stabiliser (each invocation its own entries).
    for (uint c = 1u; c < pc.chunk_count; ++c) {
      const uint a = RECORD(c), p = RECORD(c - 1u);
      const float ca = partial_data[a + FEATURES * TILE + FEATURES], cp = partial_data[p + FEATURES * TILE + FEATURES];
      const float top = max(ca, cp);
      const float fa = exp(ca - top), fp = exp(cp - top);
      for (uint e = inv; e < FEATURES * (TILE + 1u); e += WG) {
        partial_data[a + e] = partial_data[a + e] * fa + partial_data[p + e] * fp;
      }
      barrier();  // (every invocation has read the stabilisers before the first one is replaced)
      if (inv == 0u) partial_data[a + FEATURES * TILE + FEATURES] = top;
      memoryBarrierBuffer();
      barrier();
    }
    return;
  }
  if (pc.chunk == PHASE_ROWS) {
    // The rows that see no key (causal, or a sequence without keys), then
    // those that see every key, from the sums of all chunks.
    load_state(RECORD(pc.chunk_count - 1u));
    barrier();
    const uint all_rows = group * uint(sequence_queries);
    RowList list;
    list.zero_rows = L == 0 ? all_rows : (causal ? uint(clamp(-offset, 0, sequence_queries)) * group : 0u);
    list.full_first = L == 0 ? all_rows : (causal ? uint(clamp(L - 1 - offset, 0, sequence_queries)) * group : 0u);
    list.count = list.zero_rows + (all_rows - list.full_first);
    const uint block_end = min(pc.block_base + P.split.x, (list.count + TILE - 1u) / TILE);
    for (uint block = pc.block_base; block < block_end; ++block) {
      emit_rows(b, kv_head, group, list, block * TILE, min(TILE, list.count - block * TILE), col0, cols, L, 0u, 0u,
                root_scale);
    }
    return;
  }
  // PHASE_SUM from an empty state; PHASE_WALK from the sums of the chunks
  // before, and only as far as the last diagonal among the chunk's rows
  // (rows before the last key; a chunk without such rows has nothing to do).
  const bool walk = pc.chunk == PHASE_WALK;
  const uint key_first = min(chunk * pc.chunk_keys, uint(L));
  uint key_end = min(key_first + pc.chunk_keys, uint(L));
  if (walk) {
    const int rows_end = clamp(min(int(key_end), L - 1) - offset, 0, sequence_queries);  // positions
    if (rows_end <= clamp(int(key_first) - offset, 0, sequence_queries)) return;  // uniform
    key_end = uint(rows_end + offset);  // one past the last row's diagonal
  }
  if (walk && chunk > 0u) {
    load_state(RECORD(chunk - 1u));
  } else {
    clear_state();
  }
  walk_keys(b, kv_head, group, col0, cols, L, offset, key_first, key_end, walk, root_scale);
  if (walk) return;
  barrier();  // the last state update is done
  const uint record = RECORD(chunk);
  for (uint e = inv; e < FEATURES * TILE; e += WG) partial_data[record + e] = state_s[e];
  for (uint f = inv; f < FEATURES; f += WG) partial_data[record + FEATURES * TILE + f] = state_z[f];
  if (inv == 0u) partial_data[record + FEATURES * TILE + FEATURES] = stabiliser;
#undef RECORD
}
