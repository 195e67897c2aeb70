// The one tolerance table. Errors are measured against the float64 reference
// and expressed relative to the case's output scale (the largest |O|).
#pragma once

#include <cmath>

#include "vkattn.h"

namespace vkattn_test {

// Storage-dtype tolerance, relative to the output scale.
inline double dtype_tolerance(vkattn_dtype dtype) { return dtype == VKATTN_DTYPE_F16 ? 2e-3 : 1e-5; }

// f32 unit roundoff (2^-24).
constexpr double kF32Roundoff = 5.9604644775390625e-8;

// Largest acceptable |O - O_ref|. Besides the dtype term, logits computed in
// f32 carry a rounding error of about u * sqrt(qk_dim) * sum_d |scale q_d k_d|,
// and the softmax passes a logit error e on as at most 2 * e * max|V|. For
// ordinary data (|logits| of a few units) that term is below 1e-6; for the
// large-logit cases (|logits| ~ 1e4) it is what f32 arithmetic can promise.
inline double allowed_abs_error(vkattn_dtype dtype, double output_scale, double max_abs_v,
                                double max_logit_magnitude, int64_t qk_dim) {
  const double logit_error = kF32Roundoff * std::sqrt(static_cast<double>(qk_dim)) * max_logit_magnitude;
  return dtype_tolerance(dtype) * output_scale + 2.0 * max_abs_v * logit_error;
}

// Largest acceptable |LSE - LSE_ref| (LSE is always f32).
inline double allowed_lse_error(double reference_lse, double max_logit_magnitude, int64_t qk_dim) {
  const double logit_error = kF32Roundoff * std::sqrt(static_cast<double>(qk_dim)) * max_logit_magnitude;
  return dtype_tolerance(VKATTN_DTYPE_F32) * std::fmax(1.0, std::fabs(reference_lse)) + logit_error;
}

}  // namespace vkattn_test
