// Shared by every attention shader: the parameter block, the bindings (one
// descriptor set layout for all), element access to the tensors, the
// visibility rule and the NaN/Inf tests.
//
// Build-time defines (one SPIR-V module each, see shaders/CMakeLists.txt):
//   STORAGE_F16   Q, K, V and O hold IEEE binary16 values
//   USE_SUBGROUPS the shader may use subgroup operations
//   FP16_MATH     flash_attn.comp computes P.V in f16 (needs shaderFloat16)
// Everything else is a specialization constant or a parameter; among them
// the storage of K and V (ids 8 and 9): as Q and O, or llama.cpp's q8_0 /
// q4_0 blocks, read as 32-bit words and dequantized exactly (code * d).
//
// f16 tensors are read and written as 32-bit words holding two halves
// (element e is half e & 1 of word e >> 1, low half first), converted with
// unpackHalf2x16 / packHalf2x16. No 16-bit storage feature is needed, so f16
// works on every Vulkan device, and a word (or uvec2 of four halves) is one
// load where 16-bit storage would issue two.

#ifndef FP16_MATH
#define FP16_MATH 0
#endif

// Bits of the FLAGS specialization constant (id 7); mirrors ShaderFlags in
// runtime/vulkan/plan_layout.h.
const uint FLAG_ADDITIVE_MASK = 1u;
const uint FLAG_BOOL_MASK = 2u;
const uint FLAG_KV_LENS = 4u;
const uint FLAG_LSE = 8u;
const uint FLAG_SPLIT = 16u;
const uint FLAG_STAGED = 32u;     // flash_attn.comp: K/V tiles through shared memory
const uint FLAG_KV_VEC4 = 64u;    // K and V rows start at multiples of 4 elements, head dims multiples of 4
const uint FLAG_O_VEC4 = 128u;    // O rows start at multiples of 4 elements, v_dim a multiple of 4
const uint FLAG_STATE_IN = 256u;  // flash_attn_lanes.comp: resume from the previous chunk's (O, m, l)
const uint FLAG_STATE_OUT = 512u; // flash_attn_lanes.comp: write (O, m, l) for the next chunk or the reduce pass
const uint FLAG_SOFTCAP = 1024u;  // logits soft-capped at P.scaling.y
const uint FLAG_ALIBI = 2048u;    // ALiBi slopes in head_data[0, q_heads)
const uint FLAG_SINKS = 4096u;    // sink logits in head_data[q_heads, 2 q_heads)
const uint FLAG_ROPE_NEOX = 8192u;  // Q turned by RoPE (NeoX pairs), frequencies in head_words[2 q_heads, ...)
const uint FLAG_ROPE_GPTJ = 16384u; // likewise, GPT-J pairs
const uint FLAG_Q_LENS = 32768u;    // ragged batches: query lengths in kv_lens[P.mask_cols.w, ...)
const uint FLAG_PACKED_Q = 65536u;  // packed queries: first packed rows in kv_lens[2 P.mask_cols.w, ...)
const uint FLAG_BLOCK_MASK = 131072u;       // block-sparse: block mask bytes in head_words from P.blocks.x
const uint FLAG_BLOCK_PER_BATCH = 262144u;  // block-sparse: a mask per batch (else shared)
const uint FLAG_BLOCK_PER_HEAD = 524288u;   // block-sparse: a mask per query head (else shared)
const uint FLAG_TOPK_ATTEND = 1048576u;     // topk_attn.comp: the attention pipeline (else the selection)

// Per-slice parameters, written once at plan creation. Every element offset
// and stride is relative to the binding's window (see runtime/vulkan/), so
// all indices fit in 32 bits.
layout(std140, set = 0, binding = 0) uniform Params {
  uvec4 q_view;      // offset, batch stride, head stride, seq stride (elements)
  uvec4 k_view;
  uvec4 v_view;
  uvec4 o_view;
  uvec4 lse_view;
  uvec4 amask_view;  // offset, batch, head, row stride (elements)
  uvec4 bmask_view;  // offset, batch, head, row stride (bytes)
  uvec4 mask_cols;   // x: additive mask column stride, y: boolean mask column stride, z: block-table row length (paged), w: batch (where the query lengths start)
  uvec4 sizes;       // x: batches in slice, y: group (q heads per kv head), z: q_len, w: kv_len
  ivec4 masking;     // x: causal (0 none, 1 bottom-right, 2 top-left), y: window_left, z: window_right (-1 = unbounded), w: first batch of the slice
  uvec4 split;       // x: kv splits, y: keys per split, z: rows per slice (batches * q heads * q_len), w: q heads in slice
  vec4 scaling;      // x: softmax scale, y: softcap (0 = off)
  uvec4 heads;       // x: first query head of the slice (of all q_heads), y: q_heads, z: global keys (<= kv_len), w: RoPE dims
  uvec4 blocks;      // block-sparse: x: word of the block mask in head_words, y: word of its kv-head unions, z: key blocks, w: query blocks
} P;

