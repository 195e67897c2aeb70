#include "attention_kernel.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>

#include "row_ops.h"
#include "runtime/checked_math.h"
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
  // ... and to bound the per-task row state.
  const int64_t bytes_per_position = group * (p.qk_dim + p.v_dim + 2) * 4;
  task_rows = std::min(task_rows, std::max<int64_t>(1, kTaskRowBytes / bytes_per_position));
  if (task_rows < p.q_len && task_rows > t.block_q) task_rows = task_rows / t.block_q * t.block_q;
  t.task_rows = task_rows;
  t.tasks = units * ceil_div(p.q_len, task_rows);
  t.direct = group * task_rows < kDirectRowThreshold;
  if (t.direct) t.block_q = group * task_rows;
  return t;
}

struct AttentionKernel::RunState {
  const AttentionKernel* kernel;
  const Tensors* tensors;
  std::atomic<bool> failed{false};
  std::atomic<bool> out_of_memory{false};  // a task could not even record its error
  std::mutex error_mutex;
  Status error;
};

AttentionKernel::AttentionKernel(const Problem& problem, const Tiling& tiling)
    : problem_(problem), tiling_(tiling), ops_(row_ops()) {}

AttentionKernel::~AttentionKernel() {
  for (void* allocation : allocations_) std::free(allocation);
}

Status AttentionKernel::create(const Problem& problem, int threads, std::unique_ptr<AttentionKernel>* out) {
  const Tiling tiling = choose_tiling(problem, threads);
  std::unique_ptr<AttentionKernel> kernel(new AttentionKernel(problem, tiling));
  VKATTN_RETURN_IF_ERROR(kernel->allocate(std::max(threads, 1)));
  *out = std::move(kernel);
  return Status();
}

Status AttentionKernel::allocate(int slots) {
  const Problem& p = problem_;
  const int64_t rows = p.group() * tiling_.task_rows;
  const int64_t bkv = tiling_.block_kv;
  const int64_t bq = tiling_.block_q;
  // Element counts of each scratch array; every one gets XNNPACK's read
  // overrun allowance and cache-line alignment.
  const int64_t counts[] = {rows * p.qk_dim, rows * p.v_dim, rows, rows, bkv * p.qk_dim,
                            bkv * p.v_dim,   bq * bkv,       bq * p.v_dim};
  uint64_t per_slot = 0;
  uint64_t offsets[8];
  for (int a = 0; a < 8; ++a) {
    offsets[a] = per_slot;
    uint64_t bytes = 0;
    if (!checked_mul_add(static_cast<uint64_t>(counts[a]), 4, xnn_read_overrun_bytes() + 63, &bytes) ||
        !checked_add(per_slot, bytes / 64 * 64, &per_slot)) {
      return out_of_host_memory("CPU workspace size overflows");
    }
  }
  slots_.reset(new Workspace[slots]);
  slot_count_ = slots;
  allocations_.reserve(static_cast<size_t>(slots));  // push_back below cannot throw
  for (int s = 0; s < slots; ++s) {
    void* memory = std::aligned_alloc(64, per_slot);
    if (memory == nullptr) {
      return out_of_host_memory("could not allocate %llu bytes of CPU workspace", (unsigned long long)per_slot);
    }
    allocations_.push_back(memory);
    float* arrays[8];
    for (int a = 0; a < 8; ++a) arrays[a] = reinterpret_cast<float*>(static_cast<uint8_t*>(memory) + offsets[a]);
    Workspace& ws = slots_[s];
    ws.queries = arrays[0];
    ws.acc = arrays[1];
    ws.row_max = arrays[2];
    ws.row_sum = arrays[3];
    ws.keys = arrays[4];
    ws.values = arrays[5];
    ws.scores = arrays[6];
    ws.products = arrays[7];
  }
  workspace_bytes_ = per_slot * static_cast<uint64_t>(slots);
  return Status();
}

AttentionKernel::Workspace* AttentionKernel::claim_workspace() const {
  // At most one task runs per pool thread and there is one slot per thread,
  // so a free slot always exists.
  for (;;) {
    for (int s = 0; s < slot_count_; ++s) {
      bool expected = false;
      if (slots_[s].busy.compare_exchange_strong(expected, true, std::memory_order_acquire)) return &slots_[s];
    }
  }
}

