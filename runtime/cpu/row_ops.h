// The vector code between and around the two XNNPACK products: the online
// softmax step on a row of scores, row rescaling, dtype conversion and the
// small-row (direct) products. Plain loops written so the compiler vectorises
// them (fixed-width lane arrays instead of reductions, selects instead of
// branches); results do not depend on the instruction set chosen.
#pragma once

#include <cstdint>

#include "vkattn.h"

namespace vkattn {
namespace cpu {

// The running maximum starts at this finite floor, never -inf, so
// exp(m_old - m_new) is always defined; -inf scores (hidden keys) still give
// exactly 0 weight.
constexpr float kScoreFloor = -3.402823466e+38f;

// exp(x) for x <= 0, -inf included (gives 0); NaN propagates. Relative error
// below 2e-7 for x >= -87.3; results below 2^-126 flush to 0.
float exp_nonpositive(float x);

// One online-softmax step for a row of n scores (already scaled and masked,
// hidden keys = -inf): m_new = max(m, max(scores)); scores[c] becomes
// exp(scores[c] - m_new); l = l * alpha + sum; m = m_new. Returns alpha =
// exp(m_old - m_new), the factor the row's output accumulator must take.
float softmax_step(float* scores, int64_t n, float* m, float* l);

// row[c] *= alpha.
void scale_row(float* row, int64_t n, float alpha);

// dst[c] += src[c].
void add_row(float* dst, const float* src, int64_t n);

// Copies n elements of storage dtype to f32, multiplying by `scale`.
void load_row(const void* src, vkattn_dtype dtype, int64_t n, float scale, float* dst);

// Like load_row with scale 1; returns false if any element is NaN or Inf.
bool load_row_check_finite(const void* src, vkattn_dtype dtype, int64_t n, float* dst);

// Writes n f32 values to storage dtype, each multiplied by `scale`.
void store_row(const float* src, int64_t n, float scale, vkattn_dtype dtype, void* dst);

// scores[r * n + c] = dot(q[r * dim ...], k[c * dim ...]) for r < rows, c < n.
void dot_rows(const float* q, int64_t rows, const float* k, int64_t n, int64_t dim, float* scores);

// out[r * dim ...] += sum over c of p[r * n + c] * v[c * dim ...], skipping
// zero weights so that NaN or Inf under a zero weight never reaches out.
void accumulate_weighted_rows(const float* p, int64_t rows, int64_t n, const float* v, int64_t dim, float* out);

}  // namespace cpu
}  // namespace vkattn