// Per dispatch. Long key ranges may be walked in chunks of chunk_keys keys,
// one dispatch each, carrying every row's (O, m, l) in the Partials buffer
// from one chunk to the next (devices that cap loop iterations need it).
layout(push_constant) uniform Dispatch {
  uint block_base;   // first workgroup index along x of this dispatch (row block)
  uint chunk;        // index of this dispatch's key chunk
  uint chunk_keys;   // keys per chunk; 0 = a single chunk covers all keys
  uint chunk_count;
  uint head_base;    // first workgroup index along y of this dispatch (kv head within the slice)
  uint batch_base;   // first workgroup index along z of this dispatch (batch within the slice; topk_attn.comp)
} pc;

layout(std430, set = 0, binding = 5) writeonly buffer LseBuffer { float lse_data[]; };
layout(std430, set = 0, binding = 6) readonly buffer AdditiveMask { float amask_data[]; };
layout(std430, set = 0, binding = 7) readonly buffer BoolMask { uint bmask_words[]; };  // bytes, read by word
layout(std430, set = 0, binding = 8) readonly buffer KvLens { uint kv_lens[]; };  // key lengths [batch], query lengths [batch], first packed rows [batch]
layout(std430, set = 0, binding = 9) buffer Partials { float partial_data[]; };  // split-KV (O, m, l) per row
// Per query head (of all q_heads): ALiBi slopes, then sink logits; then
// the RoPE frequencies (runtime/rope.h), two words per pair.
layout(std430, set = 0, binding = 10) readonly buffer HeadConstants { float head_data[]; };
layout(std430, set = 0, binding = 10) readonly buffer HeadConstantWords { uint head_words[]; };

#include "rope.glsl"

// K and V storage (runtime/vulkan/plan_layout.h, KvStorage): 0 = as Q and
// O, 1 = q8_0 blocks, 2 = q4_0 blocks. Block-typed views count bytes.
layout(constant_id = 8) const uint K_STORAGE = 0u;
layout(constant_id = 9) const uint V_STORAGE = 0u;
const uint STORAGE_Q8_0 = 1u;
const uint STORAGE_Q4_0 = 2u;
const bool K_BLOCKS = K_STORAGE != 0u;
const bool V_BLOCKS = V_STORAGE != 0u;
layout(std430, set = 0, binding = 2) readonly buffer KBlocks { uint k_block_words[]; };
layout(std430, set = 0, binding = 3) readonly buffer VBlocks { uint v_block_words[]; };

uint block_word(const bool of_v, uint index) { return of_v ? v_block_words[index] : k_block_words[index]; }

// The 4 bytes at even byte address `byte` (blocks are 34 or 18 bytes, so
// their fields are 2-byte aligned): one word, or the halves of two (which
// then both hold bytes of the same row, inside the binding window).
uint block_bytes4(const bool of_v, uint byte) {
  // Both words are requested without a branch (a branch made every load
  // wait for the one before it); the second is clamped into the binding,
  // where it is only used when the bytes do straddle two words.
  const uint last = uint(of_v ? v_block_words.length() : k_block_words.length()) - 1u;
  const uint low = block_word(of_v, byte >> 2u);
  const uint high = block_word(of_v, min((byte >> 2u) + 1u, last));
  return (byte & 2u) == 0u ? low : (low >> 16u) | (high << 16u);
}