void AttentionKernel::task_entry(void* opaque, size_t task) {
  RunState& state = *static_cast<RunState*>(opaque);
  if (state.failed.load(std::memory_order_relaxed)) return;
  const AttentionKernel& kernel = *state.kernel;
  Workspace* ws = kernel.claim_workspace();
  // No exception may unwind into pthreadpool (C): an allocation failing
  // while a task builds its error status is reported after the region.
  try {
    Status status = kernel.run_task(static_cast<int64_t>(task), *state.tensors, *ws);
    if (!status.ok()) {
      std::lock_guard<std::mutex> lock(state.error_mutex);
      if (!state.failed.load()) state.error = status;
      state.failed.store(true);
    }
  } catch (...) {
    state.out_of_memory.store(true);
    state.failed.store(true);
  }
  ws->busy.store(false, std::memory_order_release);
}

Status AttentionKernel::run(pthreadpool_t pool, const Tensors& tensors) {
  RunState state;
  state.kernel = this;
  state.tensors = &tensors;
  pthreadpool_parallelize_1d(pool, &AttentionKernel::task_entry, &state, static_cast<size_t>(tiling_.tasks), 0);
  if (state.out_of_memory.load()) return out_of_host_memory("a host allocation failed during execution");
  return state.failed.load() ? state.error : Status();
}

namespace {

// Hides the scores of row `i` (block columns [j0, j0 + n)) that the
// range, boolean or additive masks hide, and adds the additive mask.
void mask_scores(const Problem& p, const Tensors& t, int64_t b, int64_t h, int64_t i, int64_t L, int64_t j0,
                 int64_t n, float* scores) {
  const float hidden = -std::numeric_limits<float>::infinity();
  const KeyRange range = p.key_range(i, L);
  const int64_t first = std::clamp<int64_t>(range.begin - j0, 0, n);
  const int64_t last = std::clamp<int64_t>(range.end - j0, first, n);
  for (int64_t c = 0; c < first; ++c) scores[c] = hidden;
  for (int64_t c = last; c < n; ++c) scores[c] = hidden;
  if (p.has_bool_mask) {
    const uint8_t* mask = t.bool_mask + p.bool_mask.row(b, h, i) + static_cast<uint64_t>(j0) * p.bool_mask.col_stride;
    const uint64_t stride = p.bool_mask.col_stride;
    for (int64_t c = first; c < last; ++c) scores[c] = mask[c * stride] != 0 ? scores[c] : hidden;
  }
  if (p.has_additive_mask) {
    const float* mask =
        t.additive_mask + p.additive_mask.row(b, h, i) + static_cast<uint64_t>(j0) * p.additive_mask.col_stride;
    const uint64_t stride = p.additive_mask.col_stride;
    // A -inf mask entry hides the key whatever its score (even NaN).
    for (int64_t c = first; c < last; ++c) {
      const float add = mask[c * stride];
      scores[c] = add == hidden ? hidden : scores[c] + add;
    }
  }
}

}  // namespace

