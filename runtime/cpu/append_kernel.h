// The CPU append: new keys and values into a K/V cache (vkattn_append_desc),
// one task per (sequence, kv head, token): load the source rows as f32,
// rotate the key (RoPE at its cache position), store in the cache's type.
#pragma once

#include <pthreadpool.h>

#include <cstdint>

#include "runtime/append.h"
#include "runtime/status.h"

namespace vkattn {
namespace cpu {

struct AppendTensors {
  const uint8_t* k_src = nullptr;
  const uint8_t* v_src = nullptr;
  uint8_t* k_cache = nullptr;
  uint8_t* v_cache = nullptr;
  const int32_t* positions = nullptr;    // [batch], checked
  const int32_t* block_table = nullptr;  // paged: [batch, max_pages], checked
};

void run_append(pthreadpool_t pool, const AppendProblem& problem, const AppendTensors& tensors);

}  // namespace cpu
}  // namespace vkattn
