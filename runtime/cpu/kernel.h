// What the CPU plan runs: one kernel per plan, chosen by the problem's mode
// (the exact attention kernel, or linear attention), behind one interface.
#pragma once

#include <pthreadpool.h>

#include <cstdint>

#include "runtime/backend.h"
#include "runtime/status.h"

namespace vkattn {
namespace cpu {

// Raw tensor addresses of one execution (buffers already bounds-checked).
struct Tensors {
  const uint8_t* q = nullptr;
  const uint8_t* k = nullptr;
  const uint8_t* v = nullptr;
  uint8_t* out = nullptr;
  const float* additive_mask = nullptr;
  const uint8_t* bool_mask = nullptr;
  float* lse = nullptr;
  const int32_t* kv_lens = nullptr;
  const int32_t* block_table = nullptr;  // paged K/V: [batch, max_pages]
  const int32_t* q_lens = nullptr;       // ragged batches and packed queries: [batch]
  const int32_t* q_starts = nullptr;     // packed queries: each sequence's first packed row [batch]
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  // One execution on the pool's threads.
  virtual Status run(pthreadpool_t pool, const Tensors& tensors) = 0;
  // The kernel's name, tiling, tasks and workspace.
  virtual PlanInfo info() const = 0;
};

}  // namespace cpu
}  // namespace vkattn
