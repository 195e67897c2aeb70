#version 450
// Attention for GPUs: FlashAttention-style key tiles with every thread's
// online softmax in registers, shaped by what GPU compilers report
// (vkattn-bench --shader-stats, docs/PERFORMANCE.md).
//
// Threads. A workgroup of WG invocations is TEAMS teams of TEAM = D_SPLIT x
// COL_THREADS threads; with subgroup operations a team lies inside one
// subgroup. Team t owns ROWS query rows of the workgroup's block of
// BR = TEAMS x ROWS rows (of one batch and kv head: the G query heads of a
// GQA group are interleaved with the positions, row = position * G + head,
// so one pass over K and V serves the whole group). Within a team,
// COL_THREADS threads take different keys of each tile of
// BC = COL_THREADS x COLS keys, and D_SPLIT threads share one key's head
// dimension in chunks of 4 elements (a thread's chunk k is
// d_lane + k * D_SPLIT). Per tile a thread computes ROWS x COLS partial
// scores from its chunks, the D_SPLIT threads sum them (a shuffle-xor
// butterfly, or shared memory without subgroups), and each thread updates
// its own online-softmax state: running maximum m, sum l and O for its rows
// and chunks, over the keys it saw. Nothing else crosses threads per tile;
// the COL_THREADS states of a row are merged once, after the last tile.
//
// Memory. Q rows live in registers, pre-scaled. K and V chunks are read
// with vector loads (vec4, or two 32-bit words of f16) straight into
// registers, a tile's K loads all issued before the first product, or
// (FLAG_STAGED) copied by the whole workgroup into shared memory once per
// tile and read from there, which saves global traffic where several teams
// share the keys and the device has dedicated shared memory.
//
// Masks. Tiles that every row of the block sees whole (no boolean or
// additive mask, inside every row's causal, window and length range) run
// a loop without visibility tests. The other tiles test every (row, key),
// give hidden keys weight exactly 0, and there a zero weight also drops its
// value (0 * NaN would be NaN).
//
// Block-typed K or V (q8_0, q4_0; K_STORAGE, V_STORAGE) are dequantized as
// they are loaded from global memory; the plan never stages them or uses
// FP16_MATH with them (their values are not f16 values).
//
// FP16_MATH (needs shaderFloat16; f16 storage only): Q, K and V stay f16
// in registers (half the registers of f32) and enter the multiply-adds as
// f16 operands, summed in f32: mixed-precision multiply-adds where the GPU
// has them (AMD: v_fma_mix_f32, no conversions), with Q unscaled (the
// scale applies to the score) so every product is exact. Scores, weights,
// the softmax, the row sums and O stay f32: the results match the f32
// arithmetic's. Summing P.V in f16 instead (packed f16 multiply-adds, as
// ggml does) missed the f16 tolerance where a row's output is small next
// to its values (measured: 1.34x on a D=1 decode over 1031 keys).
//
// Split-KV (FLAG_SPLIT) and key chunks (pc.chunk_count > 1) store the
// unnormalised (O, m, l) records of flash_attn_reduce.comp and the lanes
// kernel; a chunk after the first resumes from them.
#extension GL_EXT_control_flow_attributes : enable
#extension GL_GOOGLE_include_directive : require
#if USE_SUBGROUPS
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#endif
#if FP16_MATH
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#endif

#include "attention_common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;          // invocations per workgroup
layout(constant_id = 1) const uint ROWS = 1;         // query rows per thread
layout(constant_id = 2) const uint COLS = 1;         // keys per thread per tile
layout(constant_id = 3) const uint DQK = 64;
layout(constant_id = 4) const uint DV = 64;
layout(constant_id = 5) const uint D_SPLIT = 1;      // threads sharing one key's head dimension (power of 2)
layout(constant_id = 6) const uint COL_THREADS = 1;  // threads taking different keys of a tile (power of 2)
layout(constant_id = 7) const uint FLAGS = 0;