Status AttentionKernel::run_task(int64_t task, const Tensors& t, Workspace& ws) const {
  const Problem& p = problem_;
  const int64_t group = p.group();
  const int64_t chunks = ceil_div(p.q_len, tiling_.task_rows);
  const int64_t chunk = task % chunks;
  const int64_t kv_head = (task / chunks) % p.kv_heads;
  const int64_t b = task / chunks / p.kv_heads;
  const int64_t r0 = chunk * tiling_.task_rows;
  const int64_t r1 = std::min(p.q_len, r0 + tiling_.task_rows);
  // The task's rows, position-major: local row = (i - r0) * group + g, so a
  // sub-tile spans every query head of the kv head (each K/V block serves
  // them all) and only a few positions (causal ranges stay tight).
  const int64_t rows = (r1 - r0) * group;
  const int64_t L = t.kv_lens != nullptr ? t.kv_lens[b] : p.kv_len;
  const size_t element = p.element_size();
  const int64_t bkv = tiling_.block_kv;
  const int64_t bq = tiling_.block_q;

  for (int64_t local = 0; local < rows; ++local) {
    const int64_t i = r0 + local / group;
    const int64_t h = kv_head * group + local % group;
    ops_.load_row(t.q + p.q.row(b, h, i) * element, p.dtype, p.qk_dim, p.scale, ws.queries + local * p.qk_dim);
  }
  std::fill(ws.row_max, ws.row_max + rows, kScoreFloor);
  std::fill(ws.row_sum, ws.row_sum + rows, 0.0f);
  std::fill(ws.acc, ws.acc + rows * p.v_dim, 0.0f);

  const KeyRange task_keys = p.key_range(r0, r1 - 1, L);
  XnnGemm qk;  // S = Q . K_block^T
  XnnGemm pv;  // O_part = P . V_block
  for (int64_t j0 = task_keys.begin; j0 < task_keys.end; j0 += bkv) {
    const int64_t n = std::min(bkv, task_keys.end - j0);
    const uint8_t* keys = t.k + p.k.row(b, kv_head, j0) * element;  // n rows, seq_stride apart
    const uint8_t* values = t.v + p.v.row(b, kv_head, j0) * element;
    bool values_finite = true;
    if (!tiling_.direct) {
      // Packed once per task for XNNPACK, then reused by every sub-tile.
      for (int64_t c = 0; c < n; ++c) {
        ops_.load_row(keys + c * p.k.seq_stride * element, p.dtype, p.qk_dim, 1.0f, ws.keys + c * p.qk_dim);
        values_finite &= ops_.load_row_check_finite(values + c * p.v.seq_stride * element, p.dtype, p.v_dim,
                                                    ws.values + c * p.v_dim);
      }
      VKATTN_RETURN_IF_ERROR(qk.create(p.qk_dim, n, ws.keys, /*transposed=*/false));
      VKATTN_RETURN_IF_ERROR(pv.create(n, p.v_dim, ws.values, /*transposed=*/true));
    }

    for (int64_t s0 = 0; s0 < rows; s0 += bq) {
      const int64_t s1 = std::min(rows, s0 + bq);
      const int64_t sub_rows = s1 - s0;
      const KeyRange sub_keys = p.key_range(r0 + s0 / group, r0 + (s1 - 1) / group, L);
      if (sub_keys.end <= j0 || sub_keys.begin >= j0 + n) continue;  // block hidden from these rows
      const float* queries = ws.queries + s0 * p.qk_dim;
      float* acc = ws.acc + s0 * p.v_dim;

      if (tiling_.direct) {
        ops_.dot_rows(queries, sub_rows, keys, p.dtype, static_cast<int64_t>(p.k.seq_stride), n, p.qk_dim,
                      ws.scores);
      } else {
        VKATTN_RETURN_IF_ERROR(qk.run(sub_rows, queries, ws.scores));
      }
      for (int64_t r = 0; r < sub_rows; ++r) {
        const int64_t local = s0 + r;
        float* scores = ws.scores + r * n;
        mask_scores(p, t, b, kv_head * group + local % group, r0 + local / group, L, j0, n, scores);
        const float alpha = ops_.softmax_step(scores, n, ws.row_max + local, ws.row_sum + local);
        if (alpha != 1.0f) ops_.scale_row(acc + r * p.v_dim, p.v_dim, alpha);
      }
      if (tiling_.direct) {
        // Values straight from the tensor; a NaN/Inf value under a zero
        // weight would poison a row (0 * NaN), so such a block is redone
        // with the path that skips zero weights.
        std::copy(acc, acc + sub_rows * p.v_dim, ws.products);
        if (!ops_.accumulate_products(ws.scores, sub_rows, n, values, p.dtype, static_cast<int64_t>(p.v.seq_stride),
                                      p.v_dim, acc)) {
          std::copy(ws.products, ws.products + sub_rows * p.v_dim, acc);
          ops_.accumulate_weighted_rows(ws.scores, sub_rows, n, values, p.dtype,
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

  for (int64_t local = 0; local < rows; ++local) {
    const int64_t i = r0 + local / group;
    const int64_t h = kv_head * group + local % group;
    const float sum = ws.row_sum[local];
    // A row that saw no key has sum 0: zeros and LSE -inf, never 0/0. A NaN
    // sum (NaN logits or values) makes the whole row NaN.
    const bool saw_keys = sum > 0.0f || sum != sum;
    ops_.store_row(ws.acc + local * p.v_dim, p.v_dim, saw_keys ? 1.0f / sum : 0.0f, p.dtype,
                   t.out + p.out.row(b, h, i) * element);
    if (t.lse != nullptr) {
      t.lse[p.lse.row(b, h, i)] =
          saw_keys ? ws.row_max[local] + std::log(sum) : -std::numeric_limits<float>::infinity();
    }
  }
  return Status();
}

}  // namespace cpu
}  // namespace vkattn
