#include "workspace.h"

#include <cstdlib>
#include <mutex>

#include "runtime/checked_math.h"
#include "xnn_gemm.h"

namespace vkattn {
namespace cpu {

WorkspaceSlots::~WorkspaceSlots() {
  for (uint8_t* memory : memory_) std::free(memory);
}

Status WorkspaceSlots::allocate(int slots, const int64_t* counts, int arrays, const char* what) {
  offsets_.assign(static_cast<size_t>(arrays), 0);
  per_slot_ = 0;
  for (int a = 0; a < arrays; ++a) {
    offsets_[static_cast<size_t>(a)] = per_slot_;
    uint64_t bytes = 0;
    if (!checked_mul_add(static_cast<uint64_t>(counts[a]), 4, xnn_read_overrun_bytes() + 63, &bytes) ||
        !checked_add(per_slot_, bytes / 64 * 64, &per_slot_)) {
      return out_of_host_memory("the %s size overflows", what);
    }
  }
  busy_.reset(new std::atomic<bool>[static_cast<size_t>(slots)]);
  memory_.reserve(static_cast<size_t>(slots));  // push_back below cannot throw
  for (int s = 0; s < slots; ++s) {
    busy_[s].store(false);
    void* memory = std::aligned_alloc(64, per_slot_);
    if (memory == nullptr) {
      return out_of_host_memory("could not allocate %llu bytes of %s", (unsigned long long)per_slot_, what);
    }
    memory_.push_back(static_cast<uint8_t*>(memory));
  }
  return Status();
}

int WorkspaceSlots::claim() const {
  for (;;) {
    for (size_t s = 0; s < memory_.size(); ++s) {
      bool expected = false;
      if (busy_[s].compare_exchange_strong(expected, true, std::memory_order_acquire)) return static_cast<int>(s);
    }
  }
}

namespace {

struct SlotTasks {
  const WorkspaceSlots* slots;
  const std::function<Status(int64_t, int)>* body;
  std::atomic<bool> failed{false};
  std::atomic<bool> out_of_memory{false};  // a task could not even record its error
  std::mutex error_mutex;
  Status error;
};

void slot_task_entry(void* opaque, size_t task) {
  SlotTasks& state = *static_cast<SlotTasks*>(opaque);
  if (state.failed.load(std::memory_order_relaxed)) return;
  const int slot = state.slots->claim();
  try {
    Status status = (*state.body)(static_cast<int64_t>(task), slot);
    if (!status.ok()) {
      std::lock_guard<std::mutex> lock(state.error_mutex);
      if (!state.failed.load()) state.error = status;
      state.failed.store(true);
    }
  } catch (...) {
    state.out_of_memory.store(true);
    state.failed.store(true);
  }
  state.slots->release(slot);
}

}  // namespace

Status run_slot_tasks(pthreadpool_t pool, size_t count, const WorkspaceSlots& slots,
                      const std::function<Status(int64_t task, int slot)>& body) {
  SlotTasks state;
  state.slots = &slots;
  state.body = &body;
  pthreadpool_parallelize_1d(pool, &slot_task_entry, &state, count, 0);
  if (state.out_of_memory.load()) return out_of_host_memory("a host allocation failed during execution");
  if (state.failed.load()) return state.error;
  return Status();
}

}  // namespace cpu
}  // namespace vkattn