const bool HAS_ADDITIVE_MASK = (FLAGS & FLAG_ADDITIVE_MASK) != 0u;
const bool HAS_BOOL_MASK = (FLAGS & FLAG_BOOL_MASK) != 0u;
const bool HAS_KV_LENS = (FLAGS & FLAG_KV_LENS) != 0u;
const bool HAS_LSE = (FLAGS & FLAG_LSE) != 0u;
const bool HAS_SOFTCAP = (FLAGS & FLAG_SOFTCAP) != 0u;
const bool HAS_ALIBI = (FLAGS & FLAG_ALIBI) != 0u;
const bool HAS_SINKS = (FLAGS & FLAG_SINKS) != 0u;
const bool HAS_BLOCK_MASK = (FLAGS & FLAG_BLOCK_MASK) != 0u;
const bool BLOCK_PER_BATCH = (FLAGS & FLAG_BLOCK_PER_BATCH) != 0u;
const bool BLOCK_PER_HEAD = (FLAGS & FLAG_BLOCK_PER_HEAD) != 0u;
const bool ROPE_NEOX = (FLAGS & FLAG_ROPE_NEOX) != 0u;
const bool ROPE_GPTJ = (FLAGS & FLAG_ROPE_GPTJ) != 0u;
const bool HAS_Q_LENS = (FLAGS & FLAG_Q_LENS) != 0u;
const bool PACKED_Q = (FLAGS & FLAG_PACKED_Q) != 0u;
const bool SPLIT = (FLAGS & FLAG_SPLIT) != 0u;
const bool STAGED = (FLAGS & FLAG_STAGED) != 0u;
const bool KV_VEC4 = (FLAGS & FLAG_KV_VEC4) != 0u;
const bool O_VEC4 = (FLAGS & FLAG_O_VEC4) != 0u;

const uint TEAM = D_SPLIT * COL_THREADS;
const uint MAX_TEAM_BITS = 8u;          // teams have at most 128 threads (kernel_config.cpp)
const uint TEAMS = WG / TEAM;
const uint BR = TEAMS * ROWS;           // query rows per workgroup
const uint BC = COL_THREADS * COLS;     // keys per tile
const uint DQK4 = (DQK + 3u) / 4u;      // 4-element chunks of a K row
const uint DV4 = (DV + 3u) / 4u;
const uint K_CHUNKS = (DQK4 + D_SPLIT - 1u) / D_SPLIT;  // chunks per thread
const uint V_CHUNKS = (DV4 + D_SPLIT - 1u) / D_SPLIT;
// Whether every thread's chunks exist (then no bound test is compiled).
const bool K_CHUNKS_EXACT = K_CHUNKS * D_SPLIT == DQK4;
const bool V_CHUNKS_EXACT = V_CHUNKS * D_SPLIT == DV4;
// The staging copy: chunks of a tile, and the rounds of WG threads it takes.
const uint K_STAGE_ITEMS = BC * DQK4;
const uint V_STAGE_ITEMS = BC * DV4;
const uint K_STAGE_ROUNDS = (K_STAGE_ITEMS + WG - 1u) / WG;
const uint V_STAGE_ROUNDS = (V_STAGE_ITEMS + WG - 1u) / WG;

// Shared memory: K and V tiles when staged (f16 as pairs of words), with
// row strides one chunk longer than a row against bank conflicts; the
// scratch of the team reductions when subgroup operations are not used.
#if STORAGE_F16
#define CHUNK_T uvec2
#else
#define CHUNK_T vec4
#endif
const uint K_STAGE_STRIDE = DQK4 + 1u;
const uint V_STAGE_STRIDE = DV4 + 1u;
shared CHUNK_T k_stage[STAGED ? BC * K_STAGE_STRIDE : 1u];
shared CHUNK_T v_stage[STAGED ? BC * V_STAGE_STRIDE : 1u];
#if !USE_SUBGROUPS
shared float score_scratch[D_SPLIT > 1u ? WG * ROWS * COLS : 1u];
shared vec4 merge_scratch[WG];
#endif

// This thread's place and state (module-scope: registers after inlining).
uint flat_id;      // 0..WG-1, consecutive within a subgroup
uint d_lane;       // 0..D_SPLIT-1
uint col;          // 0..COL_THREADS-1
uint team;         // 0..TEAMS-1
#if FP16_MATH
f16vec4 q[ROWS][K_CHUNKS];  // Q chunks as stored (the scale applies to the scores)
#else
vec4 q[ROWS][K_CHUNKS];    // pre-scaled Q chunks
#endif
vec4 o[ROWS][V_CHUNKS];    // unnormalised O chunks
float m[ROWS];             // running maximum (finite: starts at SCORE_FLOOR)
float l[ROWS];             // running sum of weights (NaN once the row is poisoned)
float s[ROWS][COLS];       // the tile's scores, then weights
uint pos_of[ROWS];         // query position of each row
uint q_head_of[ROWS];
bool valid[ROWS];          // rows past the last are computed on a copy of it, never stored
int diagonal_row[ROWS];    // aligned position of each row (ALiBi distances)
ivec2 range_of[ROWS];      // keys causal, window and length masking leave each row
int global_of[ROWS];       // global keys [0, global_of) each row also sees (global_end)
uint b;                    // batch within the slice
uint kv_head;
int key_end;               // end of the keys of the segment being walked (this split and chunk)
uint pos_first, pos_last;  // the workgroup's first and last query positions (block-sparse tile tests)

