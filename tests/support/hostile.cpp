#include "hostile.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "conformance.h"
#include "reference.h"

namespace vkattn_test {

namespace {

const float kNan = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

std::string status_text(vkattn_status status) {
  std::string text = vkattn_status_string(status);
  if (status != VKATTN_SUCCESS) text += std::string(" (") + vkattn_last_error() + ")";
  return text;
}

// The outcome of one call: documented when it returned `wanted` and, for a
// failure, its message names `mention`.
HostileOutcome judged(const std::string& input, vkattn_status status, vkattn_status wanted, const char* mention) {
  HostileOutcome outcome;
  outcome.input = input;
  outcome.expected = vkattn_status_string(wanted);
  if (mention != nullptr) outcome.expected += std::string(" naming ") + mention;
  outcome.observed = status_text(status);
  outcome.as_documented =
      status == wanted && (mention == nullptr || std::strstr(vkattn_last_error(), mention) != nullptr);
  return outcome;
}

vkattn_attention_desc small_desc() {
  vkattn_attention_desc desc;
  vkattn_attention_desc_init(&desc);
  desc.batch = 1;
  desc.q_heads = 2;
  desc.kv_heads = 1;
  desc.q_len = 8;
  desc.kv_len = 16;
  desc.qk_dim = 16;
  desc.v_dim = 16;
  vkattn_attention_desc_set_dense_layouts(&desc);
  return desc;
}

HostileOutcome plan_outcome(vkattn_context context, const std::string& input, const vkattn_attention_desc& desc,
                            vkattn_status wanted, const char* mention) {
  vkattn_plan plan = nullptr;
  const vkattn_status status = vkattn_plan_create(context, &desc, 0, &plan);
  HostileOutcome outcome = judged(input, status, wanted, mention);
  outcome.as_documented = outcome.as_documented && (status == VKATTN_SUCCESS) == (plan != nullptr);
  vkattn_plan_destroy(plan);
  return outcome;
}

// A plan of `desc` with dense buffers bound (q, k, v, out): the execution-time cases.
struct BoundPlan {
  vkattn_plan plan = nullptr;
  vkattn_bindings bindings;
  std::vector<vkattn_buffer> buffers;
  bool ready = false;

