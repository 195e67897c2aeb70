// Problem: a vkattn_attention_desc after validation, in the form every backend
// consumes. Everything a kernel needs to stay in bounds is derived here once
// (extents of each tensor view, the resolved scale, normalised windows), and
// the visibility rule for causal/window/length masking lives here so that all
// backends apply the same one.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "rope.h"
#include "status.h"
#include "vkattn.h"

namespace vkattn {

// Largest accepted batch, head count and sequence length. Keeps every index
// product of two sizes far from int64 overflow; buffers are checked exactly.
constexpr int64_t kMaxDimension = (int64_t{1} << 31) - 1;

// Keys per page of paged K/V, at most.
constexpr int64_t kMaxPageSize = 256;

size_t dtype_size(vkattn_dtype dtype);  // F32, F16 only
const char* dtype_name(vkattn_dtype dtype);

// A [batch, heads, seq, dim] view with dim contiguous, in elements (values;
// for block types every row starts at a multiple of 32, see quant.h).
struct TensorView {
  uint64_t offset = 0;
  uint64_t batch_stride = 0;
  uint64_t head_stride = 0;
  uint64_t seq_stride = 0;
  uint64_t extent = 0;  // one past the highest element index the view touches

  uint64_t row(int64_t b, int64_t h, int64_t s) const {
    return offset + static_cast<uint64_t>(b) * batch_stride + static_cast<uint64_t>(h) * head_stride +
           static_cast<uint64_t>(s) * seq_stride;
  }
};

// A [batch, q_heads, q_len, kv_len] mask view; strides may be 0 (broadcast).
struct MaskView {
  uint64_t offset = 0;
  uint64_t batch_stride = 0;
  uint64_t head_stride = 0;
  uint64_t row_stride = 0;
  uint64_t col_stride = 0;
  uint64_t extent = 0;

  uint64_t row(int64_t b, int64_t h, int64_t i) const {
    return offset + static_cast<uint64_t>(b) * batch_stride + static_cast<uint64_t>(h) * head_stride +
           static_cast<uint64_t>(i) * row_stride;
  }
};

// The keys [begin, end) that causal, window and length masking leave visible
// to one query row. Both ends are non-decreasing in the row index, which is
// what lets kernels skip whole key blocks.
struct KeyRange {
  int64_t begin = 0;
  int64_t end = 0;
  bool empty() const { return end <= begin; }
};

// The lengths of one sequence of a batch at execution: its keys (kv_lens[b]
// or kv_len) and its query rows (q_lens[b] or q_len; with packed queries,
// the difference of its cu_seqlens_q entries, which ExecArgs holds as
// q_lens).
struct SequenceLengths {
  int64_t keys = 0;
  int64_t queries = 0;
};

struct Problem {
  int64_t batch = 0;
  int64_t q_heads = 0;
  int64_t kv_heads = 0;
  int64_t q_len = 0;
  int64_t kv_len = 0;
  int64_t qk_dim = 0;
  int64_t v_dim = 0;
  vkattn_dtype dtype = VKATTN_DTYPE_F32;    // Q and O
  vkattn_dtype k_dtype = VKATTN_DTYPE_F32;  // K: dtype or a block type (quant.h)
  vkattn_dtype v_dtype = VKATTN_DTYPE_F32;  // V: likewise
  float scale = 0.0f;  // resolved: never 0
  vkattn_causal causal = VKATTN_CAUSAL_NONE;
  int64_t window_left = -1;   // -1 = unbounded (also when wider than any sequence)
  int64_t window_right = -1;
  int64_t global_keys = 0;    // keys [0, global_keys) ignore the window (clamped to kv_len)
  int64_t page_size = 0;      // > 0: K and V in page pools (views' batch axis = pages, seq axis = page rows)
  int64_t num_pages = 0;
  int64_t max_pages = 0;      // block-table row length
  bool has_additive_mask = false;
  bool has_bool_mask = false;
  bool has_kv_lens = false;
  bool has_lse = false;
  bool has_q_lens = false;          // ragged batches: q_lens[b] query rows per sequence
  int64_t packed_q_rows = 0;        // > 0: packed queries (Q, O, LSE views are [1, q_heads, packed_q_rows, dim])
  float softcap = 0.0f;             // > 0: logits soft-capped (Gemma 2)
  std::vector<float> alibi_slopes;  // [q_heads] ALiBi slopes, or empty
  std::vector<float> sinks;         // [q_heads] attention-sink logits, or empty
  Rope rope;                        // applied to Q at position L_b - Sq_b + i
  // The mode (vkattn_attention_mode). Linear attention: phi over
  // sqrt(scale) q and k, num_features features per row (ELU: qk_dim), and
  // for FAVOR+ the projection W [num_features, qk_dim].
  vkattn_attention_mode mode = VKATTN_MODE_EXACT;
  vkattn_feature_map feature_map = VKATTN_FEATURE_MAP_NONE;
  int64_t num_features = 0;
  std::vector<float> features;
  // Linformer: E and F, [proj_len, kv_len] or per kv head [kv_heads,
  // proj_len, kv_len] (proj_per_head); shared, not copied, by the
  // problems a plan derives (they may be large).
  int64_t proj_len = 0;
  bool proj_per_head = false;
  std::shared_ptr<const std::vector<float>> proj_e, proj_f;
  // Block-sparse: the block mask [block_mask_batch, block_mask_heads,
  // q_blocks, k_blocks] (nonzero = visible), blocks of 2^block_q_shift
  // queries and 2^block_k_shift keys; shared like E and F.
  int block_q_shift = 0, block_k_shift = 0;
  int64_t q_blocks = 0, k_blocks = 0;
  int64_t block_mask_batch = 0, block_mask_heads = 0;
  std::shared_ptr<const std::vector<uint8_t>> block_mask;
  // Top-k: the keys each row keeps (1..VKATTN_MAX_TOPK).
  int64_t topk = 0;

