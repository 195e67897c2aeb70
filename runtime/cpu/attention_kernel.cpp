#include "attention_kernel.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <string>

#include "row_ops.h"
#include "runtime/checked_math.h"
#include "runtime/quant.h"
#include "xnn_gemm.h"

namespace vkattn {
namespace cpu {

namespace {

// Packed K and V blocks together stay within about this many bytes (L2).
constexpr int64_t kKeyBlockBytes = 256 * 1024;
constexpr int64_t kMaxBlockKv = 256;
constexpr int64_t kMinBlockKv = 16;
constexpr int64_t kBlockQ = 64;
// Below this many rows per task the direct kernel beats XNNPACK: packing a
// K and a V block costs ~3 ns per key and head dimension (measured: ~1.5 ns
// per weight element), the direct products ~0.07 ns per row, key and
// dimension, so packing only pays off beyond ~100 rows; measured with
// vkattn-bench (decode Sq=4 and cross attention) the crossover is near 128.
constexpr int64_t kDirectRowThreshold = 128;
// Enough packed rows per key block that packing stays a small share of work.
constexpr int64_t kMinRowsPerTask = 256;
// Per-task row state (queries, accumulators) stays under this many bytes.
constexpr int64_t kTaskRowBytes = 8 * 1024 * 1024;
constexpr int64_t kTasksPerThread = 4;
// Direct (decode-like) work is split along the keys until there are about
// this many tasks, so threads finish together (with 8 tasks on 2 threads, one
// thread idled ~16% of a 32k-key decode waiting for the other) and every
// thread streams K/V at once; independent of the thread count so results are
// too. A split keeps at least kMinSplitKeys keys, so the merge (one pass over
// rows x v_dim per split) stays far below the split's own work.
constexpr int64_t kSplitTargetTasks = 64;
constexpr int64_t kMinSplitKeys = 1024;
// Partial states of all splits together stay under this many bytes.
constexpr int64_t kMaxPartialBytes = 16 * 1024 * 1024;

}  // namespace

Tiling choose_tiling(const Problem& p, int threads) {
  Tiling t;
  const int64_t group = p.group();
  const int64_t widest = std::max(p.qk_dim, p.v_dim);
  t.block_kv = std::clamp(kKeyBlockBytes / (2 * 4 * widest), kMinBlockKv, kMaxBlockKv);
  t.block_kv = std::min(t.block_kv, p.kv_len);
  t.block_q = kBlockQ;

  // Default: one task per (batch, kv head) covering every query position, so
  // each packed key block serves group * q_len rows. Split the queries only to
  // give every thread several tasks (causal work is uneven) ...
  const int64_t units = p.batch * p.kv_heads;
  int64_t task_rows = p.q_len;
  const int64_t wanted_tasks = kTasksPerThread * std::max(threads, 1);
  if (units < wanted_tasks) {
    const int64_t chunks = ceil_div(wanted_tasks, units);
    task_rows = ceil_div(p.q_len, chunks);
    task_rows = std::max(task_rows, std::min(p.q_len, ceil_div(kMinRowsPerTask, group)));
  }
  // ... and to bound the per-task row state (top-k: with each row's
  // candidates and selection state).
  const int64_t selection_floats = p.topk_mode() ? 4 * p.topk + 2 : 0;
  const int64_t bytes_per_position = group * (p.qk_dim + p.v_dim + 2 + selection_floats) * 4;
  task_rows = std::min(task_rows, std::max<int64_t>(1, kTaskRowBytes / bytes_per_position));
  if (task_rows < p.q_len && task_rows > t.block_q) task_rows = task_rows / t.block_q * t.block_q;
  // Block-sparse: a task's positions within one query block of the mask,
  // and key blocks no longer than its key blocks (at least 64 keys, for
  // XNNPACK), so that what the mask hides is skipped, not just masked.
  if (p.block_sparse()) {
    task_rows = std::min(task_rows, int64_t{1} << p.block_q_shift);
    t.block_kv = std::min(t.block_kv, std::max<int64_t>(int64_t{1} << p.block_k_shift, 64));
  }
  t.task_rows = task_rows;
  const int64_t unsplit_tasks = units * ceil_div(p.q_len, task_rows);
  t.direct = group * task_rows < kDirectRowThreshold;
  if (t.direct) t.block_q = group * task_rows;

  // Top-k keeps whole rows in each task: a row's selection sees all its keys.
  int64_t splits = 1;
  if (t.direct && !p.topk_mode()) {
    splits = std::min(ceil_div(kSplitTargetTasks, unsplit_tasks), p.kv_len / kMinSplitKeys);
    const int64_t partial_bytes_per_split = unsplit_tasks * group * task_rows * (p.v_dim + 2) * 4;
    splits = std::min(splits, kMaxPartialBytes / partial_bytes_per_split);
    splits = std::max<int64_t>(splits, 1);
  }
  t.split_len = splits > 1 ? ceil_div(ceil_div(p.kv_len, splits), t.block_kv) * t.block_kv : p.kv_len;
  t.kv_splits = ceil_div(p.kv_len, t.split_len);
  t.tasks = unsplit_tasks * t.kv_splits;
  return t;
}

struct AttentionKernel::MergeState {
  const AttentionKernel* kernel;
  const Tensors* tensors;
};

AttentionKernel::AttentionKernel(const Problem& problem, const Tiling& tiling)
    : problem_(problem), tiling_(tiling), ops_(row_ops()) {}

AttentionKernel::~AttentionKernel() { std::free(partials_); }

Status AttentionKernel::create(const Problem& problem, int threads, std::unique_ptr<Kernel>* out) {
  const Tiling tiling = choose_tiling(problem, threads);
  std::unique_ptr<AttentionKernel> kernel(new AttentionKernel(problem, tiling));
  VKATTN_RETURN_IF_ERROR(kernel->allocate(std::max(threads, 1)));
  *out = std::move(kernel);
  return Status();
}

PlanInfo AttentionKernel::info() const {
  PlanInfo info;
  info.kernel = std::string(problem_.topk_mode() ? "cpu.topk." : "cpu.") + (tiling_.direct ? "direct" : "xnnpack_tiles");
  info.block_q = static_cast<uint32_t>(tiling_.block_q);
  info.block_kv = static_cast<uint32_t>(tiling_.block_kv);
  info.kv_splits = static_cast<uint32_t>(tiling_.kv_splits);
  info.tasks = static_cast<uint32_t>(std::min<int64_t>(tiling_.tasks, UINT32_MAX));
  info.workspace_bytes = workspace_bytes_;
  return info;
}

Status AttentionKernel::allocate(int slots) {
  const Problem& p = problem_;
  const int64_t rows = p.group() * tiling_.task_rows;
  const int64_t bkv = tiling_.block_kv;
  const int64_t bq = tiling_.block_q;
  // Element counts of each scratch array (Workspace's, in order; a
  // candidate and a row pointer take two floats' room).
  const int64_t k = p.topk_mode() ? p.topk : 0;
  const int64_t counts[] = {rows * p.qk_dim, rows * p.v_dim, rows, rows, bkv * p.qk_dim, bkv * p.v_dim, bq * bkv,
                            bq * p.v_dim, 4 * rows * k, p.topk_mode() ? 2 * rows : 0, k,
                            p.topk_mode() ? 2 * (k + kGatherPrefetchRows) : 0};
  VKATTN_RETURN_IF_ERROR(slots_.allocate(slots, counts, 12, "CPU workspace"));
  workspace_bytes_ = slots_.bytes();
  if (tiling_.kv_splits > 1) {
    // Bounded by kMaxPartialBytes in choose_tiling.
    const uint64_t bytes = static_cast<uint64_t>(tiling_.tasks * rows * (p.v_dim + 2)) * 4;
    partials_ = static_cast<float*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
    if (partials_ == nullptr) {
      return out_of_host_memory("could not allocate %llu bytes for split-key partial results",
                                (unsigned long long)bytes);
    }
    workspace_bytes_ += bytes;
  }
  return Status();
}

AttentionKernel::Workspace AttentionKernel::workspace(int slot) const {
  Workspace ws;
  ws.queries = slots_.array(slot, 0);
  ws.acc = slots_.array(slot, 1);
  ws.row_max = slots_.array(slot, 2);
  ws.row_sum = slots_.array(slot, 3);
  ws.keys = slots_.array(slot, 4);
  ws.values = slots_.array(slot, 5);
  ws.scores = slots_.array(slot, 6);
  ws.products = slots_.array(slot, 7);
  if (problem_.topk_mode()) {
    // (Slot arrays are cache-line aligned: room for any of these types.)
    ws.candidates = reinterpret_cast<TopkCandidate*>(slots_.array(slot, 8));
    ws.topk_rows = reinterpret_cast<TopkRow*>(slots_.array(slot, 9));
    ws.weights = slots_.array(slot, 10);
    ws.value_rows = reinterpret_cast<const uint8_t**>(slots_.array(slot, 11));
  }
  return ws;
}

Status AttentionKernel::run(pthreadpool_t pool, const Tensors& tensors) {
  VKATTN_RETURN_IF_ERROR(run_slot_tasks(pool, static_cast<size_t>(tiling_.tasks), slots_, [&](int64_t task, int slot) {
    Workspace ws = workspace(slot);
    return run_task(task, tensors, ws);
  }));
  if (tiling_.kv_splits > 1) {
    MergeState state{this, &tensors};
    pthreadpool_parallelize_1d(pool, &AttentionKernel::merge_entry, &state,
                               static_cast<size_t>(tiling_.tasks / tiling_.kv_splits), 0);
  }
  return Status();
}

void AttentionKernel::merge_entry(void* opaque, size_t unit) {
  const MergeState& state = *static_cast<MergeState*>(opaque);
  state.kernel->merge_splits(static_cast<int64_t>(unit), *state.tensors);
}

namespace {

// Keeps the best k of `count` > k candidates in candidates[0, k), the k-th
// best at k - 1.
void keep_best(int64_t k, int64_t count, TopkCandidate* candidates) {
  std::nth_element(candidates, candidates + (k - 1), candidates + count, std::greater<TopkCandidate>());
}

}  // namespace

void offer_topk(const float* scores, int64_t n, int64_t j0, int64_t k, TopkCandidate* candidates, TopkRow* row) {
  if (row->count < 0) return;
  int64_t count = row->count;
  float threshold = row->threshold;
  bool nan = false;
  for (int64_t c0 = 0; c0 < n; c0 += 16) {
    const int64_t end = std::min(n, c0 + 16);
    // A chunk none of whose logits beats the threshold adds nothing (the
    // maximum and the NaN test vectorise).
    float best = threshold;
    for (int64_t c = c0; c < end; ++c) {
      best = std::max(best, scores[c]);
      nan |= scores[c] != scores[c];
    }
    if (!(best > threshold)) continue;
    for (int64_t c = c0; c < end; ++c) {
      // Written always, kept only when it beats the threshold (branchless).
      candidates[count] = topk_candidate(scores[c], static_cast<int32_t>(j0 + c));
      count += scores[c] > threshold ? 1 : 0;
      if (count == 2 * k) {
        keep_best(k, count, candidates);
        count = k;
        threshold = candidate_logit(candidates[k - 1]);  // the k-th best: what a later key must beat
      }
    }
  }
  row->count = nan ? -1 : static_cast<int32_t>(count);
  row->threshold = threshold;
}

void finish_topk(int64_t k, TopkCandidate* candidates, TopkRow* row) {
  if (row->count > k) {
    keep_best(k, row->count, candidates);
    row->count = static_cast<int32_t>(k);
  }
}

namespace {

// Turns the scores scale * q.k of row `i` (block columns [j0, j0 + n))
// into its logits: soft-capped, ALiBi-biased, additive mask added; and
// hides those the range (window, causal, length, global keys), boolean or
// additive masks or the block mask (block-sparse) hide.
void mask_scores(const Problem& p, const Tensors& t, int64_t b, int64_t h, int64_t i, const SequenceLengths& seq,
                 int64_t j0, int64_t n, float* scores) {
  const float hidden = -std::numeric_limits<float>::infinity();
  const float* additive =
      p.has_additive_mask ? t.additive_mask + p.additive_mask.row(b, h, i) + static_cast<uint64_t>(j0) * p.additive_mask.col_stride
                          : nullptr;
  const uint8_t* boolean =
      p.has_bool_mask ? t.bool_mask + p.bool_mask.row(b, h, i) + static_cast<uint64_t>(j0) * p.bool_mask.col_stride
                      : nullptr;
  const uint8_t* blocks = p.block_sparse() ? p.block_mask->data() + p.block_row(b, h, i) : nullptr;
  // Columns [first, last) are visible through the range: shape their logits.
  auto shape = [&](int64_t first, int64_t last) {
    if (p.softcap > 0.0f) {
      const float cap = p.softcap, inverse = 1.0f / p.softcap;
      for (int64_t c = first; c < last; ++c) scores[c] = cap * std::tanh(scores[c] * inverse);
    }
    if (!p.alibi_slopes.empty()) {
      const float slope = p.alibi_slopes[static_cast<size_t>(h)];
      const int64_t d = p.diagonal(i, seq);
      for (int64_t c = first; c < last; ++c) {
        const int64_t distance = d >= j0 + c ? d - (j0 + c) : j0 + c - d;
        scores[c] -= slope * static_cast<float>(distance);
      }
    }
    if (boolean != nullptr) {
      const uint64_t stride = p.bool_mask.col_stride;
      for (int64_t c = first; c < last; ++c) scores[c] = boolean[c * stride] != 0 ? scores[c] : hidden;
    }
    if (additive != nullptr) {
      const uint64_t stride = p.additive_mask.col_stride;
      // A -inf mask entry hides the key whatever its score (even NaN).
      for (int64_t c = first; c < last; ++c) {
        const float add = additive[c * stride];
        scores[c] = add == hidden ? hidden : scores[c] + add;
      }
    }
    if (blocks != nullptr) {  // last: nothing may turn a hidden score into NaN after it
      for (int64_t c = first; c < last; ++c) scores[c] = blocks[(j0 + c) >> p.block_k_shift] != 0 ? scores[c] : hidden;
    }
  };
  KeyRange spans[2];
  const int count = p.visible_spans(i, seq, spans);
  int64_t done = 0;  // columns [0, done) are hidden or shaped
  for (int s = 0; s < count; ++s) {
    const int64_t first = std::clamp<int64_t>(spans[s].begin - j0, done, n);
    const int64_t last = std::clamp<int64_t>(spans[s].end - j0, first, n);
    for (int64_t c = done; c < first; ++c) scores[c] = hidden;
    shape(first, last);
    done = last;
  }
  for (int64_t c = done; c < n; ++c) scores[c] = hidden;
}

// The addresses of keys [first, first + count) of (batch b, kv head h) in
// the paged K or V pool `view` at `base`: one block-table lookup (and one
// division) per page, then a row stride within it.
void paged_rows(const Problem& p, const TensorView& view, vkattn_dtype dtype, const uint8_t* base,
                const int32_t* block_table, int64_t b, int64_t h, int64_t first, int64_t count, const uint8_t** out) {
  const uint64_t row_step = storage_offset(dtype, view.seq_stride);
  int64_t c = 0;
  while (c < count) {
    const int64_t j = first + c;
    const int64_t in_page = j % p.page_size;
    const int64_t rows = std::min(p.page_size - in_page, count - c);
    const uint8_t* row = base + storage_offset(dtype, p.key_row(view, block_table, b, h, j));
    for (int64_t r = 0; r < rows; ++r, row += row_step) out[c + r] = row;
    c += rows;
  }
}

}  // namespace

AttentionKernel::WorkUnit AttentionKernel::work_unit(int64_t unit) const {
  const int64_t chunks = ceil_div(problem_.q_len, tiling_.task_rows);
  WorkUnit u;
  u.batch = unit / chunks / problem_.kv_heads;
  u.kv_head = (unit / chunks) % problem_.kv_heads;
  u.first_query = unit % chunks * tiling_.task_rows;
  u.end_query = std::min(problem_.q_len, u.first_query + tiling_.task_rows);
  return u;
}

Status AttentionKernel::run_task(int64_t task, const Tensors& t, Workspace& ws) const {
  const Problem& p = problem_;
  const int64_t group = p.group();
  const int64_t split = task % tiling_.kv_splits;
  const WorkUnit u = work_unit(task / tiling_.kv_splits);
  const SequenceLengths seq = p.sequence(t.kv_lens, t.q_lens, u.batch);
  // Rows past the sequence's query count (ragged batches) are not computed.
  const int64_t b = u.batch, kv_head = u.kv_head, r0 = u.first_query, r1 = std::min(u.end_query, seq.queries);
  if (r1 <= r0) return Status();
  // The task's rows, position-major: local row = (i - r0) * group + g, so a
  // sub-tile spans every query head of the kv head (each K/V block serves
  // them all) and only a few positions (causal ranges stay tight).
  const int64_t rows = (r1 - r0) * group;
  const size_t element = p.element_size();
  const int64_t bkv = tiling_.block_kv;
  const int64_t bq = tiling_.block_q;

  for (int64_t local = 0; local < rows; ++local) {
    const int64_t i = r0 + local / group;
    const int64_t h = kv_head * group + local % group;
    float* query = ws.queries + local * p.qk_dim;
    ops_.load_row(t.q + p.query_row(p.q, t.q_starts, b, h, i) * element, p.dtype, p.qk_dim, p.scale, query);
    p.rope.rotate(query, Problem::query_position(i, seq));  // (a rotation commutes with the scale)
  }
  std::fill(ws.row_max, ws.row_max + rows, kScoreFloor);
  std::fill(ws.row_sum, ws.row_sum + rows, 0.0f);
  std::fill(ws.acc, ws.acc + rows * p.v_dim, 0.0f);
  const bool topk = p.topk_mode();
  if (topk) std::fill(ws.topk_rows, ws.topk_rows + rows, TopkRow{0, -std::numeric_limits<float>::infinity()});

  // The task's keys: those its rows' windows leave (one interval), and the
  // global keys below it (the keys in between are skipped), each within
  // this task's split.
  const KeyRange window = p.key_range(r0, r1 - 1, seq);
  const KeyRange segments[2] = {KeyRange{0, std::min(p.global_range(r1 - 1, seq).end, window.begin)}, window};
  const int64_t split_begin = split * tiling_.split_len, split_end = (split + 1) * tiling_.split_len;
  // Block-sparse: the key blocks of the mask some row of the task sees
  // (the union over its query blocks and heads); the kernel's key blocks
  // without one are skipped, never loaded.
  std::vector<uint8_t> task_blocks;
  if (p.block_sparse()) {
    task_blocks.assign(static_cast<size_t>(p.k_blocks), 0);
    const int64_t heads = p.block_mask_heads > 1 ? group : 1;
    for (int64_t i = r0; i < r1; i = ((i >> p.block_q_shift) + 1) << p.block_q_shift) {  // a row per query block
      for (int64_t g = 0; g < heads; ++g) {
        const uint8_t* row = p.block_mask->data() + p.block_row(b, kv_head * group + g, i);
        for (int64_t c = 0; c < p.k_blocks; ++c) task_blocks[static_cast<size_t>(c)] |= row[c];
      }
    }
  }
  auto sees_blocks = [&](int64_t j0, int64_t n) {
    for (int64_t c = j0 >> p.block_k_shift; c <= (j0 + n - 1) >> p.block_k_shift; ++c) {
      if (task_blocks[static_cast<size_t>(c)] != 0) return true;
    }
    return false;
  };
  XnnGemm qk;  // S = Q . K_block^T
  XnnGemm pv;  // O_part = P . V_block
  // K and V rows: bytes from one key to the next (q8_0 / q4_0 blocks are
  // dequantized as the row kernels load them).
  const int64_t k_step = static_cast<int64_t>(storage_offset(p.k_dtype, p.k.seq_stride));
  const int64_t v_step = static_cast<int64_t>(storage_offset(p.v_dtype, p.v.seq_stride));
  for (const KeyRange& segment : segments) {
    const KeyRange task_keys{std::max(segment.begin, split_begin), std::min(segment.end, split_end)};
    for (int64_t j0 = task_keys.begin; j0 < task_keys.end; j0 += bkv) {
      const int64_t n = std::min(bkv, task_keys.end - j0);
      if (p.block_sparse() && !sees_blocks(j0, n)) continue;
      // Contiguous: the block's n rows, k_step / v_step bytes apart. Paged:
      // each row wherever its page is (the same keys, in the same blocks,
      // so the results are bitwise those of contiguous K/V).
      const uint8_t* keys = t.k + storage_offset(p.k_dtype, p.key_row(p.k, t.block_table, b, kv_head, j0));
      const uint8_t* values = t.v + storage_offset(p.v_dtype, p.key_row(p.v, t.block_table, b, kv_head, j0));
      // (Paged: the block's rows, then kGatherPrefetchRows more for the row
      // kernels to prefetch: the task's next keys, or its last row again.)
      const uint8_t* key_rows[kMaxBlockKv + kGatherPrefetchRows];
      const uint8_t* value_rows[kMaxBlockKv + kGatherPrefetchRows];
      if (p.paged()) {
        const int64_t listed = std::min(n + kGatherPrefetchRows, task_keys.end - j0);
        paged_rows(p, p.k, p.k_dtype, t.k, t.block_table, b, kv_head, j0, listed, key_rows);
        if (!topk) paged_rows(p, p.v, p.v_dtype, t.v, t.block_table, b, kv_head, j0, listed, value_rows);
        for (int64_t c = listed; c < n + kGatherPrefetchRows; ++c) {  // past the task's keys: its last row again
          key_rows[c] = key_rows[listed - 1];
          if (!topk) value_rows[c] = value_rows[listed - 1];
        }
      }
      auto key_at = [&](int64_t c) { return p.paged() ? key_rows[c] : keys + c * k_step; };
      auto value_at = [&](int64_t c) { return p.paged() ? value_rows[c] : values + c * v_step; };
      bool values_finite = true;
      if (!tiling_.direct) {
        // Packed once per task for XNNPACK, then reused by every sub-tile.
        // (Top-k reads V only for the kept keys, after the walk.)
        for (int64_t c = 0; c < n; ++c) {
          ops_.load_row(key_at(c), p.k_dtype, p.qk_dim, 1.0f, ws.keys + c * p.qk_dim);
          if (!topk) values_finite &= ops_.load_row_check_finite(value_at(c), p.v_dtype, p.v_dim, ws.values + c * p.v_dim);
        }
        VKATTN_RETURN_IF_ERROR(qk.create(p.qk_dim, n, ws.keys, /*transposed=*/false));
        if (!topk) VKATTN_RETURN_IF_ERROR(pv.create(n, p.v_dim, ws.values, /*transposed=*/true));
      }

      for (int64_t s0 = 0; s0 < rows; s0 += bq) {
        const int64_t s1 = std::min(rows, s0 + bq);
        const int64_t sub_rows = s1 - s0;
        const KeyRange sub_keys = p.key_range(r0 + s0 / group, r0 + (s1 - 1) / group, seq);
        const bool window_seen = sub_keys.end > j0 && sub_keys.begin < j0 + n;
        if (!window_seen && p.global_range(r0 + (s1 - 1) / group, seq).end <= j0) continue;  // block hidden from these rows
        const float* queries = ws.queries + s0 * p.qk_dim;
        float* acc = ws.acc + s0 * p.v_dim;

        if (tiling_.direct && p.paged()) {
          ops_.dot_rows_gather(queries, sub_rows, key_rows, p.k_dtype, n, p.qk_dim, ws.scores);
        } else if (tiling_.direct) {
          ops_.dot_rows(queries, sub_rows, keys, p.k_dtype, static_cast<int64_t>(p.k.seq_stride), n, p.qk_dim,
                        ws.scores);
        } else {
          VKATTN_RETURN_IF_ERROR(qk.run(sub_rows, queries, ws.scores));
        }
        for (int64_t r = 0; r < sub_rows; ++r) {
          const int64_t local = s0 + r;
          float* scores = ws.scores + r * n;
          mask_scores(p, t, b, kv_head * group + local % group, r0 + local / group, seq, j0, n, scores);
          if (topk) {
            offer_topk(scores, n, j0, p.topk, ws.candidates + local * 2 * p.topk, ws.topk_rows + local);
            continue;
          }
          const float alpha = ops_.softmax_step(scores, n, ws.row_max + local, ws.row_sum + local);
          if (alpha != 1.0f) ops_.scale_row(acc + r * p.v_dim, p.v_dim, alpha);
        }
        if (topk) continue;  // the kept keys are attended after the walk
        if (tiling_.direct && p.paged()) {
          std::copy(acc, acc + sub_rows * p.v_dim, ws.products);
          if (!ops_.accumulate_products_gather(ws.scores, sub_rows, n, value_rows, p.v_dtype, p.v_dim, acc)) {
            std::copy(ws.products, ws.products + sub_rows * p.v_dim, acc);
            ops_.accumulate_weighted_rows_gather(ws.scores, sub_rows, n, value_rows, p.v_dtype, p.v_dim, acc);
          }
        } else if (tiling_.direct) {
          // Values straight from the tensor; a NaN/Inf value under a zero
          // weight would poison a row (0 * NaN), so such a block is redone
          // with the path that skips zero weights.
          std::copy(acc, acc + sub_rows * p.v_dim, ws.products);
          if (!ops_.accumulate_products(ws.scores, sub_rows, n, values, p.v_dtype, static_cast<int64_t>(p.v.seq_stride),
                                        p.v_dim, acc)) {
            std::copy(ws.products, ws.products + sub_rows * p.v_dim, acc);
            ops_.accumulate_weighted_rows(ws.scores, sub_rows, n, values, p.v_dtype,
                                          static_cast<int64_t>(p.v.seq_stride), p.v_dim, acc);
          }
        } else if (!values_finite) {
          ops_.accumulate_weighted_rows(ws.scores, sub_rows, n, ws.values, VKATTN_DTYPE_F32, p.v_dim, p.v_dim, acc);
        } else {
          VKATTN_RETURN_IF_ERROR(pv.run(sub_rows, ws.scores, ws.products));
          for (int64_t r = 0; r < sub_rows; ++r) ops_.add_row(acc + r * p.v_dim, ws.products + r * p.v_dim, p.v_dim);
        }
      }
    }
  }

  if (topk) {
    for (int64_t local = 0; local < rows; ++local) attend_topk_row(t, b, kv_head, local, ws);
  }
  if (tiling_.kv_splits > 1) {
    // Rows of a task are at most group * task_rows; the last chunk has fewer.
    const int64_t stride = p.v_dim + 2;
    float* partial = partials_ + task * group * tiling_.task_rows * stride;
    for (int64_t local = 0; local < rows; ++local) {
      std::copy(ws.acc + local * p.v_dim, ws.acc + (local + 1) * p.v_dim, partial + local * stride);
      partial[local * stride + p.v_dim] = ws.row_max[local];
      partial[local * stride + p.v_dim + 1] = ws.row_sum[local];
    }
    return Status();
  }
  for (int64_t local = 0; local < rows; ++local) {
    store_output_row(t, b, kv_head * group + local % group, r0 + local / group, ws.acc + local * p.v_dim,
                     ws.row_max[local], ws.row_sum[local]);
  }
  return Status();
}

void AttentionKernel::attend_topk_row(const Tensors& t, int64_t b, int64_t kv_head, int64_t local,
                                      Workspace& ws) const {
  const Problem& p = problem_;
  TopkCandidate* kept = ws.candidates + local * 2 * p.topk;
  finish_topk(p.topk, kept, ws.topk_rows + local);
  const int32_t count = ws.topk_rows[local].count;
  if (count < 0) {  // a NaN logit: the whole row NaN, as in exact mode
    ws.row_max[local] = std::numeric_limits<float>::quiet_NaN();
    ws.row_sum[local] = std::numeric_limits<float>::quiet_NaN();
    return;
  }
  if (count == 0) return;  // no key seen: zeros (LSE -inf, or the sink)
  // The kept keys in key order (V rows read front to back), then one
  // softmax step over their logits and the weighted V rows.
  std::sort(kept, kept + count,
            [](TopkCandidate a, TopkCandidate b) { return candidate_key(a) < candidate_key(b); });
  for (int32_t c = 0; c < count; ++c) {
    ws.weights[c] = candidate_logit(kept[c]);
    ws.value_rows[c] = t.v + storage_offset(p.v_dtype, p.key_row(p.v, t.block_table, b, kv_head, candidate_key(kept[c])));
  }
  for (int64_t c = count; c < count + kGatherPrefetchRows; ++c) ws.value_rows[c] = ws.value_rows[count - 1];
  ops_.softmax_step(ws.weights, count, ws.row_max + local, ws.row_sum + local);
  ops_.accumulate_weighted_rows_gather(ws.weights, 1, count, ws.value_rows, p.v_dtype, p.v_dim,
                                       ws.acc + local * p.v_dim);
}

void AttentionKernel::merge_splits(int64_t unit, const Tensors& t) const {
  const Problem& p = problem_;
  const int64_t group = p.group();
  const WorkUnit u = work_unit(unit);
  const int64_t b = u.batch, kv_head = u.kv_head, r0 = u.first_query;
  const int64_t end_query = std::min(u.end_query, p.sequence(t.kv_lens, t.q_lens, b).queries);
  if (end_query <= r0) return;  // a ragged sequence's rows end before this unit
  const int64_t rows = (end_query - r0) * group;
  const int64_t stride = p.v_dim + 2;
  const int64_t split_stride = group * tiling_.task_rows * stride;
  // The merged O accumulates in place in the first split's records (the
  // workspace slots belong to the tasks, and this unit's records to it).
  float* first = partials_ + unit * tiling_.kv_splits * split_stride;
  for (int64_t local = 0; local < rows; ++local) {
    // A running max is never NaN (comparisons skip NaN scores); +inf gives
    // inf - inf = NaN weights below, the same NaN a single pass produces.
    float max = kScoreFloor;
    for (int64_t s = 0; s < tiling_.kv_splits; ++s) {
      max = std::max(max, first[s * split_stride + local * stride + p.v_dim]);
    }
    float* acc = first + local * stride;
    float sum = 0.0f;
    for (int64_t s = 0; s < tiling_.kv_splits; ++s) {
      const float* record = first + s * split_stride + local * stride;
      const float weight = ops_.exp_nonpositive(record[p.v_dim] - max);
      sum += record[p.v_dim + 1] * weight;
      if (s == 0) {
        ops_.scale_row(acc, p.v_dim, weight);
      } else {
        ops_.add_scaled_row(acc, record, p.v_dim, weight);
      }
    }
    store_output_row(t, b, kv_head * group + local % group, r0 + local / group, acc, max, sum);
  }
}

void AttentionKernel::store_output_row(const Tensors& t, int64_t b, int64_t h, int64_t i, const float* acc,
                                       float max, float sum) const {
  const Problem& p = problem_;
  const size_t element = p.element_size();
  float factor = 1.0f;  // scales acc on top of 1 / sum
  if (!p.sinks.empty()) {
    // The sink joins the softmax without a value: a new maximum, and its
    // weight in the denominator. A row that saw no key (max at the floor)
    // then has sum 1 and LSE = sink.
    const float sink = p.sinks[static_cast<size_t>(h)];
    const float merged = std::max(max, sink);
    factor = std::exp(max - merged);
    sum = sum * factor + std::exp(sink - merged);
    max = merged;
  }
  // A row that saw no key has sum 0: zeros and LSE -inf, never 0/0. A NaN
  // sum (NaN logits or values) makes the whole row NaN.
  const bool saw_keys = sum > 0.0f || sum != sum;
  ops_.store_row(acc, p.v_dim, saw_keys ? factor / sum : 0.0f, p.dtype, t.out + p.query_row(p.out, t.q_starts, b, h, i) * element);
  if (t.lse != nullptr) {
    t.lse[p.query_row(p.lse, t.q_starts, b, h, i)] = saw_keys ? max + std::log(sum) : -std::numeric_limits<float>::infinity();
  }
}

}  // namespace cpu
}  // namespace vkattn