// A thread's chunks: d_lane, d_lane + D_SPLIT, ... (neighbouring threads
// read neighbouring chunks), except for block-typed K or V whose chunks per
// thread make aligned runs inside a block (2 or 4 chunks) or whole blocks
// (multiples of 8): then each thread's chunks are consecutive and read as
// runs (block_run: the scale once, the codes as whole words). Q chunks
// follow K's order, O chunks V's.
// (Written without && and || : glslang mistranslates them in
// specialization-constant expressions.)
const uint K_RUN_SHAPED = uint(K_BLOCKS) * (uint(K_CHUNKS == 2u) + uint(K_CHUNKS == 4u) + uint(K_CHUNKS % 8u == 0u));
const uint V_RUN_SHAPED = uint(V_BLOCKS) * (uint(V_CHUNKS == 2u) + uint(V_CHUNKS == 4u) + uint(V_CHUNKS % 8u == 0u));
const uint K_RUN = K_RUN_SHAPED != 0u ? (K_CHUNKS < 8u ? K_CHUNKS : 8u) : 1u;
const uint V_RUN = V_RUN_SHAPED != 0u ? (V_CHUNKS < 8u ? V_CHUNKS : 8u) : 1u;
uint k_chunk_of(uint k) { return K_RUN > 1u ? d_lane * K_CHUNKS + k : d_lane + k * D_SPLIT; }
uint v_chunk_of(uint k) { return V_RUN > 1u ? d_lane * V_CHUNKS + k : d_lane + k * D_SPLIT; }
bool k_chunk_exists(uint k) { return K_CHUNKS_EXACT || k_chunk_of(k) < DQK4; }
bool v_chunk_exists(uint k) { return V_CHUNKS_EXACT || v_chunk_of(k) < DV4; }

// Chunk `c4` (elements 4 c4 .. 4 c4 + 3) of the row at element `base`;
// elements past `dims` read as 0 without a load.
vec4 load_k_chunk(uint base, uint c4) {
  if (K_BLOCKS) return k_block_chunk(base, 4u * c4);
  if (KV_VEC4) return k_vec4(base + 4u * c4);
  vec4 value = vec4(0.0);
  [[unroll]] for (uint e = 0u; e < 4u; ++e) {
    if (4u * c4 + e < DQK) value[e] = k_element(base + 4u * c4 + e);
  }
  return value;
}

vec4 load_v_chunk(uint base, uint c4) {
  if (V_BLOCKS) return v_block_chunk(base, 4u * c4);
  if (KV_VEC4) return v_vec4(base + 4u * c4);
  vec4 value = vec4(0.0);
  [[unroll]] for (uint e = 0u; e < 4u; ++e) {
    if (4u * c4 + e < DV) value[e] = v_element(base + 4u * c4 + e);
  }
  return value;
}

#if STORAGE_F16
// The raw words of a chunk (staging copies words, converts nothing).
uvec2 load_k_words(uint base, uint c4) {
  if (KV_VEC4) return k_words2[(base >> 2u) + c4];
  vec4 value = load_k_chunk(base, c4);
  return uvec2(packHalf2x16(value.xy), packHalf2x16(value.zw));
}
uvec2 load_v_words(uint base, uint c4) {
  if (KV_VEC4) return v_words2[(base >> 2u) + c4];
  vec4 value = load_v_chunk(base, c4);
  return uvec2(packHalf2x16(value.xy), packHalf2x16(value.zw));
}
#define STAGE_K(base, c4) load_k_words(base, c4)
#define STAGE_V(base, c4) load_v_words(base, c4)
#define FROM_STAGE(chunk) halves4(chunk)
#else
#define STAGE_K(base, c4) load_k_chunk(base, c4)
#define STAGE_V(base, c4) load_v_chunk(base, c4)
#define FROM_STAGE(chunk) (chunk)
#endif

#if FP16_MATH
f16vec4 load_v_chunk_f16(uint base, uint c4) {
  uvec2 w;
  if (STAGED) {
    w = v_stage[base * V_STAGE_STRIDE + c4];  // base is the key's row in the stage
  } else {
    w = load_v_words(base, c4);
  }
  return f16vec4(unpackFloat2x16(w.x), unpackFloat2x16(w.y));
}
#endif

bool bool_mask_allows(uint q_head, uint i, uint j) {
  const uint index = P.bmask_view.x + b * P.bmask_view.y + q_head * P.bmask_view.z + i * P.bmask_view.w +
                     j * P.mask_cols.y;
  return ((bmask_words[index >> 2u] >> ((index & 3u) * 8u)) & 0xffu) != 0u;
}

float additive_mask(uint q_head, uint i, uint j) {
  return amask_data[P.amask_view.x + b * P.amask_view.y + q_head * P.amask_view.z + i * P.amask_view.w +
                    j * P.mask_cols.x];
}