// Values [e, e + 4) (e a multiple of 4) of the block-typed row starting at
// byte `row`: code * d exactly as llama.cpp computes it (one f32 rounding).
// q8_0: f16 d, int8 codes 0..31. q4_0: f16 d, byte i = code i | code i+16 << 4.
vec4 block_chunk(const bool of_v, uint storage, uint row, uint e) {
  const uint block = row + (e >> 5u) * (storage == STORAGE_Q8_0 ? 34u : 18u);
  const float d = unpackHalf2x16(block_word(of_v, block >> 2u) >> ((block & 2u) << 3u)).x;
  if (storage == STORAGE_Q8_0) {
    const int codes = int(block_bytes4(of_v, block + 2u + (e & 31u)));
    return vec4(bitfieldExtract(codes, 0, 8), bitfieldExtract(codes, 8, 8), bitfieldExtract(codes, 16, 8),
                bitfieldExtract(codes, 24, 8)) * d;
  }
  const uint codes = block_bytes4(of_v, block + 2u + (e & 15u)) >> ((e & 16u) >> 2u);  // high nibbles: values 16..31
  return (vec4(codes & 15u, (codes >> 8u) & 15u, (codes >> 16u) & 15u, (codes >> 24u) & 15u) - 8.0) * d;
}
vec4 k_block_chunk(uint row, uint e) { return block_chunk(false, K_STORAGE, row, e); }
vec4 v_block_chunk(uint row, uint e) { return block_chunk(true, V_STORAGE, row, e); }

// The n chunks of values [e, e + 4n) of the block-typed row at byte `row`
// into run[0 .. n), the same values as n block_chunk calls: n is 2, 4 or 8
// and e a multiple of 4n, so the run lies in one block (and for q4_0 with
// n < 8 in one half of it). The scale is read once and the codes as the
// whole words that cover them, requested together: n + 1 words for q8_0,
// at most 5 for q4_0 (a whole block's 16 code bytes serve n = 8), where
// block_chunk reads 3 words per chunk.
void block_run(const bool of_v, uint storage, uint row, uint e, uint n, out vec4 run[8]) {
  const bool q8 = storage == STORAGE_Q8_0;
  const uint block = row + (e >> 5u) * (q8 ? 34u : 18u);
  const float d = unpackHalf2x16(block_word(of_v, block >> 2u) >> ((block & 2u) << 3u)).x;
  // Code bytes [first, first + count): the run's (q8_0), or the low or
  // high nibbles' bytes of its half, or all 16 (q4_0).
  const uint first = block + 2u + (q8 ? (e & 31u) : (n == 8u ? 0u : (e & 15u)));
  const uint count = q8 || n < 8u ? 4u * n : 16u;
  // Words word_first .. + count/4 - 1 always hold bytes of the run
  // (consecutive, so the compiler may merge them into wide loads); one more
  // holds its last bytes when they start at a half word (else the last is
  // read again).
  const uint word_first = first >> 2u, word_last = (first + count - 1u) >> 2u;
  uint words[9];
  [[unroll]] for (uint i = 0u; i < count / 4u; ++i) words[i] = block_word(of_v, word_first + i);
  words[count / 4u] = block_word(of_v, word_last);
  // (first is even: the bytes start at a word or at its upper half.)
  uint codes[8];
  [[unroll]] for (uint j = 0u; j < count / 4u; ++j) {
    codes[j] = (first & 2u) == 0u ? words[j] : (words[j] >> 16u) | (words[j + 1u] << 16u);
  }
  if (q8) {
    [[unroll]] for (uint j = 0u; j < n; ++j) {
      const int c = int(codes[j]);
      run[j] = vec4(bitfieldExtract(c, 0, 8), bitfieldExtract(c, 8, 8), bitfieldExtract(c, 16, 8),
                    bitfieldExtract(c, 24, 8)) * d;
    }
  } else {
    [[unroll]] for (uint j = 0u; j < n; ++j) {
      // Chunk j: the low nibbles of code word j % 4 (values 0..15), or the high ones.
      const uint high = n == 8u ? j / 4u : (e & 16u) >> 4u;
      const uint c = codes[j % 4u] >> (4u * high);
      run[j] = (vec4(c & 15u, (c >> 8u) & 15u, (c >> 16u) & 15u, (c >> 24u) & 15u) - 8.0) * d;
    }
  }
}

// Paged K/V (runtime/vulkan/, kSpecPageSize): keys per page, 0 when K and
// V are contiguous; the block table [batch, max_pages] (row length in
// P.mask_cols.z) names each sequence's pages.
layout(constant_id = 10) const uint PAGE_SIZE = 0u;
const bool PAGED = PAGE_SIZE != 0u;
layout(std430, set = 0, binding = 11) readonly buffer BlockTable { int block_table[]; };

