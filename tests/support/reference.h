// The one oracle: naive attention in float64, written from the semantics in
// include/vkattn.h and nothing else (it shares no code with the runtime).
// Every test, the conformance tool, the demo and the benchmarks' sanity checks
// compare against it.
#pragma once

#include <cstdint>
#include <vector>

#include "vkattn.h"

namespace vkattn_test {

// A problem's inputs on the host, each as the float values the storage dtype
// holds, at the element positions the descriptor's layouts give (so Q[i] is
// the element a buffer holds at element index i). Masks likewise.
struct HostInputs {
  vkattn_attention_desc desc;
  std::vector<float> q, k, v;
  std::vector<float> additive_mask;
  std::vector<uint8_t> bool_mask;
  std::vector<int32_t> kv_lens;
  std::vector<int32_t> q_lens;  // with desc.has_q_lens: each sequence's query rows
  std::vector<int32_t> cu_seqlens_q;  // with desc.packed_q_rows > 0: [batch + 1] packed row offsets
  // What desc.alibi_slopes and desc.sinks point into (empty: NULL); copies
  // point into their own.
  std::vector<float> alibi_slopes, sinks;
  // What desc.linear.features points into (FAVOR+'s W; empty: NULL).
  std::vector<float> features;
  // What desc.linformer.e and .f point into (empty: NULL).
  std::vector<float> proj_e, proj_f;
  // What desc.block_sparse.mask points into (empty: NULL).
  std::vector<uint8_t> block_mask;
  // K and V as stored when desc.k_dtype / v_dtype is a block type (q8_0,
  // q4_0): the blocks whose exact values k / v hold. Empty otherwise.
  std::vector<uint8_t> k_blocks, v_blocks;
  // With paged K/V (desc.page_size > 0): [batch, max_pages]; k and v (and
  // their blocks) are then the page pools.
  std::vector<int32_t> block_table;

