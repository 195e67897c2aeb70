// Per-thread scratch of the CPU kernels: one slot per pool thread, each one
// aligned allocation cut into float arrays (cache-line aligned, each with
// XNNPACK's read-overrun allowance behind it), claimed by a task for its
// duration. At most one task runs per pool thread, so a free slot always
// exists.
#pragma once

#include <pthreadpool.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "runtime/status.h"

namespace vkattn {
namespace cpu {

class WorkspaceSlots {
 public:
  WorkspaceSlots() = default;
  ~WorkspaceSlots();
  WorkspaceSlots(const WorkspaceSlots&) = delete;
  WorkspaceSlots& operator=(const WorkspaceSlots&) = delete;

  // `slots` slots of `arrays` arrays, array a holding counts[a] floats.
  // OUT_OF_HOST_MEMORY (naming `what`) when the memory is not there.
  Status allocate(int slots, const int64_t* counts, int arrays, const char* what);
  float* array(int slot, int a) const { return reinterpret_cast<float*>(memory_[slot] + offsets_[a]); }
  int claim() const;
  void release(int slot) const { busy_[slot].store(false, std::memory_order_release); }
  uint64_t bytes() const { return per_slot_ * memory_.size(); }

 private:
  std::vector<uint8_t*> memory_;
  std::vector<uint64_t> offsets_;
  uint64_t per_slot_ = 0;
  std::unique_ptr<std::atomic<bool>[]> busy_;
};

// Runs body(task, slot) for tasks [0, count) on the pool's threads, each
// task with a workspace slot of `slots` claimed for it. After the first
// failure the remaining tasks are skipped and that failure is returned
// (OUT_OF_HOST_MEMORY when a task could not even build its status: no
// exception unwinds into pthreadpool).
Status run_slot_tasks(pthreadpool_t pool, size_t count, const WorkspaceSlots& slots,
                      const std::function<Status(int64_t task, int slot)>& body);

}  // namespace cpu
}  // namespace vkattn