  TensorView q, k, v, out, lse;
  MaskView additive_mask, bool_mask;

  int64_t group() const { return q_heads / kv_heads; }
  bool linear() const { return mode == VKATTN_MODE_LINEAR; }
  bool linformer() const { return mode == VKATTN_MODE_LINFORMER; }
  bool block_sparse() const { return mode == VKATTN_MODE_BLOCK_SPARSE; }
  bool topk_mode() const { return mode == VKATTN_MODE_TOPK; }
  // Block-sparse: where the block-mask row of query row i (the sequence's
  // own) of (batch b, query head h) starts; k_blocks entries.
  uint64_t block_row(int64_t b, int64_t h, int64_t i) const {
    const uint64_t mb = block_mask_batch > 1 ? static_cast<uint64_t>(b) : 0;
    const uint64_t mh = block_mask_heads > 1 ? static_cast<uint64_t>(h) : 0;
    return ((mb * static_cast<uint64_t>(block_mask_heads) + mh) * static_cast<uint64_t>(q_blocks) +
            static_cast<uint64_t>(i >> block_q_shift)) *
           static_cast<uint64_t>(k_blocks);
  }
  // Linformer: where row p of E (or F) for kv head h starts.
  uint64_t projection_row(int64_t h, int64_t p) const {
    return (static_cast<uint64_t>(proj_per_head ? h : 0) * static_cast<uint64_t>(proj_len) +
            static_cast<uint64_t>(p)) * static_cast<uint64_t>(kv_len);
  }
  bool paged() const { return page_size > 0; }
  bool packed_queries() const { return packed_q_rows > 0; }
  // Per-sequence query counts at execution (q_lens, or from cu_seqlens_q).
  bool ragged() const { return has_q_lens || packed_queries(); }

  // Element index of query row i of (batch b, query head h) in the Q, O or
  // LSE view `view`: packed row q_starts[b] + i with packed queries (the
  // starts were checked at execution), else row i of batch b.
  uint64_t query_row(const TensorView& view, const int32_t* q_starts, int64_t b, int64_t h, int64_t i) const {
    if (!packed_queries()) return view.row(b, h, i);
    return view.row(0, h, q_starts[b] + i);
  }

  // Element index of key j of (batch b, kv head h) in the K or V view
  // `view`: through the block table (row b of [batch, max_pages]) when
  // paged. The table entries were checked at execution.
  uint64_t key_row(const TensorView& view, const int32_t* block_table, int64_t b, int64_t h, int64_t j) const {
    if (!paged()) return view.row(b, h, j);
    return view.row(block_table[b * max_pages + j / page_size], h, j % page_size);
  }
  size_t element_size() const { return dtype_size(dtype); }  // of Q and O

  // Sequence b's lengths; kv_lens and q_lens (checked) may be null.
  SequenceLengths sequence(const int32_t* kv_lens, const int32_t* q_lens, int64_t b) const {
    return SequenceLengths{kv_lens != nullptr ? kv_lens[b] : kv_len, q_lens != nullptr ? q_lens[b] : q_len};
  }

  // The aligned position of query row i of sequence s: the key the causal
  // diagonal, the window and ALiBi distances refer to.
  int64_t diagonal(int64_t i, const SequenceLengths& s) const {
    return causal == VKATTN_CAUSAL_TOP_LEFT ? i : i + (s.keys - s.queries);
  }