// Where the row of key j of the slice's batch b and kv head `kv_head`
// starts in the K or V view `view` (offset, batch or page stride, head
// stride, row stride): in the batch, or in the page the block table names
// for it. The plan checked every table entry a key below the sequence's
// length can reach; callers pass only such keys.
uint key_row_offset(uvec4 view, uint b, uint kv_head, uint j) {
  if (!PAGED) return view.x + b * view.y + kv_head * view.z + j * view.w;
  const uint page = uint(block_table[(uint(P.masking.w) + b) * P.mask_cols.z + j / PAGE_SIZE]);
  return view.x + page * view.y + kv_head * view.z + (j % PAGE_SIZE) * view.w;
}

#if STORAGE_F16
layout(std430, set = 0, binding = 1) readonly buffer QWords { uint q_words[]; };
layout(std430, set = 0, binding = 2) readonly buffer KWords { uint k_words[]; };
layout(std430, set = 0, binding = 2) readonly buffer KWords2 { uvec2 k_words2[]; };
layout(std430, set = 0, binding = 3) readonly buffer VWords { uint v_words[]; };
layout(std430, set = 0, binding = 3) readonly buffer VWords2 { uvec2 v_words2[]; };
// Not writeonly: a single half is written with atomics on its word (the
// other half may belong to another row, another thread or to no view at all).
layout(std430, set = 0, binding = 4) buffer OWords { uint o_words[]; };
layout(std430, set = 0, binding = 4) writeonly buffer OWords2 { uvec2 o_words2[]; };

float half_of(uint word, uint e) { return unpackHalf2x16(word >> ((e & 1u) << 4u)).x; }
vec4 halves4(uvec2 words) { return vec4(unpackHalf2x16(words.x), unpackHalf2x16(words.y)); }

float q_element(uint e) { return half_of(q_words[e >> 1u], e); }
float k_element(uint e) { return half_of(k_words[e >> 1u], e); }
float v_element(uint e) { return half_of(v_words[e >> 1u], e); }
// Elements [e, e + 4) where e is a multiple of 4.
vec4 k_vec4(uint e) { return halves4(k_words2[e >> 2u]); }
vec4 v_vec4(uint e) { return halves4(v_words2[e >> 2u]); }

// Replaces half e & 1 of word e >> 1 and nothing else. The two atomics are
// not one step, but each touches only this half's bits, so writers of the
// other half (this dispatch's or nobody's) are never disturbed.
void o_store(uint e, float value) {
  const uint shift = (e & 1u) << 4u;
  const uint bits = packHalf2x16(vec2(value, 0.0)) & 0xffffu;
  atomicAnd(o_words[e >> 1u], ~(0xffffu << shift));
  atomicOr(o_words[e >> 1u], bits << shift);
}
// Elements [e, e + 4) where e is a multiple of 4 (whole words: no atomics).
void o_store4(uint e, vec4 value) { o_words2[e >> 2u] = uvec2(packHalf2x16(value.xy), packHalf2x16(value.zw)); }
#else
layout(std430, set = 0, binding = 1) readonly buffer QBuffer { float q_data[]; };
layout(std430, set = 0, binding = 2) readonly buffer KBuffer { float k_data[]; };
layout(std430, set = 0, binding = 2) readonly buffer KBuffer4 { vec4 k_data4[]; };
layout(std430, set = 0, binding = 3) readonly buffer VBuffer { float v_data[]; };
layout(std430, set = 0, binding = 3) readonly buffer VBuffer4 { vec4 v_data4[]; };
layout(std430, set = 0, binding = 4) writeonly buffer OBuffer { float o_data[]; };
layout(std430, set = 0, binding = 4) writeonly buffer OBuffer4 { vec4 o_data4[]; };

float q_element(uint e) { return q_data[e]; }
float k_element(uint e) { return k_data[e]; }
float v_element(uint e) { return v_data[e]; }
vec4 k_vec4(uint e) { return k_data4[e >> 2u]; }
vec4 v_vec4(uint e) { return v_data4[e >> 2u]; }
void o_store(uint e, float value) { o_data[e] = value; }
void o_store4(uint e, vec4 value) { o_data4[e >> 2u] = value; }
#endif

