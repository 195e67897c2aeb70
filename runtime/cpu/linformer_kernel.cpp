#include "linformer_kernel.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "attention_kernel.h"
#include "runtime/checked_math.h"
#include "runtime/quant.h"
#include "xnn_gemm.h"

namespace vkattn {
namespace cpu {

namespace {

// Rows of E (or F) per projection task, and keys per chunk of a task's
// walk: XNNPACK packs each chunk of kProjKeys rows once and multiplies
// kProjRows rows of E by it.
constexpr int64_t kProjRows = 64;
constexpr int64_t kProjKeys = 256;

}  // namespace

LinformerKernel::LinformerKernel(const Problem& problem) : problem_(problem), ops_(row_ops()) {}

LinformerKernel::~LinformerKernel() { std::free(projected_); }

Status LinformerKernel::create(const Problem& problem, int threads, std::unique_ptr<Kernel>* out) {
  std::unique_ptr<LinformerKernel> kernel(new LinformerKernel(problem));
  const Problem& p = kernel->problem_;
  kernel->row_blocks_ = ceil_div(p.proj_len, kProjRows);
  // batch x kv_heads x proj_len x (qk_dim + v_dim) x 4 bytes is
  // representable (make_problem checked it).
  const uint64_t heads = static_cast<uint64_t>(p.batch) * static_cast<uint64_t>(p.kv_heads);
  kernel->v_offset_ = heads * static_cast<uint64_t>(p.proj_len) * static_cast<uint64_t>(p.qk_dim);
  kernel->projected_floats_ = kernel->v_offset_ + heads * static_cast<uint64_t>(p.proj_len) * static_cast<uint64_t>(p.v_dim);
  const uint64_t bytes = kernel->projected_floats_ * 4;
  if (bytes > static_cast<uint64_t>(PTRDIFF_MAX) - 64 ||
      (kernel->projected_ = static_cast<float*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64))) == nullptr) {
    return out_of_host_memory("could not allocate %llu bytes for Linformer's projected keys and values",
                              (unsigned long long)bytes);
  }
  const int64_t dim = std::max(p.qk_dim, p.v_dim);
  const int64_t counts[] = {kProjKeys * dim, kProjRows * kProjKeys, kProjRows * dim};
  VKATTN_RETURN_IF_ERROR(kernel->slots_.allocate(std::max(threads, 1), counts, 3, "CPU Linformer workspace"));
  VKATTN_RETURN_IF_ERROR(AttentionKernel::create(linformer_attend_problem(p, VKATTN_DTYPE_F32), threads, &kernel->attend_));
  *out = std::move(kernel);
  return Status();
}

PlanInfo LinformerKernel::info() const {
  PlanInfo info = attend_->info();
  info.kernel = "cpu.linformer+" + info.kernel;
  info.tasks = static_cast<uint32_t>(std::min<uint64_t>(UINT32_MAX, static_cast<uint64_t>(tasks()) + info.tasks));
  info.workspace_bytes += projected_floats_ * 4 + slots_.bytes();
  return info;
}

Status LinformerKernel::project(int64_t task, const Tensors& t, int slot) const {
  const Problem& p = problem_;
  const int64_t block = task % row_blocks_;
  const bool values = (task / row_blocks_) % 2 == 1;
  const int64_t unit = task / (2 * row_blocks_);
  const int64_t b = unit / p.kv_heads, h = unit % p.kv_heads;
  const int64_t first = block * kProjRows, rows = std::min(kProjRows, p.proj_len - first);
  const int64_t dim = values ? p.v_dim : p.qk_dim;
  const TensorView& view = values ? p.v : p.k;
  const vkattn_dtype dtype = values ? p.v_dtype : p.k_dtype;
  const uint8_t* base = values ? t.v : t.k;
  const float* matrix = (values ? *p.proj_f : *p.proj_e).data();
  float* gathered = slots_.array(slot, 0);
  float* weights = slots_.array(slot, 1);
  float* product = slots_.array(slot, 2);
  float* out = projected_ + (values ? v_offset_ : 0) +
               (static_cast<uint64_t>(unit) * static_cast<uint64_t>(p.proj_len) + static_cast<uint64_t>(first)) *
                   static_cast<uint64_t>(dim);
  std::fill(out, out + rows * dim, 0.0f);
  // Keys from the length on are not read (E's columns there count as 0).
  const int64_t keys = t.kv_lens != nullptr ? t.kv_lens[b] : p.kv_len;
  XnnGemm gemm;
  for (int64_t j0 = 0; j0 < keys; j0 += kProjKeys) {
    const int64_t n = std::min(kProjKeys, keys - j0);
    for (int64_t c = 0; c < n; ++c) {
      const uint8_t* row = base + storage_offset(dtype, p.key_row(view, t.block_table, b, h, j0 + c));
      ops_.load_row(row, dtype, dim, 1.0f, gathered + c * dim);
    }
    for (int64_t r = 0; r < rows; ++r) {
      const float* source = matrix + p.projection_row(h, first + r) + j0;
      std::copy(source, source + n, weights + r * n);
    }
    // product [rows, dim] = weights [rows, n] . gathered [n, dim].
    VKATTN_RETURN_IF_ERROR(gemm.create(n, dim, gathered, /*transposed=*/true));
    VKATTN_RETURN_IF_ERROR(gemm.run(rows, weights, product));
    ops_.add_row(out, product, rows * dim);
  }
  return Status();
}

Status LinformerKernel::run(pthreadpool_t pool, const Tensors& tensors) {
  VKATTN_RETURN_IF_ERROR(run_slot_tasks(pool, static_cast<size_t>(tasks()), slots_,
                                        [&](int64_t task, int slot) { return project(task, tensors, slot); }));
  Tensors projected = tensors;
  projected.k = reinterpret_cast<const uint8_t*>(projected_);
  projected.v = reinterpret_cast<const uint8_t*>(projected_ + v_offset_);
  projected.kv_lens = nullptr;
  projected.block_table = nullptr;
  return attend_->run(pool, projected);
}

}  // namespace cpu
}  // namespace vkattn
