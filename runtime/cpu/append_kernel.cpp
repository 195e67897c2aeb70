#include "append_kernel.h"

#include <cmath>
#include <cstring>

#include "row_ops.h"
#include "runtime/quant.h"

namespace vkattn {
namespace cpu {

namespace {

struct AppendRun {
  const AppendProblem* problem;
  const AppendTensors* tensors;
  const RowOps* ops;
};

// Writes one f32 row of `dim` values into a cache row of `dtype` at byte `out`:
// f32 as is, f16 rounded to nearest even, q8_0 / q4_0 block by block with
// vkattn_quantize's quantizer; a block holding NaN or Inf gets a NaN scale
// and zero codes (all its values read NaN).
void store_cache_row(const RowOps& ops, const float* row, int64_t dim, vkattn_dtype dtype, uint8_t* out) {
  if (!is_block_dtype(dtype)) {
    ops.store_row(row, dim, 1.0f, dtype, out);  // times 1: exact
    return;
  }
  const uint64_t bytes = block_bytes(dtype);
  for (int64_t block = 0; block < dim / kQuantBlock; ++block) {
    const float* values = row + block * kQuantBlock;
    uint8_t* target = out + static_cast<uint64_t>(block) * bytes;
    bool finite = true;
    for (int64_t j = 0; j < kQuantBlock; ++j) finite &= std::isfinite(values[j]);
    if (!finite) {
      std::memset(target, 0, bytes);
      const uint16_t nan_scale = 0x7e00;
      std::memcpy(target, &nan_scale, 2);
    } else if (dtype == VKATTN_DTYPE_Q8_0) {
      quantize_block_q8_0(values, target);
    } else {
      quantize_block_q4_0(values, target);
    }
  }
}

void append_entry(void* opaque, size_t task) {
  const AppendRun& run = *static_cast<const AppendRun*>(opaque);
  const AppendProblem& p = *run.problem;
  const AppendTensors& t = *run.tensors;
  const int64_t index = static_cast<int64_t>(task);
  const int64_t token = index % p.new_tokens;
  const int64_t h = index / p.new_tokens % p.kv_heads;
  const int64_t b = index / p.new_tokens / p.kv_heads;
  const int64_t position = t.positions[b] + token;
  const uint64_t src_bytes = dtype_size(p.src_dtype);
  float row[VKATTN_MAX_HEAD_DIM];

  run.ops->load_row(t.k_src + p.k_src.row(b, h, token) * src_bytes, p.src_dtype, p.qk_dim, 1.0f, row);
  p.rope.rotate(row, position);
  store_cache_row(*run.ops, row, p.qk_dim, p.k_dtype,
                  t.k_cache + storage_offset(p.k_dtype, p.cache_row(p.k, t.block_table, b, h, position)));

  run.ops->load_row(t.v_src + p.v_src.row(b, h, token) * src_bytes, p.src_dtype, p.v_dim, 1.0f, row);
  store_cache_row(*run.ops, row, p.v_dim, p.v_dtype,
                  t.v_cache + storage_offset(p.v_dtype, p.cache_row(p.v, t.block_table, b, h, position)));
}

}  // namespace

void run_append(pthreadpool_t pool, const AppendProblem& problem, const AppendTensors& tensors) {
  AppendRun run{&problem, &tensors, &row_ops()};
  const size_t rows = static_cast<size_t>(problem.batch * problem.kv_heads * problem.new_tokens);
  pthreadpool_parallelize_1d(pool, &append_entry, &run, rows, 0);
}

}  // namespace cpu
}  // namespace vkattn