// Elements [4 * d4, 4 * d4 + 4) of the K (of_v false) or V row at `base`,
// whatever their storage: q8_0 / q4_0 blocks (dims a multiple of 32),
// whole vec4s (vec4_rows: rows start at multiples of 4 elements, dims a
// multiple of 4), or element by element, those at or past `dims` read as 0
// without a load. Callers unroll over d4, so no branch remains.
vec4 kv_row4(const bool of_v, uint base, uint d4, uint dims, const bool vec4_rows) {
  if (of_v ? V_BLOCKS : K_BLOCKS) return of_v ? v_block_chunk(base, 4u * d4) : k_block_chunk(base, 4u * d4);
  if (vec4_rows) return of_v ? v_vec4(base + 4u * d4) : k_vec4(base + 4u * d4);
  vec4 value = vec4(0.0);
  [[unroll]] for (uint e = 0u; e < 4u; ++e) {
    if (4u * d4 + e < dims) value[e] = of_v ? v_element(base + 4u * d4 + e) : k_element(base + 4u * d4 + e);
  }
  return value;
}

// Element d of the Q row at element q_base, turned by RoPE (neox or
// gptj: the FLAGS bits) to query position `position`: rotated from its
// own value and its pair partner's; dimensions from P.heads.w up as stored.
float query_element(uint q_base, uint d, bool neox, bool gptj, int position) {
  const float x = q_element(q_base + d);
  if (!(neox || gptj) || d >= P.heads.w) return x;
  uint p, partner;
  float sign;
  rope_pair(neox, P.heads.w, d, p, partner, sign);
  const uint table = 2u * P.heads.y + 2u * p;
  const vec2 cs = rope_cos_sin(position, head_words[table], head_words[table + 1u]);
  return x * cs.x + sign * q_element(q_base + partner) * cs.y;
}

// Block-sparse attention: blocks of 2^BLOCK_Q_SHIFT queries and
// 2^BLOCK_K_SHIFT keys; the block mask [batch|1, q_heads|1, query blocks,
// key blocks] as bytes in head_words from word P.blocks.x (nonzero =
// visible), and from word P.blocks.y its unions over each kv head's query
// heads, [batch|1, kv_heads|1, query blocks, key blocks] (the mask itself
// when it is shared by the heads), which kernels test to skip key tiles.
layout(constant_id = 11) const uint BLOCK_SHIFTS = 0u;  // log2(block_q) | log2(block_k) << 8
const uint BLOCK_Q_SHIFT = BLOCK_SHIFTS & 0xffu;
const uint BLOCK_K_SHIFT = BLOCK_SHIFTS >> 8u;

bool block_byte(uint word, uint e) { return ((head_words[word + (e >> 2u)] >> ((e & 3u) * 8u)) & 0xffu) != 0u; }

// Whether query row i (the sequence's own) of query head q_head (within
// the slice) of the slice's batch b sees key j's block.
bool block_allows(uint b, uint q_head, uint i, uint j, bool per_batch, bool per_head) {
  const uint mb = per_batch ? uint(P.masking.w) + b : 0u;
  const uint heads = per_head ? P.heads.y : 1u;
  const uint mh = per_head ? P.heads.x + q_head : 0u;
  return block_byte(P.blocks.x, ((mb * heads + mh) * P.blocks.w + (i >> BLOCK_Q_SHIFT)) * P.blocks.z + (j >> BLOCK_K_SHIFT));
}

// Whether some query head of kv head kv_head (within the slice) of the
// slice's batch b sees key block kb from query block qb (the unions).
bool group_sees_block(uint b, uint kv_head, uint group, uint qb, uint kb, bool per_batch, bool per_head) {
  const uint mb = per_batch ? uint(P.masking.w) + b : 0u;
  const uint kv_heads = per_head ? P.heads.y / group : 1u;
  const uint kvh = per_head ? P.heads.x / group + kv_head : 0u;
  return block_byte(P.blocks.y, ((mb * kv_heads + kvh) * P.blocks.w + qb) * P.blocks.z + kb);
}