// s[r][c] += the same value over the D_SPLIT threads that share a key.
void sum_scores_over_dims() {
  if (D_SPLIT == 1u) return;
#if USE_SUBGROUPS
  // A butterfly: each step adds a pair in both orders, so every thread ends
  // with the same bits.
  // (Steps count up to a constant bound: compilers unroll that, not a
  // shifting induction variable, and then see constant shuffle masks.)
  [[unroll]] for (uint step = 0u; step < MAX_TEAM_BITS; ++step) {
    const uint mask = 1u << step;
    if (mask >= D_SPLIT) break;
    // All of a step's shuffles are issued before the first sum waits on one.
    float other[ROWS][COLS];
    [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
      [[unroll]] for (uint c = 0u; c < COLS; ++c) other[r][c] = subgroupShuffleXor(s[r][c], mask);
    }
    [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
      [[unroll]] for (uint c = 0u; c < COLS; ++c) s[r][c] += other[r][c];
    }
  }
#else
  barrier();  // the previous tile's readers are done with the scratch
  [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
    [[unroll]] for (uint c = 0u; c < COLS; ++c) score_scratch[(flat_id * ROWS + r) * COLS + c] = s[r][c];
  }
  barrier();
  const uint first = flat_id - d_lane;
  [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
    [[unroll]] for (uint c = 0u; c < COLS; ++c) {
      float sum = 0.0;  // the same order in every thread of the key
      [[unroll]] for (uint t = 0u; t < D_SPLIT; ++t) sum += score_scratch[((first + t) * ROWS + r) * COLS + c];
      s[r][c] = sum;
    }
  }
#endif
}

// One key tile at j0. CHECK: test each (row, key) for visibility (the
// tile is not seen whole by every row, or masks are bound).
// Block-sparse: whether some query head of the workgroup's positions sees
// a key block of the tile [j0, min(j0 + BC, key_end)) through the block
// mask's kv-head unions: the same answer in every thread, so a tile
// without one is skipped by the whole workgroup. (The loops' iterations
// count towards llvmpipe's cap: loop_iterations_per_tile.)
bool tile_sees_blocks(int j0) {
  const int end = min(j0 + int(BC), key_end);
  bool any = false;
  for (uint qb = pos_first >> BLOCK_Q_SHIFT; qb <= (pos_last >> BLOCK_Q_SHIFT); ++qb) {
    for (uint kb = uint(j0) >> BLOCK_K_SHIFT; kb <= (uint(end - 1) >> BLOCK_K_SHIFT); ++kb) {
      any = any || group_sees_block(b, kv_head, P.sizes.y, qb, kb, BLOCK_PER_BATCH, BLOCK_PER_HEAD);
    }
  }
  return any;
}

