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
  bool q_lens = false;              // ragged batches: random query counts per sequence (the first full)
  bool varlen = false;              // the same counts, Q/O/LSE packed (cu_seqlens_q) with gaps between sequences
  bool lse = true;
  Layout layout = Layout::kBhsd;
  double logit_target = 0.0;     // > 0: scale Q and K so the largest |logit| is about this
  bool empty_rows = false;       // make some query rows see no key at all
  bool plant_nan = false;        // NaN in every K/V slot that no query of its group sees
  int runs = 1;                  // > 1: every run must be bitwise identical to the first
  float softcap = 0.0f;          // > 0: logit soft-capping
  std::vector<float> alibi_slopes;  // [q_heads] or empty
  std::vector<float> sinks;         // [q_heads] or empty
  int64_t global_keys = 0;          // keys exempt from the window
  int64_t page_size = 0;            // > 0: K and V in shuffled page pools with a random block table
  bool pages_head_major = false;    // pools [pages, Hkv, P, D] instead of vLLM's [pages, P, Hkv, D]
  int64_t shared_pages = 0;         // every sequence's first pages are sequence 0's (a shared prefix)
  vkattn_dtype k_dtype{};           // 0: dtype; or VKATTN_DTYPE_Q8_0 / Q4_0
  vkattn_dtype v_dtype{};
  vkattn_rope rope{};               // RoPE on Q (K holds keys as already rotated)
  vkattn_attention_mode mode = VKATTN_MODE_EXACT;
  vkattn_feature_map feature_map = VKATTN_FEATURE_MAP_NONE;  // linear mode
  std::vector<float> features;      // FAVOR+ W [m, qk_dim] (see favor_test_features), or empty
  int64_t proj_len = 0;             // Linformer (mode LINFORMER): rows of E and F, drawn per case
  bool proj_per_head = false;       // Linformer: one E and F per kv head
  int64_t block_q = 0, block_k = 0;  // block-sparse (mode BLOCK_SPARSE): block sizes; the mask is drawn per case
  double block_density = 0.5;         // block-sparse: the share of visible blocks
  bool block_per_head = false;        // block-sparse: a mask per query head (else shared)
  bool block_per_batch = false;       // block-sparse: a mask per batch (else shared)
  int64_t hidden_block_row = -1;      // block-sparse: >= 0: that query block sees no key block
  // block-sparse: >= 0: instead of random blocks, a Longformer pattern
  // (query block a sees key blocks a +- block_window and the first
  // block_global ones; the first block_global query blocks see all) plus
  // block_random random key blocks per query block (BigBird).
  int64_t block_window = -1, block_global = 0, block_random = 0;
  int64_t topk = 0;                   // top-k (mode TOPK): the keys each row keeps
  // Q and K of small integers (-3..3), exact in every dtype: with a scale
  // that is a power of two every logit is exact, and equal dot products
  // tie exactly (top-k's tie rule); V stays uniform.
  bool integer_qk = false;

  std::string name() const;
};

// A case with these sizes and every other field at its default.
CaseSpec make_case(const char* group, int64_t batch, int64_t q_heads, int64_t kv_heads, int64_t q_len, int64_t kv_len,
                   int64_t qk_dim, int64_t v_dim, vkattn_dtype dtype = VKATTN_DTYPE_F32);

// The whole matrix (well over 200 cases), in a fixed order.
std::vector<CaseSpec> conformance_cases();

struct CaseResult {
  bool passed = false;
  bool skipped = false;
  std::string message;       // why it failed or was skipped
  vkattn_status status = VKATTN_SUCCESS;  // the failing API call's status, if one failed
  double error = 0.0;        // max |O - O_ref| / output scale
  double allowed = 0.0;      // the tolerance on that same scale
  double lse_error = 0.0;    // max |LSE - LSE_ref| / allowed (<= 1 passes)
  double execute_ms = 0.0;   // wall time of the first execution + finish
  int runs = 0;              // executions that ran (check_repeatable)
  std::string kernel;        // vkattn_plan_info.kernel of the plan that ran
};

// The descriptor of a case (sizes, masks, layouts), without any data. Its
// alibi_slopes and sinks point into `spec`, which must outlive it.
vkattn_attention_desc make_desc(const CaseSpec& spec);

// A FAVOR+ projection W [m, dim] of independent standard Gaussians (the
// Performer's unstructured features; the tests' own, fixed by the seed).
std::vector<float> favor_test_features(int64_t m, int64_t dim, uint64_t seed);

// The ALiBi paper's slopes for `heads` heads, written from the paper (the
// tests' own copy, independent of vkattn_alibi_slopes).
std::vector<float> paper_alibi_slopes(int64_t heads);

// Builds the inputs of a case (fixed seed from its name).
HostInputs make_inputs(const CaseSpec& spec);

