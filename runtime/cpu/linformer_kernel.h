// Linformer on the CPU (VKATTN_MODE_LINFORMER): first the projections
// K' = E K and V' = F V along the sequence, per (batch, kv head), into f32
// arrays [batch, kv_heads, proj_len, dim] the plan owns; then the exact
// attention kernel over those proj_len keys (linformer_attend_problem).
//
// A projection task owns (batch, kv head, K or V, a block of kProjRows
// rows of E or F). It walks the sequence's keys (below its length) in
// chunks of kProjKeys: the chunk's rows are gathered to f32 (any storage,
// paged or not), the block of E's columns copied beside them, and XNNPACK
// multiplies the two (E block . K chunk, K packed as the weights), the
// product added into K'. The chunks run in order and the blocks depend on
// the problem only, so results do not change with the thread count.
#pragma once

#include <cstdint>
#include <memory>

#include "kernel.h"
#include "row_ops.h"
#include "workspace.h"
#include "runtime/problem.h"

namespace vkattn {
namespace cpu {

class LinformerKernel final : public Kernel {
 public:
  static Status create(const Problem& problem, int threads, std::unique_ptr<Kernel>* out);
  ~LinformerKernel() override;

  Status run(pthreadpool_t pool, const Tensors& tensors) override;
  PlanInfo info() const override;

 private:
  explicit LinformerKernel(const Problem& problem);
  int64_t tasks() const { return problem_.batch * problem_.kv_heads * 2 * row_blocks_; }
  Status project(int64_t task, const Tensors& tensors, int slot) const;

  Problem problem_;
  const RowOps& ops_;
  int64_t row_blocks_ = 0;       // blocks of kProjRows rows of E (and F)
  float* projected_ = nullptr;   // K' [batch, kv_heads, proj_len, qk_dim], then V' (.., v_dim)
  uint64_t projected_floats_ = 0;
  uint64_t v_offset_ = 0;        // where V' starts, in floats
  WorkspaceSlots slots_;         // per slot: gathered rows, E's block, the product
  std::unique_ptr<Kernel> attend_;
};

}  // namespace cpu
}  // namespace vkattn
