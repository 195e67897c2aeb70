// AppendProblem: a vkattn_append_desc after validation, in the form the
// backends consume, and the execution-time checks of its bindings
// (positions, block table, buffers).
#pragma once

#include <cstdint>
#include <vector>

#include "backend.h"
#include "problem.h"
#include "status.h"
#include "vkattn.h"

struct vkattn_plan_t;

namespace vkattn {

struct AppendProblem {
  int64_t batch = 0;
  int64_t kv_heads = 0;
  int64_t new_tokens = 0;
  int64_t kv_len = 0;  // cache positions per sequence
  int64_t qk_dim = 0;
  int64_t v_dim = 0;
  vkattn_dtype src_dtype = VKATTN_DTYPE_F32;  // new K and V: F32 or F16
  vkattn_dtype k_dtype = VKATTN_DTYPE_F32;    // caches: F32, F16, Q8_0, Q4_0
  vkattn_dtype v_dtype = VKATTN_DTYPE_F32;
  int64_t page_size = 0;  // > 0: caches are page pools (views' batch axis = pages)
  int64_t num_pages = 0;
  int64_t max_pages = 0;
  Rope rope;  // applied to the new keys at their cache positions
  TensorView k_src, v_src;  // [batch, kv_heads, new_tokens, dim]
  TensorView k, v;          // the caches, as Problem::k / Problem::v

  bool paged() const { return page_size > 0; }

  // Element index of cache position j of (batch b, kv head h) in `view`.
  uint64_t cache_row(const TensorView& view, const int32_t* block_table, int64_t b, int64_t h, int64_t j) const {
    if (!paged()) return view.row(b, h, j);
    return view.row(block_table[b * max_pages + j / page_size], h, j % page_size);
  }
};

Status make_append_problem(const vkattn_append_desc& desc, AppendProblem* out);

// One append execution's buffers and host arrays, checked.
struct AppendArgs {
  DeviceBuffer* k_src = nullptr;
  DeviceBuffer* v_src = nullptr;
  DeviceBuffer* k_cache = nullptr;
  DeviceBuffer* v_cache = nullptr;
  std::vector<int32_t> positions;    // [batch], each in [0, kv_len - new_tokens]
  std::vector<int32_t> block_table;  // paged: [batch, max_pages], the entries written checked
};

Status check_append_bindings(const vkattn_plan_t& plan, const AppendProblem& problem,
                             const vkattn_append_bindings& bindings, AppendArgs* out);

}  // namespace vkattn
