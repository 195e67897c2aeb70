// The straightforward attention of NumPy/PyTorch tutorials, as the yardstick:
//   s = q @ k.T; s *= scale; s[mask] = -inf; e = exp(s - s.max(-1)); p = e / e.sum(-1); o = p @ v
// with the whole [B, H, Sq, Skv] score matrix materialised, the two products
// as XNNPACK GEMMs and each elementwise step one pass over the matrix (libm
// exp), all on the same threads as vkattn's CPU backend.
#pragma once

#include <cstdint>
#include <string>

#include "reference.h"

namespace vkattn_bench {

struct BaselineResult {
  bool ran = false;
  std::string why_not;   // e.g. "out of memory: needs 8.0 GiB for the score matrix"
  double min_ms = 0.0;
  double median_ms = 0.0;
  uint64_t extra_bytes = 0;  // the score matrix
  double max_error = 0.0;    // on the sampled rows, relative to their output scale
};

// Score matrices larger than this are reported as out of memory: the budget
// of the phones and small GPUs vkattn targets, and of this 24 GiB machine's
// share for one operator.
constexpr uint64_t kBaselineMemoryLimit = uint64_t{4} << 30;

BaselineResult run_baseline(const vkattn_test::HostInputs& inputs, int threads, int runs);

}  // namespace vkattn_bench