// NaN and Inf tests on the bit pattern. Without the SignedZeroInfNanPreserve
// execution mode a GPU compiler may assume no float is NaN or Inf and fold
// isnan()/isinf() to false; integer tests on the bits cannot be folded, and
// the guarantees about NaN propagation, -inf masks and hidden NaN values
// rest on them.
bool is_nan(float x) { return (floatBitsToUint(x) & 0x7fffffffu) > 0x7f800000u; }
bool is_nonfinite(float x) { return (floatBitsToUint(x) & 0x7f800000u) == 0x7f800000u; }
bool is_negative_inf(float x) { return floatBitsToUint(x) == 0xff800000u; }
#define NAN_VALUE uintBitsToFloat(0x7fc00000u)
#define NEGATIVE_INF uintBitsToFloat(0xff800000u)

// The special values are handled explicitly, never left to exp() or log():
// drivers need not return IEEE results for them (SwiftShader's exp and log
// of NaN and infinities do not).
// A visible logit that makes its row NaN: NaN, or +inf (inf - inf in IEEE).
bool poisons_row(float s) { return is_nan(s) || floatBitsToUint(s) == 0x7f800000u; }
// The softmax weight of a visible logit s against the running maximum
// m >= s: exactly 0 for s = -inf.
float softmax_weight(float s, float m) { return is_negative_inf(s) ? 0.0 : exp(s - m); }
// A finished row with running maximum m and sum l: the factor its
// unnormalised O is multiplied by, and its LSE. l = 0: the row saw no key
// (zeros, LSE -inf); l NaN: NaN.
float output_factor(float l) { return is_nan(l) ? NAN_VALUE : (l > 0.0 ? 1.0 / l : 0.0); }
float row_lse(float m, float l) { return is_nan(l) ? NAN_VALUE : (l > 0.0 ? m + log(l) : NEGATIVE_INF); }

// The logit of a score s = scale * q.k for query head `q_head` (within the
// slice) at aligned position `diagonal` and key j: soft-capped
// (cap * tanh(s / cap), computed from exp(-2|x|) so that it cannot
// overflow; NaN stays NaN, +-inf become +-cap), then ALiBi-biased.
float shaped_logit(float s, bool softcap, bool alibi, uint q_head, int diagonal, int j) {
  if (softcap && !is_nan(s)) {
    const float cap = P.scaling.y;
    const float x = s / cap;
    float t = 1.0;  // tanh(|x|); exactly 1 where exp(-2|x|) underflows and for infinities
    if (!is_nonfinite(x) && abs(x) < 40.0) {
      const float e = exp(-2.0 * abs(x));
      t = (1.0 - e) / (1.0 + e);
    }
    s = cap * (x < 0.0 ? -t : t);
  }
  if (alibi) s -= head_data[P.heads.x + q_head] * float(abs(diagonal - j));
  return s;
}

// The boolean mask's byte and the additive mask's entry for query row i
// (the sequence's own) of query head q_head (within the slice) of the
// slice's batch b and key j.
bool bool_mask_allows(uint b, uint q_head, uint i, uint j) {
  const uint index = P.bmask_view.x + b * P.bmask_view.y + q_head * P.bmask_view.z + i * P.bmask_view.w +
                     j * P.mask_cols.y;
  return ((bmask_words[index >> 2] >> ((index & 3u) * 8u)) & 0xffu) != 0u;
}

float additive_mask(uint b, uint q_head, uint i, uint j) {
  return amask_data[P.amask_view.x + b * P.amask_view.y + q_head * P.amask_view.z + i * P.amask_view.w +
                    j * P.mask_cols.x];
}

// Turns the score s = scale * q.k of key j into its logit for query row
// `pos` of query head q_head of the slice's batch b (softcap, ALiBi, the
// additive mask) and says whether the row sees the key: inside the
// segment being walked (in_segment), inside the row's key range or among
// its global keys, and allowed by the boolean mask, the block mask and the
// additive mask (-inf hides the key whatever its score). `flags` is the
// shader's FLAGS; masks are read at safe_j, a key inside the segment.
bool visible_logit(inout float s, const uint flags, uint b, uint q_head, uint pos, ivec2 range, int global_keys,
                   int diagonal, int j, uint safe_j, bool in_segment) {
  bool sees = in_segment && ((j >= range.x && j < range.y) || j < global_keys);
  const bool softcap = (flags & FLAG_SOFTCAP) != 0u, alibi = (flags & FLAG_ALIBI) != 0u;
  if (softcap || alibi) s = shaped_logit(s, softcap, alibi, q_head, diagonal, j);
  if ((flags & FLAG_BOOL_MASK) != 0u) sees = sees && bool_mask_allows(b, q_head, pos, safe_j);
  if ((flags & FLAG_BLOCK_MASK) != 0u) {
    sees = sees && block_allows(b, q_head, pos, safe_j, (flags & FLAG_BLOCK_PER_BATCH) != 0u,
                                (flags & FLAG_BLOCK_PER_HEAD) != 0u);
  }
  if ((flags & FLAG_ADDITIVE_MASK) != 0u) {
    const float add = additive_mask(b, q_head, pos, safe_j);
    sees = sees && !is_negative_inf(add);
    s += add;
  }
  return sees;
}