  HostInputs() = default;
  HostInputs(const HostInputs& other) { *this = other; }
  HostInputs& operator=(const HostInputs& other) {
    desc = other.desc;
    q = other.q, k = other.k, v = other.v;
    additive_mask = other.additive_mask;
    bool_mask = other.bool_mask;
    kv_lens = other.kv_lens;
    q_lens = other.q_lens;
    cu_seqlens_q = other.cu_seqlens_q;
    alibi_slopes = other.alibi_slopes;
    sinks = other.sinks;
    features = other.features;
    proj_e = other.proj_e, proj_f = other.proj_f;
    block_mask = other.block_mask;
    k_blocks = other.k_blocks, v_blocks = other.v_blocks;
    block_table = other.block_table;
    point_desc();
    return *this;
  }
  HostInputs(HostInputs&&) = default;  // moved vectors keep their storage
  HostInputs& operator=(HostInputs&&) = default;
  void point_desc() {
    desc.alibi_slopes = alibi_slopes.empty() ? nullptr : alibi_slopes.data();
    desc.sinks = sinks.empty() ? nullptr : sinks.data();
    desc.linear.features = features.empty() ? nullptr : features.data();
    desc.linformer.e = proj_e.empty() ? nullptr : proj_e.data();
    desc.linformer.f = proj_f.empty() ? nullptr : proj_f.data();
    desc.block_sparse.mask = block_mask.empty() ? nullptr : block_mask.data();
  }
};

// Dense results: out [B, Hq, Sq, Dv], lse [B, Hq, Sq] (natural log).
struct ReferenceOutput {
  std::vector<double> out;
  std::vector<double> lse;
  double max_abs_v = 0.0;          // largest |V| over visible keys
  double max_logit_magnitude = 0.0;  // largest scale * sum_d |q_d k_d| over visible pairs
  uint64_t visible_pairs = 0;      // summed over batch and heads
  int64_t max_row_keys = 0;        // most keys any one query row sees
  // Linformer: what computing K' = E K and V' = F V in f32 (and, for f16
  // problems, holding them in f16) may add to |O - O_ref| and to the
  // logits (so to LSE): u sqrt(kv_len) times the sums of |terms|, plus the
  // f16 rounding of K' and V' (tolerance.h). 0 in the other modes.
  double projection_error = 0.0;
  double projection_logit_error = 0.0;
  // Top-k, per row (indexed as lse; empty in the other modes): what the
  // row may differ by where a kernel computing logits in f32 may keep other
  // keys than this reference. That is possible only where a kept and a
  // dropped logit lie within tolerance.h's topk_selection_margin of each
  // other without being equal (equal logits tie, and the key index
  // decides): the kept keys that close to the best dropped one could be
  // swapped for keys of nearly their logit, moving O by at most twice
  // their weight times max|V|, and LSE by at most the margin. 0 elsewhere.
  std::vector<double> topk_out_allowance, topk_lse_allowance;
};

// Turns the first rope.dims (0: head_dim) values of x by RoPE to
// `position` (include/vkattn.h, vkattn_rope), in double.
void rotate_rope(const vkattn_rope& rope, int64_t head_dim, int64_t position, double* x);

// Sequence b's key count L_b and query count Sq_b.
int64_t key_length(const HostInputs& inputs, int64_t b);
int64_t query_length(const HostInputs& inputs, int64_t b);

// The element index of query row i of (batch b, query head h) in the Q, O
// or LSE layout `layout`: row i of batch b, or with packed queries packed
// row cu_seqlens_q[b] + i.
uint64_t query_index(const HostInputs& inputs, const vkattn_tensor_layout& layout, int64_t b, int64_t h, int64_t i);

// The scale the library applies: desc.scale, or 1/sqrt(qk_dim) rounded to
// float (the API carries scale as a float).
double effective_scale(const vkattn_attention_desc& desc);

// The element index of key j of (batch b, kv head h) in K or V laid out by
// `layout`, through the block table when K/V are paged.
uint64_t key_index(const HostInputs& inputs, const vkattn_tensor_layout& layout, int64_t b, int64_t h, int64_t j);

// The key on query i's diagonal in batch b, from which causal masking,
// windows and ALiBi distances are measured: i + (L_b - Sq_b) (bottom-right
// alignment, also used without causal masking), or i (TOP_LEFT).
int64_t diagonal_key(const HostInputs& inputs, int64_t b, int64_t i);

// The keys that length, causal and window masking leave to query i of batch
// b (the data masks aside): [0, global_end) (the global keys) and
// [first, end) (the window), which may overlap; empty spans have
// end <= first. Both ends of the window span are non-decreasing in i.
struct KeySpans {
  int64_t global_end = 0;
  int64_t first = 0;
  int64_t end = 0;
};
KeySpans visible_key_spans(const HostInputs& inputs, int64_t b, int64_t i);

// Whether key j is visible to query i of batch b, head h, per include/vkattn.h.
bool reference_visible(const HostInputs& inputs, int64_t b, int64_t h, int64_t i, int64_t j);

// The problem's outputs per its mode (exact; linear attention: then lse
// stays 0 and max_logit_magnitude 0, the mode having no logits; Linformer:
// softmax attention over K' = E K, V' = F V, the statistics over those;
// top-k: softmax over each row's k kept keys, the statistics over every
// visible key).
ReferenceOutput reference_attention(const HostInputs& inputs);

// Query row i of (batch b, query head h) as the kernels use it: qk_dim
// values, turned by RoPE to position L_b - Sq_b + i when the problem has it.
std::vector<double> reference_query(const HostInputs& inputs, int64_t b, int64_t h, int64_t i);

// The logit of that query row `q` (reference_query's) against key j, in
// double, per include/vkattn.h: scale * q.k, then soft-capping, ALiBi and
// the additive mask. Meaningful for keys the row sees (reference_visible).
// *magnitude, when given, receives |scale| * sum_d |q_d k_d|, the bound on
// the logit's size that tolerance.h's large-logit allowance takes.
double reference_logit(const HostInputs& inputs, int64_t b, int64_t h, int64_t i, int64_t j,
                       const std::vector<double>& q, double* magnitude = nullptr);

// One output row (batch b, query head h, position i): v_dim values into
// *out, the row's LSE into *lse (0 in linear mode). What
// reference_attention computes per row (Linformer: projecting all of
// (b, h)'s keys for the row).
void reference_row(const HostInputs& inputs, int64_t b, int64_t h, int64_t i, std::vector<double>* out, double* lse);

// Visible query-key pairs (every mask applied), summed over batch and heads;
// the FLOP count of a problem is 2 * (qk_dim + v_dim) times this.
uint64_t count_visible_pairs(const HostInputs& inputs);

// The FLOPs (multiply-adds times two) of linear attention
// (VKATTN_MODE_LINEAR) in the cheaper of its two forms, per kv head: the
// state form (each key's features and state update, 2 m v_dim + m; each
// query row's features and output, 2 m v_dim + 2 m) or the direct form
// (each key's features, then for every row of the group 2 m + 2 v_dim + 1);
// features cost m (ELU) or 2 m qk_dim (FAVOR+).
double linear_attention_flops(const HostInputs& inputs);

// The FLOPs of Linformer (VKATTN_MODE_LINFORMER): the projections, 2
// proj_len (qk_dim + v_dim) per key below each sequence's length and kv
// head, then 2 (qk_dim + v_dim) per query row and projected key.
double linformer_flops(const HostInputs& inputs);

// The FLOPs of top-k attention (VKATTN_MODE_TOPK): 2 qk_dim per visible
// pair (every logit is computed), then 2 v_dim per kept key (at most k
// per row).
double topk_flops(const HostInputs& inputs);

// Keys (rows of K, and of V) that at least one query of their sequence sees
// through length, causal and window masking, summed over batch and kv heads:
// what a kernel that skips hidden key blocks must read at least. The data
// masks are not consulted (with them this is an upper bound).
uint64_t count_read_keys(const HostInputs& inputs);

}  // namespace vkattn_test
