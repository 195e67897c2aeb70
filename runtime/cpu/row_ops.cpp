#include "row_ops.h"

#include <cstring>

#include "runtime/half.h"

namespace vkattn {
namespace cpu {

namespace {

// Partial results are kept in this many independent lanes so that the
// reductions vectorise without reassociation flags; the lane order is fixed,
// so the result is the same on every run.
constexpr int kLanes = 16;

inline float bits_to_float(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

}  // namespace

float exp_nonpositive(float x) {
  // Cody-Waite reduction x = n*ln2 + r, |r| <= ln2/2, then Cephes' degree-6
  // polynomial for exp(r), then scale by 2^n built in the exponent bits.
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;
  constexpr float kLn2Lo = -2.12194440e-4f;
  constexpr float kLowest = -87.33654f;  // exp(kLowest) ~ 2^-126, smallest normal
  constexpr float kRoundMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float clamped = x > kLowest ? x : kLowest;
  const float n = (clamped * kLog2e + kRoundMagic) - kRoundMagic;
  const float r = (clamped - n * kLn2Hi) - n * kLn2Lo;
  float poly = 1.9875691500e-4f;
  poly = poly * r + 1.3981999507e-3f;
  poly = poly * r + 8.3334519073e-3f;
  poly = poly * r + 4.1665795894e-2f;
  poly = poly * r + 1.6666665459e-1f;
  poly = poly * r + 5.0000001201e-1f;
  poly = poly * r * r + r + 1.0f;
  const float two_n = bits_to_float(static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23);
  const float result = poly * two_n;
  const float flushed = x < kLowest ? 0.0f : result;
  return x != x ? x : flushed;  // NaN in, NaN out
}

float softmax_step(float* scores, int64_t n, float* m, float* l) {
  float lane_max[kLanes];
  for (int k = 0; k < kLanes; ++k) lane_max[k] = *m;
  int64_t c = 0;
  for (; c + kLanes <= n; c += kLanes) {
    for (int k = 0; k < kLanes; ++k) lane_max[k] = scores[c + k] > lane_max[k] ? scores[c + k] : lane_max[k];
  }
  for (; c < n; ++c) lane_max[0] = scores[c] > lane_max[0] ? scores[c] : lane_max[0];
  float m_new = lane_max[0];
  for (int k = 1; k < kLanes; ++k) m_new = lane_max[k] > m_new ? lane_max[k] : m_new;

  float lane_sum[kLanes] = {};
  c = 0;
  for (; c + kLanes <= n; c += kLanes) {
    for (int k = 0; k < kLanes; ++k) {
      const float p = exp_nonpositive(scores[c + k] - m_new);
      scores[c + k] = p;
      lane_sum[k] += p;
    }
  }
  for (; c < n; ++c) {
    const float p = exp_nonpositive(scores[c] - m_new);
    scores[c] = p;
    lane_sum[0] += p;
  }
  float sum = 0.0f;
  for (int k = 0; k < kLanes; ++k) sum += lane_sum[k];

  const float alpha = exp_nonpositive(*m - m_new);
  *l = *l * alpha + sum;
  *m = m_new;
  return alpha;
}

void scale_row(float* row, int64_t n, float alpha) {
  for (int64_t c = 0; c < n; ++c) row[c] *= alpha;
}

void add_row(float* dst, const float* src, int64_t n) {
  for (int64_t c = 0; c < n; ++c) dst[c] += src[c];
}

void load_row(const void* src, vkattn_dtype dtype, int64_t n, float scale, float* dst) {
  if (dtype == VKATTN_DTYPE_F16) {
    const uint16_t* in = static_cast<const uint16_t*>(src);
    for (int64_t c = 0; c < n; ++c) dst[c] = half_to_float(in[c]) * scale;
  } else {
    const float* in = static_cast<const float*>(src);
    for (int64_t c = 0; c < n; ++c) dst[c] = in[c] * scale;
  }
}

bool load_row_check_finite(const void* src, vkattn_dtype dtype, int64_t n, float* dst) {
  if (dtype == VKATTN_DTYPE_F16) {
    const uint16_t* in = static_cast<const uint16_t*>(src);
    uint32_t special = 0;  // any half with an all-ones exponent (Inf or NaN)
    for (int64_t c = 0; c < n; ++c) {
      dst[c] = half_to_float(in[c]);
      special |= (in[c] & 0x7c00u) == 0x7c00u ? 1u : 0u;
    }
    return special == 0;
  }
  const float* in = static_cast<const float*>(src);
  float probe = 0.0f;  // x - x is NaN exactly when x is NaN or Inf
  for (int64_t c = 0; c < n; ++c) {
    dst[c] = in[c];
    probe += in[c] - in[c];
  }
  return probe == 0.0f;
}

void store_row(const float* src, int64_t n, float scale, vkattn_dtype dtype, void* dst) {
  if (dtype == VKATTN_DTYPE_F16) {
    uint16_t* out = static_cast<uint16_t*>(dst);
    for (int64_t c = 0; c < n; ++c) out[c] = float_to_half(src[c] * scale);
  } else {
    float* out = static_cast<float*>(dst);
    for (int64_t c = 0; c < n; ++c) out[c] = src[c] * scale;
  }
}

void dot_rows(const float* q, int64_t rows, const float* k, int64_t n, int64_t dim, float* scores) {
  for (int64_t c = 0; c < n; ++c) {
    const float* key = k + c * dim;
    for (int64_t r = 0; r < rows; ++r) {
      const float* query = q + r * dim;
      float lane[kLanes] = {};
      int64_t d = 0;
      for (; d + kLanes <= dim; d += kLanes) {
        for (int j = 0; j < kLanes; ++j) lane[j] += query[d + j] * key[d + j];
      }
      for (; d < dim; ++d) lane[0] += query[d] * key[d];
      float sum = 0.0f;
      for (int j = 0; j < kLanes; ++j) sum += lane[j];
      scores[r * n + c] = sum;
    }
  }
}

void accumulate_weighted_rows(const float* p, int64_t rows, int64_t n, const float* v, int64_t dim, float* out) {
  for (int64_t c = 0; c < n; ++c) {
    const float* value = v + c * dim;
    for (int64_t r = 0; r < rows; ++r) {
      const float weight = p[r * n + c];
      if (weight == 0.0f) continue;
      float* acc = out + r * dim;
      for (int64_t d = 0; d < dim; ++d) acc[d] += weight * value[d];
    }
  }
}

}  // namespace cpu
}  // namespace vkattn
