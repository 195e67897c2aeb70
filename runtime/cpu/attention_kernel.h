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
// tasks and scores, unsplit: each row's logits feed a bounded selection of
// its k best keys instead of the softmax, and the row then attends those
// keys alone. See docs/ARCHITECTURE.md.
#pragma once

#include <pthreadpool.h>

#include <atomic>
#include <cstdint>
#include <cstring>
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

// Top-k: one candidate key of a row as one integer that orders candidates
// as the selection ranks them: the logit's bits made monotone (a higher
// logit, a larger integer; -0 counts as +0) above the key's complement (of
// equal logits, the lower key is the larger integer). The best k are the k
// largest integers; comparing them is one instruction.
using TopkCandidate = uint64_t;

inline TopkCandidate topk_candidate(float logit, int32_t key) {
  uint32_t bits;
  const float value = logit + 0.0f;  // -0 becomes +0
  std::memcpy(&bits, &value, 4);
  const uint32_t monotone = (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
  return (uint64_t{monotone} << 32) | (0xffffffffu - static_cast<uint32_t>(key));
}
inline int32_t candidate_key(TopkCandidate c) { return static_cast<int32_t>(0xffffffffu - static_cast<uint32_t>(c)); }
inline float candidate_logit(TopkCandidate c) {
  const uint32_t monotone = static_cast<uint32_t>(c >> 32);
  const uint32_t bits = (monotone & 0x80000000u) != 0 ? monotone & 0x7fffffffu : ~monotone;
  float logit;
  std::memcpy(&logit, &bits, 4);
  return logit;
}

// Top-k: a row's selection so far. Its candidates (at most 2k) are every
// key seen whose logit beat `threshold`, the k-th best logit when the
// candidates were last cut back to k (-inf before); count -1: a NaN logit
// was seen (the row is NaN).
struct TopkRow {
  int32_t count;
  float threshold;
};

// Offers keys j0 .. j0 + n - 1 with logits `scores` (hidden keys -inf) to a
// row's selection (`candidates` holds room for 2k). Keys must arrive in
// increasing order: a key whose logit only equals the threshold then ranks
// below every kept key of that logit (the lower index wins ties), so only
// logits above it are taken; when 2k are held, the best k (by logit, then
// by lower key) are kept and the threshold becomes the k-th's logit.
// Amortised O(1) per key, and where few logits beat the threshold (long
// rows) a chunk of 16 is passed over with one comparison of its maximum.
// Unit-tested.
void offer_topk(const float* scores, int64_t n, int64_t j0, int64_t k, TopkCandidate* candidates, TopkRow* row);

// Cuts a row's candidates back to its best k (where it holds more); the
// row's kept keys are then candidates[0, min(count, k)), in no order.
void finish_topk(int64_t k, TopkCandidate* candidates, TopkRow* row);

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
    // Top-k only (empty otherwise): each row's candidates (rows x 2k) and
    // selection state, then one row's weights and V rows.
    TopkCandidate* candidates = nullptr;
    TopkRow* topk_rows = nullptr;
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
