// The vector code between and around the two XNNPACK products: the online
// softmax step on a row of scores, row rescaling, dtype conversion and the
// small-row (direct) products. Written once (row_ops_impl.h) as plain loops
// the compiler vectorises (fixed-width lane arrays instead of reductions,
// selects instead of branches), compiled once per instruction-set level, and
// chosen at run time for the CPU at hand. Results do not depend on the level.
#pragma once

#include <cstdint>

#include "vkattn.h"

namespace vkattn {
namespace cpu {

// The running maximum starts at this finite floor, never -inf, so
// exp(m_old - m_new) is always defined; -inf scores (hidden keys) still give
// exactly 0 weight.
constexpr float kScoreFloor = -3.402823466e+38f;

struct RowOps {
  const char* isa;  // "avx512", "avx2", "baseline" (x86-64); "neon" (arm64); "baseline" elsewhere

  // exp(x) for x <= 0, -inf included (gives 0); NaN propagates. Relative
  // error below 2e-7 for x >= -87.3; results below 2^-126 flush to 0.
  float (*exp_nonpositive)(float x);

  // One online-softmax step for a row of n scores (already scaled and
  // masked, hidden keys = -inf): m_new = max(m, max(scores)); scores[c]
  // becomes exp(scores[c] - m_new); l = l * alpha + sum; m = m_new. Returns
  // alpha = exp(m_old - m_new), the factor the row's accumulator must take.
  float (*softmax_step)(float* scores, int64_t n, float* m, float* l);

  // row[c] *= alpha.
  void (*scale_row)(float* row, int64_t n, float alpha);

  // Linear attention's features: row[c] = exp(row[c] - shift) for
  // arguments <= 0 (FAVOR+), and row[c] = elu(row[c]) + 1 (row[c] + 1
  // above 0, exp(row[c]) otherwise). NaN stays NaN.
  void (*exp_shifted_row)(float* row, int64_t n, float shift);
  void (*elu_plus_one_row)(float* row, int64_t n);

  // dst[c] += src[c].
  void (*add_row)(float* dst, const float* src, int64_t n);

  // dst[c] += src[c] * scale (a multiply, then an add: no fused rounding).
  void (*add_scaled_row)(float* dst, const float* src, int64_t n, float scale);

  // Storage dtypes below: F32, F16, and for K/V rows Q8_0 / Q4_0 (n and dim
  // multiples of 32, strides in values, each value code * d exactly).
  // Copies n elements of storage dtype to f32, multiplying by `scale`.
  void (*load_row)(const void* src, vkattn_dtype dtype, int64_t n, float scale, float* dst);

  // Like load_row with scale 1; returns false if any element is NaN or Inf.
  bool (*load_row_check_finite)(const void* src, vkattn_dtype dtype, int64_t n, float* dst);

  // Writes n f32 values to storage dtype, each multiplied by `scale`.
  void (*store_row)(const float* src, int64_t n, float scale, vkattn_dtype dtype, void* dst);

  // scores[r * n + c] = dot(q[r * dim ...], key c) for r < rows, c < n, where
  // key c is `dim` elements of storage dtype at k + c * stride (read straight
  // from the tensor, each key row once for all rows).
  void (*dot_rows)(const float* q, int64_t rows, const void* k, vkattn_dtype dtype, int64_t stride, int64_t n,
                   int64_t dim, float* scores);

  // out[r * dim ...] += sum over c of p[r * n + c] * value c (storage dtype,
  // `stride` elements apart), register-blocked. Returns false if some weight
  // is exactly 0 and some value is NaN or Inf: then the caller must restore
  // `out` and use accumulate_weighted_rows, because 0 * NaN would reach a row
  // that does not see that key.
  bool (*accumulate_products)(const float* p, int64_t rows, int64_t n, const void* v, vkattn_dtype dtype,
                              int64_t stride, int64_t dim, float* out);

  // The same, skipping zero weights, so NaN or Inf under a zero weight never
  // reaches out.
  void (*accumulate_weighted_rows)(const float* p, int64_t rows, int64_t n, const void* v, vkattn_dtype dtype,
                                   int64_t stride, int64_t dim, float* out);

  // The same three over key rows given one pointer each (paged K/V), in
  // the same order of operations: bitwise the results of the strided ones
  // over the same rows. rows[n .. n + kGatherPrefetchRows) must point at
  // rows too (the keys that follow, or any valid row): they are requested
  // ahead, as the strided kernels request the rows after theirs.
  void (*dot_rows_gather)(const float* q, int64_t rows, const uint8_t* const* k, vkattn_dtype dtype, int64_t n,
                          int64_t dim, float* scores);
  bool (*accumulate_products_gather)(const float* p, int64_t rows, int64_t n, const uint8_t* const* v,
                                     vkattn_dtype dtype, int64_t dim, float* out);
  void (*accumulate_weighted_rows_gather)(const float* p, int64_t rows, int64_t n, const uint8_t* const* v,
                                          vkattn_dtype dtype, int64_t dim, float* out);
};

// The index stride between gathered rows in the row templates' index
// space (head dimensions are far below it).
constexpr int64_t kGatherStride = int64_t{1} << 24;
// Row pointers a gathered block carries past its n keys, for prefetching.
constexpr int64_t kGatherPrefetchRows = 16;

// The best implementation this CPU supports (chosen once per process).
const RowOps& row_ops();

// Every implementation this CPU can run, best first (for tests and benches).
int available_row_ops(const RowOps** out, int capacity);

}  // namespace cpu
}  // namespace vkattn