void process_tile(int j0, const bool CHECK) {
  if (HAS_BLOCK_MASK && !tile_sees_blocks(j0)) return;  // hidden from every row: not loaded

  // This thread's keys; past the range they read the last key (in bounds)
  // and are hidden below.
  int key[COLS];
  uint k_row[COLS];
  uint v_row[COLS];
  [[unroll]] for (uint c = 0u; c < COLS; ++c) {
    key[c] = j0 + int(c * COL_THREADS + col);
    const uint j = CHECK ? uint(min(key[c], key_end - 1)) : uint(key[c]);
    k_row[c] = STAGED ? c * COL_THREADS + col : key_row_offset(P.k_view, b, kv_head, j);
    v_row[c] = STAGED ? c * COL_THREADS + col : key_row_offset(P.v_view, b, kv_head, j);
  }

  if (STAGED) {
    // The whole workgroup copies the tile's K and V chunks (keys past the
    // range as zeros), consecutive threads taking consecutive chunks.
    barrier();  // every thread is done with the previous tile's stage
    [[unroll]] for (uint round = 0u; round < K_STAGE_ROUNDS; ++round) {
      const uint e = round * WG + flat_id;
      if (K_STAGE_ITEMS % WG == 0u || e < K_STAGE_ITEMS) {
        const uint c = e / DQK4;
        const uint c4 = e % DQK4;
        const int j = j0 + int(c);
        CHUNK_T chunk = CHUNK_T(0);
        if (!CHECK || j < key_end) chunk = STAGE_K(key_row_offset(P.k_view, b, kv_head, uint(j)), c4);
        k_stage[c * K_STAGE_STRIDE + c4] = chunk;
      }
    }
    [[unroll]] for (uint round = 0u; round < V_STAGE_ROUNDS; ++round) {
      const uint e = round * WG + flat_id;
      if (V_STAGE_ITEMS % WG == 0u || e < V_STAGE_ITEMS) {
        const uint c = e / DV4;
        const uint c4 = e % DV4;
        const int j = j0 + int(c);
        CHUNK_T chunk = CHUNK_T(0);
        if (!CHECK || j < key_end) chunk = STAGE_V(key_row_offset(P.v_view, b, kv_head, uint(j)), c4);
        v_stage[c * V_STAGE_STRIDE + c4] = chunk;
      }
    }
    barrier();
  }

  // S = Q.K^T over this thread's chunks. From global memory every K chunk
  // of the tile is requested before the first product (f16 kept as words
  // until used); from the stage, chunk by chunk.
  [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
    [[unroll]] for (uint c = 0u; c < COLS; ++c) s[r][c] = 0.0;
  }
  // (Block-typed K is dequantized as it is loaded, into kb.)
  CHUNK_T kc[COLS][STAGED || K_BLOCKS ? 1u : K_CHUNKS];
  vec4 kb[COLS][K_BLOCKS && !STAGED ? K_CHUNKS : 1u];
  if (!STAGED) {
    [[unroll]] for (uint c = 0u; c < COLS; ++c) {
      vec4 run[8];  // block-typed K read in runs (K_RUN > 1)
      [[unroll]] for (uint k = 0u; k < K_CHUNKS; ++k) {
        if (K_BLOCKS && K_RUN > 1u) {
          // A run's chunks exist together (head dims hold whole blocks).
          if (k % K_RUN == 0u && k_chunk_exists(k)) block_run(false, K_STORAGE, k_row[c], 4u * k_chunk_of(k), K_RUN, run);
          kb[c][k] = k_chunk_exists(k) ? run[k % K_RUN] : vec4(0.0);
        } else if (K_BLOCKS) {
          kb[c][k] = k_chunk_exists(k) ? k_block_chunk(k_row[c], 4u * k_chunk_of(k)) : vec4(0.0);
        } else {
          kc[c][k] = k_chunk_exists(k) ? STAGE_K(k_row[c], k_chunk_of(k)) : CHUNK_T(0);
        }
      }
    }
  }
  [[unroll]] for (uint k = 0u; k < K_CHUNKS; ++k) {
    [[unroll]] for (uint c = 0u; c < COLS; ++c) {
      vec4 kv;
      if (STAGED) {
        kv = k_chunk_exists(k) ? FROM_STAGE(k_stage[k_row[c] * K_STAGE_STRIDE + k_chunk_of(k)]) : vec4(0.0);
      } else if (K_BLOCKS) {
        kv = kb[c][k];
      } else {
        kv = FROM_STAGE(kc[c][k]);
      }
      [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
        float acc = s[r][c];
        acc = fma(float(q[r][k].x), kv.x, acc);
        acc = fma(float(q[r][k].y), kv.y, acc);
        acc = fma(float(q[r][k].z), kv.z, acc);
        acc = fma(float(q[r][k].w), kv.w, acc);
        s[r][c] = acc;
      }
    }
  }
  sum_scores_over_dims();
#if FP16_MATH
  [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
    [[unroll]] for (uint c = 0u; c < COLS; ++c) s[r][c] *= P.scaling.x;
  }
#endif
  if (HAS_SOFTCAP || HAS_ALIBI) {
    [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
      [[unroll]] for (uint c = 0u; c < COLS; ++c) {
        s[r][c] = shaped_logit(s[r][c], HAS_SOFTCAP, HAS_ALIBI, q_head_of[r], diagonal_row[r], key[c]);
      }
    }
  }

  // The online-softmax step of each row over this thread's keys.
  [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
    bool sees[COLS];
    float tile_max = SCORE_FLOOR;
    uint magnitude = 0u;  // largest |score| bits: NaN and infinities are at or above 0x7f800000
    [[unroll]] for (uint c = 0u; c < COLS; ++c) {
      sees[c] = true;
      if (CHECK) {
        const int j = key[c];
        sees[c] = j < key_end && ((j >= range_of[r].x && j < range_of[r].y) || j < global_of[r]);
        const uint safe_j = uint(min(j, key_end - 1));
        if (HAS_BOOL_MASK) sees[c] = sees[c] && bool_mask_allows(q_head_of[r], pos_of[r], safe_j);
        if (HAS_ADDITIVE_MASK) {
          const float add = additive_mask(q_head_of[r], pos_of[r], safe_j);
          sees[c] = sees[c] && !is_negative_inf(add);  // -inf hides the key, whatever its score
          s[r][c] += add;
        }
        if (HAS_BLOCK_MASK) {
          sees[c] = sees[c] && block_allows(b, q_head_of[r], pos_of[r], safe_j, BLOCK_PER_BATCH, BLOCK_PER_HEAD);
        }
      }
      if (sees[c]) {
        tile_max = max(tile_max, s[r][c]);
        magnitude = max(magnitude, floatBitsToUint(s[r][c]) & 0x7fffffffu);
      }
    }
    // Rare: a non-finite score. NaN and +inf poison the row; -inf weighs 0.
    const bool special = magnitude >= 0x7f800000u;
    if (special) {
      tile_max = SCORE_FLOOR;
      [[unroll]] for (uint c = 0u; c < COLS; ++c) {
        if (!sees[c]) continue;
        if (poisons_row(s[r][c])) l[r] = NAN_VALUE;
        else tile_max = max(tile_max, s[r][c]);
      }
    }
    if (tile_max > m[r]) {  // rescaling by exp(0) = 1 would change nothing
      const float alpha = exp(m[r] - tile_max);
      m[r] = tile_max;
      l[r] *= alpha;
      [[unroll]] for (uint k = 0u; k < V_CHUNKS; ++k) o[r][k] *= alpha;
    }
    float sum = 0.0;
    [[unroll]] for (uint c = 0u; c < COLS; ++c) {
      float p = special ? softmax_weight(s[r][c], m[r]) : exp(s[r][c] - m[r]);
      if (CHECK || special) p = sees[c] ? p : 0.0;
      s[r][c] = p;
      sum += p;
    }
    l[r] += sum;
  }

  // O += P.V over this thread's keys and chunks.
#if FP16_MATH
  [[unroll]] for (uint c = 0u; c < COLS; ++c) {
    f16vec4 vc[V_CHUNKS];
    [[unroll]] for (uint k = 0u; k < V_CHUNKS; ++k) {
      vc[k] = v_chunk_exists(k) ? load_v_chunk_f16(v_row[c], v_chunk_of(k)) : f16vec4(0.0);
    }
    [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
      const float p = s[r][c];
      [[unroll]] for (uint k = 0u; k < V_CHUNKS; ++k) {
        const f16vec4 v = CHECK && p == 0.0 ? f16vec4(0.0) : vc[k];
        o[r][k] = fma(vec4(p), vec4(v), o[r][k]);
      }
    }
  }
#else
  [[unroll]] for (uint c = 0u; c < COLS; ++c) {
    vec4 vc[V_CHUNKS];
    vec4 run[8];  // block-typed V read in runs (V_RUN > 1)
    [[unroll]] for (uint k = 0u; k < V_CHUNKS; ++k) {
      if (!v_chunk_exists(k)) {
        vc[k] = vec4(0.0);
      } else if (STAGED) {
        vc[k] = FROM_STAGE(v_stage[v_row[c] * V_STAGE_STRIDE + v_chunk_of(k)]);
      } else if (V_BLOCKS && V_RUN > 1u) {
        if (k % V_RUN == 0u) block_run(true, V_STORAGE, v_row[c], 4u * v_chunk_of(k), V_RUN, run);
        vc[k] = run[k % V_RUN];
      } else {
        vc[k] = load_v_chunk(v_row[c], v_chunk_of(k));
      }
    }
    [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
      const float p = s[r][c];
      [[unroll]] for (uint k = 0u; k < V_CHUNKS; ++k) {
        const vec4 v = CHECK && p == 0.0 ? vec4(0.0) : vc[k];
        o[r][k] = fma(vec4(p), v, o[r][k]);
      }
    }
  }
#endif
}

