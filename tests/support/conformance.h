// The conformance matrix and its runner, shared by the ctest suites and the
// vkattn-conformance tool: one list of cases, each generated from a fixed
// seed, run through the public API on a given context, and checked element
// by element against the float64 reference.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "reference.h"
#include "vkattn.h"

namespace vkattn_test {

enum class Layout {
  kBhsd,    // contiguous [B, H, S, D]
  kBshd,    // contiguous [B, S, H, D]
  kPacked,  // one buffer [B, S, Hq + 2*Hkv, D] holding Q, K and V (needs Sq == Skv, Dqk == Dv)
  kPadded,  // BHSD with gaps between rows and heads (strides larger than dense)
};

enum class MaskShape {
  kNone,
  kDense,        // [B, Hq, Sq, Skv]
  kShared,       // [1, 1, Sq, Skv]: broadcast over batch and heads
  kPerBatch,     // [B, 1, Sq, Skv]: broadcast over heads
  kKeyPadding,   // [B, 1, 1, Skv]: broadcast over heads and queries
};

struct CaseSpec {
  std::string group;  // the matrix section this case belongs to
  int64_t batch = 1;
  int64_t q_heads = 1;
  int64_t kv_heads = 1;
  int64_t q_len = 1;
  int64_t kv_len = 1;
  int64_t qk_dim = 64;
  int64_t v_dim = 64;
  vkattn_dtype dtype = VKATTN_DTYPE_F32;
  float scale = 0.0f;
  vkattn_causal causal = VKATTN_CAUSAL_NONE;
  int64_t window_left = -1;
  int64_t window_right = -1;
  MaskShape additive_mask = MaskShape::kNone;
  MaskShape bool_mask = MaskShape::kNone;
  bool kv_lens = false;
  bool lse = true;
  Layout layout = Layout::kBhsd;
  double logit_target = 0.0;     // > 0: scale Q and K so the largest |logit| is about this
  bool empty_rows = false;       // make some query rows see no key at all
  bool plant_nan = false;        // NaN in every K/V slot that no query of its group sees
  int runs = 1;                  // > 1: every run must be bitwise identical to the first

  std::string name() const;
};

// The whole matrix (well over 200 cases), in a fixed order.
std::vector<CaseSpec> conformance_cases();

struct CaseResult {
  bool passed = false;
  bool skipped = false;
  std::string message;       // why it failed or was skipped
  double error = 0.0;        // max |O - O_ref| / output scale
  double allowed = 0.0;      // the tolerance on that same scale
  double lse_error = 0.0;    // max |LSE - LSE_ref| / allowed (<= 1 passes)
  double execute_ms = 0.0;   // wall time of the first execution + finish
};

// Builds the inputs of a case (fixed seed from its name).
HostInputs make_inputs(const CaseSpec& spec);

// Float values as the bytes of the storage dtype (f16 rounds to nearest even).
std::vector<uint8_t> encode_tensor(const std::vector<float>& values, vkattn_dtype dtype);

// Runs one case on a context through the public API and checks it.
CaseResult run_case(vkattn_context context, const CaseSpec& spec);

}  // namespace vkattn_test
