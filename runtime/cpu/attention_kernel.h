// The CPU attention kernel: tiled over queries and keys with an online softmax,
// memory bounded (nothing is ever q_len x kv_len), parallel over tasks.
//
// Work is cut into tasks of (batch, kv head, chunk of query positions). A task
// owns every query head that shares its kv head (GQA/MQA group), so each K/V
// block it packs for XNNPACK serves group x chunk rows. For each key block
// visible to the task it packs K and V once, then for each sub-tile of
// block_q rows: S = Q.K^T (XNNPACK), mask, online-softmax step, O = O*alpha +
// P.V (XNNPACK). Tasks whose rows are too few to repay packing (decode) use
// direct dot products instead ("direct" kernel); when such tasks are few, each
// (batch, kv head, chunk) is also split along the keys into kv_splits tasks
// whose partial softmax states (unnormalised O, running max, sum) a second
// pass merges in split order (flash-decoding). Top-k problems use the same
// tasks and scores, unsplit: each row's logits feed a bounded heap of its k
// best keys instead of the softmax, and the row then attends those keys
// alone. See docs/ARCHITECTURE.md.
#pragma once

#include <pthreadpool.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernel.h"
#include "row_ops.h"
#include "workspace.h"
#include "runtime/problem.h"
#include "runtime/status.h"

namespace vkattn {
namespace cpu {

struct Tiling {
  int64_t block_kv = 0;   // keys per block
  int64_t block_q = 0;    // query rows per GEMM sub-tile
  int64_t task_rows = 0;  // query positions per task (for each head of the group)
  int64_t kv_splits = 1;  // tasks per (batch, kv head, query chunk), each over split_len keys
  int64_t split_len = 0;  // keys per split, a multiple of block_kv (kv_len when kv_splits = 1)
  int64_t tasks = 0;      // batch * kv_heads * ceil(q_len / task_rows) * kv_splits
  bool direct = false;    // products without XNNPACK (few rows per task)
};

// Top-k: one kept key of a row, by its logit.
struct TopkCandidate {
  float logit;
  int32_t key;
};

// Offers keys j0 .. j0 + n - 1 with logits `scores` (hidden keys -inf) to a
// row's selection: `heap` holds its best *count (<= k) keys so far as a
// min-heap (the root is the one to drop first: the lowest logit, of equal
// logits the highest key). Keys must arrive in increasing order, so an
// arriving key never displaces a kept key of equal logit (the lower index
// wins ties). A NaN logit sets *count to -1 (the row is NaN) and ends the
// row's selection. Unit-tested.
void offer_topk(const float* scores, int64_t n, int64_t j0, int64_t k, TopkCandidate* heap, int32_t* count);

// Pure function of the problem and thread count; unit-tested. The key
// splits depend on the problem only, so results do not change with threads.
Tiling choose_tiling(const Problem& problem, int threads);

class AttentionKernel final : public Kernel {
 public:
  static Status create(const Problem& problem, int threads, std::unique_ptr<Kernel>* out);
  ~AttentionKernel() override;

  Status run(pthreadpool_t pool, const Tensors& tensors) override;
  PlanInfo info() const override;

  const Tiling& tiling() const { return tiling_; }
  uint64_t workspace_bytes() const { return workspace_bytes_; }

 private:
  // The scratch arrays of one running task (a slot of slots_).
  struct Workspace {
    float* queries = nullptr;  // rows x qk_dim, pre-scaled
    float* acc = nullptr;      // rows x v_dim, unnormalised output
    float* row_max = nullptr;  // rows
    float* row_sum = nullptr;  // rows
    float* keys = nullptr;     // block_kv x qk_dim
    float* values = nullptr;   // block_kv x v_dim
    float* scores = nullptr;   // block_q x block_kv
    float* products = nullptr; // block_q x v_dim
    // Top-k only (empty otherwise): each row's heap of kept keys (rows x k)
    // and its size (-1: a NaN logit), then one row's weights and V rows.
    TopkCandidate* candidates = nullptr;
    int32_t* candidate_counts = nullptr;
    float* weights = nullptr;                // k
    const uint8_t** value_rows = nullptr;    // k + kGatherPrefetchRows
  };
  struct MergeState;
  // A (batch, kv head, chunk of query positions): the rows a task (or, with
  // key splits, kv_splits tasks) owns, numbered batch-major.
  struct WorkUnit {
    int64_t batch, kv_head, first_query, end_query;
  };
  WorkUnit work_unit(int64_t unit) const;

  AttentionKernel(const Problem& problem, const Tiling& tiling);
  Status allocate(int slots);
  Workspace workspace(int slot) const;
  Status run_task(int64_t task, const Tensors& tensors, Workspace& ws) const;
  void merge_splits(int64_t unit, const Tensors& tensors) const;
  // Top-k: the softmax over the row's kept keys into ws's row state.
  void attend_topk_row(const Tensors& tensors, int64_t b, int64_t kv_head, int64_t local, Workspace& ws) const;
  // Normalises one row's state into O (and LSE).
  void store_output_row(const Tensors& tensors, int64_t b, int64_t h, int64_t i, const float* acc, float max,
                        float sum) const;
  static void merge_entry(void* state, size_t unit);

  Problem problem_;
  Tiling tiling_;
  const RowOps& ops_;  // the row kernels for this CPU
  uint64_t workspace_bytes_ = 0;
  WorkspaceSlots slots_;
  // kv_splits > 1: per task and row, its unnormalised O (v_dim floats), then
  // its running max and sum; rows_per_task * (v_dim + 2) floats per task.
  float* partials_ = nullptr;
};

}  // namespace cpu
}  // namespace vkattn