// Merges the COL_THREADS states of each row (same d_lane): afterwards every
// thread of the team holds the row's (m, l, O chunks).
void merge_columns() {
  if (COL_THREADS == 1u) return;
#if USE_SUBGROUPS
  [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
    float merged = m[r];
    [[unroll]] for (uint step = 0u; step < MAX_TEAM_BITS; ++step) {
      const uint mask = D_SPLIT << step;
      if (mask >= TEAM) break;
      merged = max(merged, subgroupShuffleXor(merged, mask));
    }
    const float w = exp(m[r] - merged);
    m[r] = merged;
    l[r] *= w;
    [[unroll]] for (uint k = 0u; k < V_CHUNKS; ++k) o[r][k] *= w;
    [[unroll]] for (uint step = 0u; step < MAX_TEAM_BITS; ++step) {
      const uint mask = D_SPLIT << step;
      if (mask >= TEAM) break;
      l[r] += subgroupShuffleXor(l[r], mask);
      [[unroll]] for (uint k = 0u; k < V_CHUNKS; ++k) o[r][k] += subgroupShuffleXor(o[r][k], mask);
    }
  }
#else
  // Through shared memory, summing in column order (the same in every thread).
  const uint first = flat_id - col * D_SPLIT;  // column 0 of this thread's d_lane
  [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
    barrier();
    merge_scratch[flat_id] = vec4(m[r], l[r], 0.0, 0.0);
    barrier();
    float merged = SCORE_FLOOR;
    [[unroll]] for (uint t = 0u; t < COL_THREADS; ++t) merged = max(merged, merge_scratch[first + t * D_SPLIT].x);
    float sum = 0.0;
    [[unroll]] for (uint t = 0u; t < COL_THREADS; ++t) {
      const vec2 ml = merge_scratch[first + t * D_SPLIT].xy;
      sum += ml.y * exp(ml.x - merged);
    }
    const float w = exp(m[r] - merged);
    m[r] = merged;
    l[r] = sum;
    [[unroll]] for (uint k = 0u; k < V_CHUNKS; ++k) {
      barrier();
      merge_scratch[flat_id] = o[r][k] * w;
      barrier();
      vec4 total = vec4(0.0);
      [[unroll]] for (uint t = 0u; t < COL_THREADS; ++t) total += merge_scratch[first + t * D_SPLIT];
      o[r][k] = total;
    }
  }
#endif
}