// Float values as the bytes of the storage dtype (f16 rounds to nearest even).
std::vector<uint8_t> encode_tensor(const std::vector<float>& values, vkattn_dtype dtype);

// Replaces the float values of a K or V view by their q8_0 / q4_0 blocks'
// exact values, writing the blocks to *blocks (sized for the view's extent;
// bytes outside the view are 0xff, a NaN scale). A block with a NaN value
// gets a NaN scale, so all of its values read NaN.
void quantize_view(std::vector<float>& values, const vkattn_tensor_layout& layout, int64_t batch, int64_t heads,
                   int64_t seq, int64_t dim, vkattn_dtype dtype, std::vector<uint8_t>* blocks);

// The same problem with paged K and V gathered into contiguous BHSD tensors
// (floats and, for q8_0 / q4_0, their blocks): key j of sequence b where
// the block table put it. Keys past a sequence's length are NaN.
HostInputs unpage_kv(const HostInputs& paged);

// One case's plan and buffers on a context (inputs uploaded, outputs filled
// with NaN), ready to execute any number of times.
class CaseExecution {
 public:
  CaseExecution(vkattn_context context, const CaseSpec& spec);
  // With inputs made from make_inputs(spec) and then altered by the caller.
  CaseExecution(vkattn_context context, const CaseSpec& spec, HostInputs inputs);
  ~CaseExecution();
  CaseExecution(const CaseExecution&) = delete;
  CaseExecution& operator=(const CaseExecution&) = delete;

  bool ready() const { return ready_; }
  bool unsupported() const { return unsupported_; }  // plan creation said UNSUPPORTED
  const std::string& error() const { return error_; }
  vkattn_status status() const { return status_; }  // of the API call that failed, if one did
  const HostInputs& inputs() const { return inputs_; }
  uint64_t out_extent() const { return out_extent_; }  // elements of the output buffer
  uint64_t lse_extent() const { return lse_extent_; }
  const std::vector<uint8_t>& out_fill() const { return out_fill_; }  // the buffers' initial bytes
  const std::vector<uint8_t>& lse_fill() const { return lse_fill_; }
  double last_ms() const { return last_ms_; }  // wall time of the last run's execute + finish
  const std::string& kernel() const { return kernel_; }  // vkattn_plan_info.kernel

  // Executes once, waits, and reads the whole output (and LSE) buffer back.
  bool run(std::vector<uint8_t>* out, std::vector<uint8_t>* lse);

 private:
  vkattn_context context_;
  HostInputs inputs_;
  vkattn_plan plan_ = nullptr;
  std::vector<vkattn_buffer> buffers_;
  vkattn_bindings bindings_{};
  uint64_t out_extent_ = 0, lse_extent_ = 0;
  std::vector<uint8_t> out_fill_, lse_fill_;
  bool ready_ = false, unsupported_ = false;
  std::string error_;
  vkattn_status status_ = VKATTN_SUCCESS;
  double last_ms_ = 0.0;
  std::string kernel_;
};

// Runs a paged case (spec.page_size > 0) as it is and with the same keys
// stored contiguously (unpage_kv) on one context; "" when both give the
// same output and LSE bytes, else what differs.
std::string compare_paged_with_contiguous(vkattn_context context, const CaseSpec& spec);

// Runs one case on a context through the public API and checks it.
CaseResult run_case(vkattn_context context, const CaseSpec& spec);
// The same with inputs made from make_inputs(spec) and then altered by
// the caller (the reference is computed from them).
CaseResult run_case(vkattn_context context, const CaseSpec& spec, HostInputs inputs);

// Executes one case on one plan at least `min_runs` times and then more,
// up to `max_runs`, while the runs so far took less than `budget_ms` in
// all, comparing every run's output and LSE bytes with the first run's
// (passed: all identical; skipped: the device does not support the case;
// `runs` says how many ran). No reference check: run_case does that.
CaseResult check_repeatable(vkattn_context context, const CaseSpec& spec, int min_runs, int max_runs,
                            double budget_ms);

// What vkattn_plan_get_last_time reports around one execution of a small
// zero-filled problem (B=1, H=4, S=256, D=64): before any execution, with a
// NULL out pointer, and after an execution whose wall time (execute + finish)
// is measured beside it.
struct PlanTimingProbe {
  vkattn_status before_execution = VKATTN_SUCCESS;
  vkattn_status null_out = VKATTN_SUCCESS;
  vkattn_status after_execution = VKATTN_SUCCESS;
  double last_ms = -1.0;
  double wall_ms = -1.0;
  std::string failure;  // set when the problem itself could not be set up
};
PlanTimingProbe probe_plan_timing(vkattn_context context);

}  // namespace vkattn_test
