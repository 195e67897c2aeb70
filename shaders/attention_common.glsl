// Shared by flash_attn.comp and flash_attn_reduce.comp: the parameter block,
// the bindings (one descriptor set layout for both), and the visibility rule.
//
// Build-time defines (one SPIR-V module each, see shaders/CMakeLists.txt):
//   STORAGE_F16   Q, K, V and O are float16_t (needs 16-bit storage)
//   USE_SUBGROUPS the softmax step may reduce with clustered subgroup ops
// Everything else is a specialization constant or a parameter.

#if STORAGE_F16
#extension GL_EXT_shader_16bit_storage : require
#define STORAGE_T float16_t
#else
#define STORAGE_T float
#endif

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
  uvec4 mask_cols;   // x: additive mask column stride, y: boolean mask column stride
  uvec4 sizes;       // x: batches in slice, y: group (q heads per kv head), z: q_len, w: kv_len
  ivec4 masking;     // x: causal (0 none, 1 bottom-right, 2 top-left), y: window_left, z: window_right (-1 = unbounded), w: first batch of the slice
  uvec4 split;       // x: kv splits, y: keys per split, z: rows per slice (batches * q heads * q_len), w: q heads in slice
  vec4 scaling;      // x: softmax scale
} P;

// Per dispatch. Long key ranges may be walked in chunks of chunk_keys keys,
// one dispatch each, carrying every row's (O, m, l) in the Partials buffer
// from one chunk to the next (devices that cap loop iterations need it).
layout(push_constant) uniform Dispatch {
  uint block_base;   // first workgroup index along x of this dispatch
  uint chunk;        // index of this dispatch's key chunk
  uint chunk_keys;   // keys per chunk; 0 = a single chunk covers all keys
  uint chunk_count;
} pc;

layout(std430, set = 0, binding = 1) readonly buffer QBuffer { STORAGE_T q_data[]; };
layout(std430, set = 0, binding = 2) readonly buffer KBuffer { STORAGE_T k_data[]; };
layout(std430, set = 0, binding = 3) readonly buffer VBuffer { STORAGE_T v_data[]; };
layout(std430, set = 0, binding = 4) writeonly buffer OBuffer { STORAGE_T o_data[]; };
layout(std430, set = 0, binding = 5) writeonly buffer LseBuffer { float lse_data[]; };
layout(std430, set = 0, binding = 6) readonly buffer AdditiveMask { float amask_data[]; };
layout(std430, set = 0, binding = 7) readonly buffer BoolMask { uint bmask_words[]; };  // bytes, read by word
layout(std430, set = 0, binding = 8) readonly buffer KvLens { uint kv_lens[]; };
layout(std430, set = 0, binding = 9) buffer Partials { float partial_data[]; };  // split-KV (O, m, l) per row

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
  const int diagonal = P.masking.x == 2 ? i : i + (L - int(P.sizes.z));
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