uint thread_index() {
#if USE_SUBGROUPS
  // Whole subgroups are guaranteed by the plan (full subgroups or a fixed
  // size dividing WG), so this enumerates 0..WG-1 with each subgroup's
  // threads consecutive: a team's threads share a subgroup.
  return gl_SubgroupID * gl_SubgroupSize + gl_SubgroupInvocationID;
#else
  return gl_LocalInvocationIndex;
#endif
}

void main() {
  flat_id = thread_index();
  d_lane = flat_id % D_SPLIT;
  col = (flat_id / D_SPLIT) % COL_THREADS;
  team = flat_id / TEAM;

  const uint block = gl_WorkGroupID.x + pc.block_base;
  kv_head = gl_WorkGroupID.y + pc.head_base;
  b = gl_WorkGroupID.z / P.split.x;
  const uint split = gl_WorkGroupID.z % P.split.x;
  const uint group = P.sizes.y;
  const uint q_len = P.sizes.z;  // the Q/O views' rows (state records are laid out by it)
  sequence_queries = int(query_count(b, HAS_Q_LENS));
  const uint rows = group * uint(sequence_queries);
  const uint row0 = block * BR;
  if (row0 >= rows) return;  // the whole workgroup leaves together (also past a ragged sequence's rows)
  const uint row_last = min(row0 + BR, rows) - 1u;
  pos_first = row0 / group;
  pos_last = row_last / group;

  // The workgroup's keys, within this split and chunk [lo, hi): those the
  // windows of its rows leave (one interval: ranges grow with the
  // position), then the global keys below them (the keys in between are
  // skipped); and the keys every row sees.
  const int L = HAS_KV_LENS ? int(kv_lens[uint(P.masking.w) + b]) : int(P.sizes.w);
  const ivec2 first_range = key_range(int(row0 / group), L);
  const ivec2 last_range = key_range(int(row_last / group), L);
  const int split_first = SPLIT ? int(split * P.split.y) : 0;
  int lo = 0;
  int hi = L;
  if (SPLIT) {
    lo = split_first;
    hi = min(hi, split_first + int(P.split.y));
  }
  if (pc.chunk_keys != 0u) {
    lo = max(lo, split_first + int(pc.chunk * pc.chunk_keys));
    hi = min(hi, split_first + int((pc.chunk + 1u) * pc.chunk_keys));
  }
  const int key_begin = max(first_range.x, lo);
  const int window_end = min(last_range.y, hi);
  const int global_last = min(min(global_end(int(row_last / group), L), first_range.x), hi);
  const bool resume = pc.chunk > 0u;                                // state comes from the previous chunk
  const bool keep_state = SPLIT || pc.chunk + 1u < pc.chunk_count;  // unnormalised (O, m, l) out

  // This thread's rows: Q chunks pre-scaled, state empty or resumed (into
  // column 0; the other columns start empty and are merged in at the end).
  #define STATE_RECORD(r) state_record(split, b * P.split.w + q_head_of[r], pos_of[r], q_len, DV)
  [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
    const uint row_unclamped = row0 + team * ROWS + r;
    valid[r] = row_unclamped < rows;
    const uint row = min(row_unclamped, row_last);
    pos_of[r] = row / group;
    q_head_of[r] = kv_head * group + row % group;
    range_of[r] = key_range(int(pos_of[r]), L);
    global_of[r] = global_end(int(pos_of[r]), L);
    diagonal_row[r] = diagonal_of(int(pos_of[r]), L);
    const uint q_base = query_row_index(P.q_view, b, q_head_of[r], pos_of[r], PACKED_Q);
    [[unroll]] for (uint k = 0u; k < K_CHUNKS; ++k) {
      vec4 value = vec4(0.0);
      [[unroll]] for (uint e = 0u; e < 4u; ++e) {
        const uint d = 4u * k_chunk_of(k) + e;
        if (d < DQK) value[e] = query_element(q_base, d, ROPE_NEOX, ROPE_GPTJ, L - sequence_queries + int(pos_of[r]));
      }
#if FP16_MATH
      q[r][k] = f16vec4(value);  // exact: the values are f16
#else
      q[r][k] = value * P.scaling.x;
#endif
    }
    m[r] = SCORE_FLOOR;
    l[r] = 0.0;
    [[unroll]] for (uint k = 0u; k < V_CHUNKS; ++k) o[r][k] = vec4(0.0);
    if (resume && col == 0u) {
      const uint record = STATE_RECORD(r);
      m[r] = partial_data[record + DV];
      l[r] = partial_data[record + DV + 1u];
      [[unroll]] for (uint k = 0u; k < V_CHUNKS; ++k) {
        [[unroll]] for (uint e = 0u; e < 4u; ++e) {
          const uint d = 4u * v_chunk_of(k) + e;
          if (d < DV) o[r][k][e] = partial_data[record + d];
        }
      }
    }
  }

  // Window tiles start at key_begin. Interior tiles [t_first, t_end) lie
  // inside the keys every row sees; the others (before, after, or all of
  // them when masks or a block mask are bound) are checked.
  key_end = window_end;
  const int tiles = key_end > key_begin ? (key_end - key_begin + int(BC) - 1) / int(BC) : 0;
  int t_first = tiles;
  int t_end = tiles;
  if (!HAS_BOOL_MASK && !HAS_ADDITIVE_MASK && !HAS_BLOCK_MASK) {
    const int seen_first = last_range.x;                  // the largest first key of the rows
    const int seen_end = min(first_range.y, key_end);     // the smallest end
    t_first = clamp((seen_first - key_begin + int(BC) - 1) / int(BC), 0, tiles);
    if (seen_first <= key_begin) t_first = 0;
    t_end = seen_end > key_begin ? clamp((seen_end - key_begin) / int(BC), t_first, tiles) : t_first;
  }
  for (int t = t_first; t < t_end; ++t) process_tile(key_begin + t * int(BC), false);
  const int checked = t_first + (tiles - t_end);
  for (int u = 0; u < checked; ++u) {
    const int t = u < t_first ? u : u - t_first + t_end;
    process_tile(key_begin + t * int(BC), true);
  }
  // Then the global keys below the windows, every tile checked. (After
  // the window tiles: the interior loop stays the first key loop, the one
  // the shader report measures.)
  key_end = global_last;
  for (int j0 = lo; j0 < global_last; j0 += int(BC)) process_tile(j0, true);

  merge_columns();

  // Store: every thread of a team holds its rows' results; column c
  // stores the chunks k with k % COL_THREADS == c.
  [[unroll]] for (uint r = 0u; r < ROWS; ++r) {
    if (!valid[r]) continue;
    const bool row_leader = col == 0u && d_lane == 0u;
    if (keep_state) {
      const uint record = STATE_RECORD(r);
      [[unroll]] for (uint k = 0u; k < V_CHUNKS; ++k) {
        if (k % COL_THREADS != col) continue;
        [[unroll]] for (uint e = 0u; e < 4u; ++e) {
          const uint d = 4u * v_chunk_of(k) + e;
          if (d < DV) partial_data[record + d] = o[r][k][e];
        }
      }
      if (row_leader) {
        partial_data[record + DV] = m[r];
        partial_data[record + DV + 1u] = l[r];
      }
    } else {
      const float sink_factor = HAS_SINKS ? add_sink(m[r], l[r], q_head_of[r]) : 1.0;
      const float factor = output_factor(l[r]) * sink_factor;
      const uint base = query_row_index(P.o_view, b, q_head_of[r], pos_of[r], PACKED_Q);
      [[unroll]] for (uint k = 0u; k < V_CHUNKS; ++k) {
        if (k % COL_THREADS != col || v_chunk_of(k) >= DV4) continue;
        const vec4 value = o[r][k] * factor;
        if (O_VEC4) {
          o_store4(base + 4u * v_chunk_of(k), value);
        } else {
          [[unroll]] for (uint e = 0u; e < 4u; ++e) {
            const uint d = 4u * v_chunk_of(k) + e;
            if (d < DV) o_store(base + d, value[e]);
          }
        }
      }
      if (HAS_LSE && row_leader) {
        lse_data[query_row_index(P.lse_view, b, q_head_of[r], pos_of[r], PACKED_Q)] =
            row_lse(m[r], l[r]);
      }
    }
  }
}
