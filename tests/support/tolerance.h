// The one tolerance table. Errors are measured against the float64 reference
// and expressed relative to the case's output scale (the largest |O|).
#pragma once

#include <cmath>
#include <cstdint>

#include "vkattn.h"

namespace vkattn_test {

// Storage-dtype tolerance, relative to the output scale: the bound every case
// with ordinary data must meet, whatever the backend.
inline double dtype_tolerance(vkattn_dtype dtype) { return dtype == VKATTN_DTYPE_F16 ? 2e-3 : 1e-5; }

// f32 unit roundoff (2^-24).
constexpr double kF32Roundoff = 5.9604644775390625e-8;

// Above this bound on |logit| (scale * sum_d |q_d k_d|) a case counts as a
// large-logit case. Ordinary data stays far below it: unit-variance Q and K
// give about 0.8 * sqrt(qk_dim), at most ~13 for qk_dim = 256.
constexpr double kLargeLogitMagnitude = 100.0;

// The error f32 arithmetic itself puts on the logits of a large-logit case:
// about u * sqrt(qk_dim) * sum_d |scale q_d k_d| (a logit of 1e4 cannot even be
// stored closer than 6e-4). The softmax passes a logit error e on to O as at
// most 2 * e * max|V|. For ordinary data this allowance is not granted: the
// dtype tolerance alone applies there.
inline double large_logit_error(double max_logit_magnitude, int64_t qk_dim) {
  if (!(max_logit_magnitude > kLargeLogitMagnitude)) return 0.0;
  return kF32Roundoff * std::sqrt(static_cast<double>(qk_dim)) * max_logit_magnitude;
}

// The relative error an f32 accumulation over a row of N keys carries: about
// u * sqrt(N) times the size of the summed terms (max|V|), not of |O|, which
// long averages of mixed-sign V shrink. Granted only to long rows, those where
// it exceeds the f32 tolerance itself (N > (1e-5 / u)^2, about 28,000 keys);
// the conformance matrix stays below that (at most 20,000 keys), so the dtype
// tolerance alone applies there.
inline double long_row_error(int64_t max_row_keys) {
  const double error = kF32Roundoff * std::sqrt(static_cast<double>(max_row_keys));
  return error > dtype_tolerance(VKATTN_DTYPE_F32) ? error : 0.0;
}

// Top-k: the smallest gap between a kept and a dropped logit at which a
// kernel's f32 logits are sure to order them as the float64 reference does,
// for a row whose largest scale * sum_d |q_d k_d| is `magnitude`: over ten
// times u * sqrt(qk_dim) * magnitude at qk_dim = 256 (f32 dot products,
// RoPE, soft-capping and ALiBi each err by a few units of u * magnitude).
inline double topk_selection_margin(double magnitude) { return 2e-5 * std::fmax(1.0, magnitude); }

// Largest acceptable |O - O_ref|.
inline double allowed_abs_error(vkattn_dtype dtype, double output_scale, double max_abs_v,
                                double max_logit_magnitude, int64_t qk_dim, int64_t max_row_keys) {
  return dtype_tolerance(dtype) * output_scale +
         max_abs_v * (2.0 * large_logit_error(max_logit_magnitude, qk_dim) + long_row_error(max_row_keys));
}

// Largest acceptable |LSE - LSE_ref| (LSE is always f32). The row sum's
// relative error becomes an absolute error of the logarithm.
inline double allowed_lse_error(double reference_lse, double max_logit_magnitude, int64_t qk_dim,
                                int64_t max_row_keys) {
  return dtype_tolerance(VKATTN_DTYPE_F32) * std::fmax(1.0, std::fabs(reference_lse)) +
         large_logit_error(max_logit_magnitude, qk_dim) + long_row_error(max_row_keys);
}

}  // namespace vkattn_test