  // RoPE position of query row i of sequence s.
  static int64_t query_position(int64_t i, const SequenceLengths& s) { return s.keys - s.queries + i; }

  // Visible key interval of query row i of sequence s.
  KeyRange key_range(int64_t i, const SequenceLengths& s) const {
    const int64_t L = s.keys;
    const int64_t diagonal = this->diagonal(i, s);
    int64_t begin = 0;
    int64_t end = L;
    if (causal != VKATTN_CAUSAL_NONE && diagonal + 1 < end) end = diagonal + 1;
    if (window_right >= 0 && diagonal + window_right + 1 < end) end = diagonal + window_right + 1;
    if (window_left >= 0 && diagonal - window_left > begin) begin = diagonal - window_left;
    // A window can start past the last key; an empty range stays inside
    // [0, L] so the union of several rows' ranges never reaches past the keys.
    if (begin > L) begin = L;
    if (end < begin) end = begin;
    return KeyRange{begin, end};
  }

  // Visible key interval of the rows [first, last] together.
  KeyRange key_range(int64_t first, int64_t last, const SequenceLengths& s) const {
    return KeyRange{key_range(first, s).begin, key_range(last, s).end};
  }

  // The global keys row i sees besides key_range(i, s): [0, end) for the
  // keys below global_keys that causal masking and the length leave it
  // (the window does not apply to them). Empty without global keys.
  KeyRange global_range(int64_t i, const SequenceLengths& s) const {
    int64_t end = std::min(global_keys, s.keys);
    if (causal != VKATTN_CAUSAL_NONE) end = std::min(end, diagonal(i, s) + 1);
    return KeyRange{0, std::max<int64_t>(end, 0)};
  }

  // The keys row i sees through causal, window, length and global keys:
  // up to two disjoint intervals, in order (global keys first). Returns
  // how many are non-empty.
  int visible_spans(int64_t i, const SequenceLengths& s, KeyRange spans[2]) const {
    const KeyRange window = key_range(i, s);
    const KeyRange global = global_range(i, s);
    int count = 0;
    if (global.end >= window.begin && !window.empty()) {  // they touch: one span
      spans[count++] = KeyRange{std::min(global.begin, window.begin), std::max(global.end, window.end)};
    } else {
      if (!global.empty()) spans[count++] = global;
      if (!window.empty()) spans[count++] = window;
    }
    return count;
  }
};

// Descriptor checks shared by the attention and append problems; messages
// name "<desc>.<field>".
// 1 <= value <= max.
Status check_size(const char* desc, const char* field, int64_t value, int64_t max);
// A [batch, heads, seq, dim] view (dim contiguous) that does not overlap
// itself, with its extent.
Status make_tensor_view(const char* desc, const char* layout_name, const vkattn_tensor_layout& layout, int64_t batch,
                        int64_t heads, int64_t seq, int64_t dim, TensorView* view);
// Paged K/V fields: page_size 0 (then num_pages = max_pages = 0) or 1..256
// with 1 <= num_pages, max_pages and kv_len <= max_pages x page_size.
Status check_pages(const char* desc, int64_t page_size, int64_t num_pages, int64_t max_pages, int64_t kv_len);
// For q8_0 / q4_0 tensors: offset and strides are whole blocks.
Status check_block_layout(const char* desc, const char* name, const vkattn_tensor_layout& layout, vkattn_dtype dtype);

// Validates a vkattn_rope of descriptor `desc_name` rotating heads of
// head_dim (named dim_name) and fills *out.
Status make_rope(const char* desc_name, const vkattn_rope& rope, int64_t head_dim, const char* dim_name, Rope* out);

// The problem a Linformer plan attends after its projections: the same
// queries, outputs and softmax options, against proj_len keys that are
// [batch, kv_heads, proj_len, dim] contiguous arrays of `kv_dtype` (K'
// then V', each from element 0 of its own buffer), no key lengths, pages
// or projections.
Problem linformer_attend_problem(const Problem& linformer, vkattn_dtype kv_dtype);

// Validates every field of desc; on success fills *out. Messages name the
// field ("vkattn_attention_desc.kv_heads (3) must divide q_heads (8)").
Status make_problem(const vkattn_attention_desc& desc, Problem* out);

// The ALiBi paper's slopes for `heads` heads (>= 1) into out[0..heads).
void alibi_default_slopes(int64_t heads, float* out);

// Query-key pairs visible through causal/window/length masking alone (the
// boolean and additive masks are data and are not counted), summed over
// batch and heads. kv_lens and q_lens may be null.
uint64_t count_range_visible_pairs(const Problem& problem, const int32_t* kv_lens, const int32_t* q_lens);

}  // namespace vkattn