// Adds query head q_head's sink to a finished row (running maximum m, sum
// l): a new maximum and one more term of the denominator, without a value.
// Returns the factor the row's unnormalised O must be multiplied by. A row
// that saw no key (m at the floor, l = 0) gets l = 1 and m = sink; a NaN
// row stays NaN.
float add_sink(inout float m, inout float l, uint q_head) {
  if (is_nan(l)) return 1.0;
  const float sink = head_data[P.heads.y + P.heads.x + q_head];
  const float merged = max(m, sink);
  const float w = exp(m - merged);
  l = l * w + exp(sink - merged);
  m = merged;
  return w;
}

// The query rows of the slice's batch b: its q_lens entry (ragged batches)
// or q_len.
uint query_count(uint b, bool ragged) { return ragged ? kv_lens[P.mask_cols.w + uint(P.masking.w) + b] : P.sizes.z; }

// The element index of row i of query head h of the slice's batch b in the
// Q, O or LSE view `view` (offset, batch, head, seq strides): with packed
// queries row i of the sequence is packed row first + i, first its
// cu_seqlens_q entry (Problem::query_row). Callers pass rows below the
// sequence's query count only.
uint query_row_index(uvec4 view, uint b, uint h, uint i, bool packed) {
  const uint batch_term = packed ? kv_lens[2u * P.mask_cols.w + uint(P.masking.w) + b] * view.w : b * view.y;
  return view.x + batch_term + h * view.z + i * view.w;
}

// The query rows of the batch this invocation works on; every shader sets
// it first thing in main() (query_count), before any position is aligned.
int sequence_queries;

// The aligned position of query position i (Problem::diagonal).
int diagonal_of(int i, int L) { return P.masking.x == 2 ? i : i + (L - sequence_queries); }

// The end of the global keys [0, end) that query position i sees besides
// key_range(i, L): below P.heads.z, the length and (causal) the diagonal;
// the window does not apply to them. Mirrors Problem::global_range.
int global_end(int i, int L) {
  int end = min(int(P.heads.z), L);
  if (P.masking.x != 0) end = min(end, diagonal_of(i, L) + 1);
  return max(end, 0);
}

// The (O, m, l) record of one query row and key split in the Partials
// buffer: O (dv floats), m, l, padded to a multiple of 4 floats so that
// records can be written as vec4s. `head_row` is b * q_heads + q_head
// within the slice. Mirrors state_record_floats() in runtime/vulkan/.
uint state_stride(uint dv) { return (dv + 5u) & ~3u; }
uint state_record(uint split, uint head_row, uint i, uint q_len, uint dv) {
  return ((split * P.split.z) + head_row * q_len + i) * state_stride(dv);
}

// The running maximum starts at this finite floor: no -inf arithmetic ever.
const float SCORE_FLOOR = -3.402823466e+38;

// Keys [x, y) that causal, window and length masking leave to query
// position i when the batch's key length is L. Mirrors Problem::key_range.
ivec2 key_range(int i, int L) {
  const int diagonal = diagonal_of(i, L);
  int first = 0;
  int end = L;
  if (P.masking.x != 0) end = min(end, diagonal + 1);
  if (P.masking.z >= 0) end = min(end, diagonal + P.masking.z + 1);
  if (P.masking.y >= 0) first = max(first, diagonal - P.masking.y);
  // A window can start past the last key; an empty range stays inside [0, L]
  // so the union of several rows' ranges never reaches past the keys.
  first = min(first, L);
  return ivec2(first, max(end, first));
}