  BoundPlan(vkattn_context context, const vkattn_attention_desc& desc) {
    vkattn_bindings_init(&bindings);
    if (vkattn_plan_create(context, &desc, 0, &plan) != VKATTN_SUCCESS) return;
    const uint64_t q = desc.batch * desc.q_heads * desc.q_len * desc.qk_dim * 4;
    const uint64_t k = desc.batch * desc.kv_heads * desc.kv_len * desc.qk_dim * 4;
    const uint64_t v = desc.batch * desc.kv_heads * desc.kv_len * desc.v_dim * 4;
    const uint64_t out = desc.batch * desc.q_heads * desc.q_len * desc.v_dim * 4;
    ready = make(context, q, &bindings.q) && make(context, k, &bindings.k) && make(context, v, &bindings.v) &&
            make(context, out, &bindings.out);
  }
  ~BoundPlan() {
    vkattn_plan_destroy(plan);
    for (vkattn_buffer buffer : buffers) vkattn_buffer_destroy(buffer);
  }
  bool make(vkattn_context context, uint64_t bytes, vkattn_buffer* out) {
    if (vkattn_buffer_create(context, bytes, 0, out) != VKATTN_SUCCESS) return false;
    buffers.push_back(*out);
    const std::vector<uint8_t> zeros(bytes, 0);
    return vkattn_buffer_write(*out, 0, zeros.data(), bytes) == VKATTN_SUCCESS;
  }
};

HostileOutcome execute_outcome(vkattn_context context, const std::string& input, const vkattn_attention_desc& plan_desc,
                               const std::function<void(vkattn_bindings&)>& alter, vkattn_status wanted,
                               const char* mention) {
  BoundPlan bound(context, plan_desc);
  if (!bound.ready) {
    HostileOutcome outcome;
    outcome.input = input;
    outcome.observed = std::string("setup failed: ") + vkattn_last_error();
    return outcome;
  }
  vkattn_bindings bindings = bound.bindings;
  alter(bindings);
  const vkattn_status status = vkattn_plan_execute(bound.plan, &bindings);
  const HostileOutcome outcome = judged(input, status, wanted, mention);
  vkattn_context_finish(context);
  return outcome;
}

// --- NaN and Inf ---------------------------------------------------------------

// What the output row of a query must show.
enum class RowExpect {
  kReference,     // the float64 reference of the clean inputs
  kAllNan,        // every element NaN, LSE NaN
  kZeros,         // zeros, LSE -inf (the query sees no key)
  kOneNonFinite,  // element kPlantedElement not finite, the rest (and LSE) the reference
};
constexpr int kPlantedElement = 2;

// One query head over 8 keys, 4 queries, bottom-right causal: query i sees
// keys 0..i+4, so key 6 is seen by queries 2 and 3 only. Additive mask of
// zeros where something is planted.
CaseSpec special_values_case() {
  CaseSpec spec = make_case("hostile", 1, 1, 1, 4, 8, 8, 8);
  spec.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
  spec.additive_mask = MaskShape::kDense;
  spec.lse = true;
  return spec;
}

struct Planted {
  std::string input;
  std::string expected;
  std::function<void(HostInputs&)> plant;  // on the executed inputs only
  RowExpect rows[4];
  std::function<void(HostInputs&)> setup = nullptr;  // on the reference's inputs too
};

std::string check_rows(const std::vector<float>& out, const std::vector<float>& lse, const ReferenceOutput& ref,
                       const RowExpect (&rows)[4]) {
  const int dim = 8;
  for (int i = 0; i < 4; ++i) {
    for (int d = 0; d < dim; ++d) {
      const float value = out[i * dim + d];
      const double want = ref.out[i * dim + d];
      const bool close = std::fabs(value - want) <= 1e-4 * (1.0 + std::fabs(want));
      bool ok = false;
      switch (rows[i]) {
        case RowExpect::kReference: ok = close; break;
        case RowExpect::kAllNan: ok = std::isnan(value); break;
        case RowExpect::kZeros: ok = value == 0.0f; break;
        case RowExpect::kOneNonFinite: ok = d == kPlantedElement ? !std::isfinite(value) : close; break;
      }
      if (!ok) return "query " + std::to_string(i) + " element " + std::to_string(d) + " = " + std::to_string(value);
    }
    const float l = lse[i];
    bool lse_ok = false;
    switch (rows[i]) {
      case RowExpect::kReference:
      case RowExpect::kOneNonFinite: lse_ok = std::fabs(l - ref.lse[i]) <= 1e-4 * (1.0 + std::fabs(ref.lse[i])); break;
      case RowExpect::kAllNan: lse_ok = std::isnan(l); break;
      case RowExpect::kZeros: lse_ok = l == -kInf; break;
    }
    if (!lse_ok) return "query " + std::to_string(i) + " LSE = " + std::to_string(l);
  }
  return "";
}

HostileOutcome special_values_outcome(vkattn_context context, const Planted& planted) {
  const CaseSpec spec = special_values_case();
  HostInputs clean = make_inputs(spec);
  std::fill(clean.additive_mask.begin(), clean.additive_mask.end(), 0.0f);
  if (planted.setup) planted.setup(clean);
  const ReferenceOutput ref = reference_attention(clean);
  HostInputs inputs = clean;
  planted.plant(inputs);
  HostileOutcome outcome;
  outcome.input = planted.input;
  outcome.expected = planted.expected;
  CaseExecution execution(context, spec, inputs);
  std::vector<uint8_t> out_bytes, lse_bytes;
  if (!execution.ready() || !execution.run(&out_bytes, &lse_bytes)) {
    outcome.observed = execution.error();
    return outcome;
  }
  std::vector<float> out(out_bytes.size() / 4), lse(lse_bytes.size() / 4);
  std::memcpy(out.data(), out_bytes.data(), out_bytes.size());
  std::memcpy(lse.data(), lse_bytes.data(), lse_bytes.size());
  const std::string wrong = check_rows(out, lse, ref, planted.rows);
  outcome.as_documented = wrong.empty();
  outcome.observed = wrong.empty() ? "success: " + planted.expected : "success, but " + wrong;
  return outcome;
}

std::vector<Planted> planted_special_values() {
  using R = RowExpect;
  const int dim = 8;
  return {
      {"NaN in Q (query 1)", "query 1 all NaN (LSE NaN), the others exact",
       [](HostInputs& in) { in.q[1 * dim + 0] = kNan; },
       {R::kReference, R::kAllNan, R::kReference, R::kReference}},
      {"NaN in K (key 6, seen by queries 2-3)", "queries 2-3 all NaN, 0-1 exact",
       [](HostInputs& in) { in.k[6 * dim + 5] = kNan; },
       {R::kReference, R::kReference, R::kAllNan, R::kAllNan}},
      {"+Inf in K (key 6)", "queries 2-3 all NaN (an infinite logit), 0-1 exact",
       [](HostInputs& in) { in.k[6 * dim + 0] = in.q[2 * dim + 0] >= 0 ? kInf : -kInf; in.q[3 * dim + 0] = in.q[2 * dim + 0]; },
       {R::kReference, R::kReference, R::kAllNan, R::kAllNan}},
      {"NaN in V (key 6, element 2)", "element 2 of queries 2-3 NaN, all else exact",
       [](HostInputs& in) { in.v[6 * dim + kPlantedElement] = kNan; },
       {R::kReference, R::kReference, R::kOneNonFinite, R::kOneNonFinite}},
      {"+Inf in V (key 6, element 2)", "element 2 of queries 2-3 not finite, all else exact",
       [](HostInputs& in) { in.v[6 * dim + kPlantedElement] = kInf; },
       {R::kReference, R::kReference, R::kOneNonFinite, R::kOneNonFinite}},
      {"NaN in the additive mask (query 1, key 0)", "query 1 all NaN, the others exact",
       [](HostInputs& in) { in.additive_mask[1 * 8 + 0] = kNan; },
       {R::kReference, R::kAllNan, R::kReference, R::kReference}},
      {"+Inf in the additive mask (query 1, key 0)", "query 1 all NaN (inf - inf), the others exact",
       [](HostInputs& in) { in.additive_mask[1 * 8 + 0] = kInf; },
       {R::kReference, R::kAllNan, R::kReference, R::kReference}},
      {"-Inf in the additive mask on every key of query 2", "query 2 zeros with LSE -inf, the others exact",
       [](HostInputs& in) { std::fill(in.additive_mask.begin() + 2 * 8, in.additive_mask.begin() + 3 * 8, -kInf); },
       {R::kReference, R::kReference, R::kZeros, R::kReference}},
      {"NaN and Inf in K and V under keys no query sees (kv_lens = 5)", "every query exact",
       [](HostInputs& in) {
         for (int j = 5; j < 8; ++j) {
           for (int e = 0; e < dim; ++e) {
             in.k[j * dim + e] = e % 2 ? kNan : kInf;
             in.v[j * dim + e] = e % 2 ? -kInf : kNan;
           }
         }
       },
       {R::kReference, R::kReference, R::kReference, R::kReference},
       [](HostInputs& in) {
         in.desc.has_kv_lens = 1;
         in.kv_lens = {5};
       }},
  };
}

}  // namespace

std::vector<HostileOutcome> try_hostile_inputs(vkattn_context context, const vkattn_context_options& options) {
  std::vector<HostileOutcome> outcomes;
  vkattn_attention_desc d;

  // --- sizes ---
  d = small_desc(); d.batch = 0;
  outcomes.push_back(plan_outcome(context, "B = 0", d, VKATTN_ERROR_INVALID_ARGUMENT, "batch"));
  d = small_desc(); d.kv_len = 0;
  outcomes.push_back(plan_outcome(context, "Skv = 0", d, VKATTN_ERROR_INVALID_ARGUMENT, "kv_len"));
  d = small_desc(); d.qk_dim = VKATTN_MAX_HEAD_DIM + 1; vkattn_attention_desc_set_dense_layouts(&d);
  outcomes.push_back(plan_outcome(context, "head dim 4097 (over VKATTN_MAX_HEAD_DIM)", d,
                                  VKATTN_ERROR_INVALID_ARGUMENT, "qk_dim"));
  d = small_desc(); d.q_len = int64_t{1} << 40; vkattn_attention_desc_set_dense_layouts(&d);
  outcomes.push_back(plan_outcome(context, "q_len = 2^40", d, VKATTN_ERROR_INVALID_ARGUMENT, "q_len"));
  d = small_desc();
  d.batch = (int64_t{1} << 31) - 1;
  d.q_layout.batch_stride = std::numeric_limits<int64_t>::max() / 2;
  outcomes.push_back(plan_outcome(context, "index products over 2^64 (batch 2^31-1 x stride 2^62)", d,
                                  VKATTN_ERROR_INVALID_ARGUMENT, "overflows 64 bits"));
  d = small_desc(); d.k_layout.offset = UINT64_MAX - 10;
  outcomes.push_back(plan_outcome(context, "layout offset 2^64 - 11", d, VKATTN_ERROR_INVALID_ARGUMENT,
                                  "k_layout.offset"));
  {
    // 2^33 elements per tensor: 32-bit indices would wrap. Planning needs no
    // buffers; the plan is accepted (64-bit indexing, or slicing on Vulkan)
    // or refused as beyond the device's binding range.
    d = small_desc();
    d.q_heads = 64;
    d.kv_heads = 64;
    d.q_len = int64_t{1} << 20;
    d.kv_len = int64_t{1} << 20;
    d.qk_dim = 128;
    d.v_dim = 128;
    vkattn_attention_desc_set_dense_layouts(&d);
    vkattn_plan plan = nullptr;
    const vkattn_status status = vkattn_plan_create(context, &d, 0, &plan);
    HostileOutcome outcome;
    outcome.input = "2^33 elements per tensor (32-bit index overflow), H=64 S=2^20 D=128";
    outcome.expected = "success (64-bit indexing), or unsupported naming the binding range";
    outcome.observed = status_text(status);
    outcome.as_documented = status == VKATTN_SUCCESS || status == VKATTN_ERROR_UNSUPPORTED;
    vkattn_plan_destroy(plan);
    outcomes.push_back(outcome);
  }
  {
    // The largest head dimension allowed, run end to end (or refused by a
    // device whose shared memory cannot hold a tile of it).
    const CaseSpec spec = make_case("hostile", 1, 1, 1, 3, 5, VKATTN_MAX_HEAD_DIM, VKATTN_MAX_HEAD_DIM);
    const CaseResult result = run_case(context, spec);
    HostileOutcome outcome;
    outcome.input = "head dim 4096 (VKATTN_MAX_HEAD_DIM), executed";
    outcome.expected = "success matching the reference, or unsupported";
    outcome.observed = result.passed ? "success, matches the reference"
                                     : (result.skipped ? result.message : "wrong: " + result.message);
    outcome.as_documented = result.passed || (result.skipped && result.status == VKATTN_ERROR_UNSUPPORTED);
    outcomes.push_back(outcome);
  }

  // --- bindings at execution ---
  d = small_desc();
  {
    vkattn_attention_desc shifted = d;
    shifted.v_layout.offset = 1 << 20;
    outcomes.push_back(execute_outcome(context, "V layout offset past the end of its buffer", shifted,
                                       [](vkattn_bindings&) {}, VKATTN_ERROR_INVALID_ARGUMENT, "vkattn_bindings.v holds"));
    vkattn_attention_desc stretched = d;
    stretched.k_layout.seq_stride *= 2;
    outcomes.push_back(execute_outcome(context, "K seq_stride doubled (rows past the buffer)", stretched,
                                       [](vkattn_bindings&) {}, VKATTN_ERROR_INVALID_ARGUMENT, "vkattn_bindings.k holds"));
  }
  {
    vkattn_context other = nullptr;
    const vkattn_status created = vkattn_context_create(&options, &other);
    vkattn_buffer foreign = nullptr;
    if (created == VKATTN_SUCCESS) vkattn_buffer_create(other, 1 << 20, 0, &foreign);
    outcomes.push_back(execute_outcome(context, "K buffer from another context", d,
                                       [&](vkattn_bindings& b) { b.k = foreign; }, VKATTN_ERROR_INVALID_ARGUMENT,
                                       "another context"));
    vkattn_buffer_destroy(foreign);
    vkattn_context_destroy(other);
  }
  {
    vkattn_plan wrong_kind = nullptr;
    vkattn_plan_create(context, &d, 0, &wrong_kind);
    outcomes.push_back(execute_outcome(context, "a plan handle passed as the Q buffer", d,
                                       [&](vkattn_bindings& b) { b.q = reinterpret_cast<vkattn_buffer>(wrong_kind); },
                                       VKATTN_ERROR_INVALID_ARGUMENT, "not a live vkattn_buffer"));
    vkattn_plan_destroy(wrong_kind);
  }
  {
    vkattn_attention_desc with_lens = d;
    with_lens.has_kv_lens = 1;
    const int32_t too_long[1] = {17};
    outcomes.push_back(execute_outcome(context, "kv_lens[0] = kv_len + 1", with_lens,
                                       [&](vkattn_bindings& b) { b.kv_lens = too_long; }, VKATTN_ERROR_INVALID_ARGUMENT,
                                       "kv_lens[0]"));
    const int32_t negative[1] = {-1};
    outcomes.push_back(execute_outcome(context, "kv_lens[0] = -1", with_lens,
                                       [&](vkattn_bindings& b) { b.kv_lens = negative; }, VKATTN_ERROR_INVALID_ARGUMENT,
                                       "kv_lens[0]"));
  }
  {
    // Every key hidden from every query by kv_lens = 0 (an empty cache).
    CaseSpec spec = special_values_case();
    spec.additive_mask = MaskShape::kNone;
    spec.kv_lens = true;
    HostInputs inputs = make_inputs(spec);
    std::fill(inputs.kv_lens.begin(), inputs.kv_lens.end(), 0);
    CaseExecution execution(context, spec, inputs);
    std::vector<uint8_t> out, lse;
    HostileOutcome outcome;
    outcome.input = "kv_lens all 0 (an empty KV cache)";
    outcome.expected = "success: every output row 0, LSE -inf";
    bool zeros = execution.ready() && execution.run(&out, &lse);
    for (size_t i = 0; zeros && i + 4 <= out.size(); i += 4) {
      float value;
      std::memcpy(&value, &out[i], 4);
      zeros = value == 0.0f;
    }
    for (size_t i = 0; zeros && i + 4 <= lse.size(); i += 4) {
      float value;
      std::memcpy(&value, &lse[i], 4);
      zeros = value == -kInf;
    }
    outcome.as_documented = zeros;
    outcome.observed = zeros ? "success, zeros and -inf" : "wrong: " + execution.error();
    outcomes.push_back(outcome);
  }

  // --- objects outliving their context ---
  {
    vkattn_context doomed = nullptr;
    vkattn_plan plan = nullptr;
    vkattn_buffer buffer = nullptr;
    if (vkattn_context_create(&options, &doomed) == VKATTN_SUCCESS) {
      vkattn_plan_create(doomed, &d, 0, &plan);
      vkattn_buffer_create(doomed, 64, 0, &buffer);
      vkattn_context_destroy(doomed);
    }
    vkattn_bindings bindings;
    vkattn_bindings_init(&bindings);
    bindings.q = bindings.k = bindings.v = bindings.out = buffer;
    outcomes.push_back(judged("a plan executed after its context was destroyed", vkattn_plan_execute(plan, &bindings),
                              VKATTN_ERROR_FAILED_PRECONDITION, "context was destroyed"));
    char byte = 0;
    outcomes.push_back(judged("a buffer read after its context was destroyed", vkattn_buffer_read(buffer, 0, &byte, 1),
                              VKATTN_ERROR_FAILED_PRECONDITION, "context was destroyed"));
    vkattn_status destroyed = vkattn_plan_destroy(plan);
    if (destroyed == VKATTN_SUCCESS) destroyed = vkattn_buffer_destroy(buffer);
    outcomes.push_back(judged("destroying those orphaned objects", destroyed, VKATTN_SUCCESS, nullptr));
  }

  // --- NaN and Inf in the inputs ---
  for (const Planted& planted : planted_special_values()) outcomes.push_back(special_values_outcome(context, planted));
  return outcomes;
}

std::string hostile_table(const std::vector<HostileOutcome>& outcomes) {
  std::string table;
  for (const HostileOutcome& outcome : outcomes) table += "\n  " + outcome.input + " -> " + outcome.observed;
  return table;
}

}  // namespace vkattn_test
