#include "fault_workload.h"

#include <doctest/doctest.h>

#include "host_allocation_faults.h"

namespace vkattn_test {

namespace {

// Outputs are dense BHSD (the specs use the default layout).
uint64_t output_bytes(const vkattn_attention_desc& d) {
  const uint64_t element = d.dtype == VKATTN_DTYPE_F16 ? 2 : 4;
  return static_cast<uint64_t>(d.batch * d.q_heads * d.q_len * d.v_dim) * element;
}
uint64_t lse_bytes(const vkattn_attention_desc& d) { return static_cast<uint64_t>(d.batch * d.q_heads * d.q_len) * 4; }

// Objects the workload made, destroyed whatever happened.
struct Objects {
  std::vector<vkattn_buffer> buffers;
  vkattn_plan plan = nullptr;
  ~Objects() {
    host_faults::LibraryCall call;
    vkattn_plan_destroy(plan);
    for (vkattn_buffer buffer : buffers) vkattn_buffer_destroy(buffer);
  }
};

}  // namespace

std::vector<CaseSpec> workload_cases() {
  CaseSpec prefill = make_case("faults", 2, 4, 2, 33, 70, 64, 32);
  prefill.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
  prefill.additive_mask = MaskShape::kPerBatch;
  prefill.bool_mask = MaskShape::kKeyPadding;
  prefill.kv_lens = true;
  prefill.lse = true;

  CaseSpec decode = make_case("faults", 1, 8, 2, 1, 4096, 64, 64, VKATTN_DTYPE_F16);
  decode.lse = false;
  return {prefill, decode};
}

vkattn_status create_context_marked(const vkattn_context_options& options, vkattn_context* out, std::string* message) {
  vkattn_status status;
  {
    host_faults::LibraryCall call;
    status = vkattn_context_create(&options, out);
  }
  if (status != VKATTN_SUCCESS) *message = vkattn_last_error();
  return status;
}

WorkloadResult run_workload(vkattn_context context) {
  WorkloadResult result;
  // Records a failing call; true when the call succeeded.
  auto ok = [&](vkattn_status status, const char* call) {
    if (status == VKATTN_SUCCESS) return true;
    result.status = status;
    result.failed_call = call;
    result.message = vkattn_last_error();
    return false;
  };
  for (const CaseSpec& spec : workload_cases()) {
    const HostInputs in = make_inputs(spec);
    const vkattn_attention_desc& d = in.desc;
    const std::vector<uint8_t> q = encode_tensor(in.q, d.dtype);
    const std::vector<uint8_t> k = encode_tensor(in.k, d.dtype);
    const std::vector<uint8_t> v = encode_tensor(in.v, d.dtype);
    Objects objects;
    objects.buffers.reserve(8);
    vkattn_bindings bindings;
    vkattn_bindings_init(&bindings);
    auto upload = [&](vkattn_buffer* buffer, const void* data, uint64_t bytes) {
      vkattn_status status;
      {
        host_faults::LibraryCall call;
        status = vkattn_buffer_create(context, bytes, 0, buffer);
      }
      if (!ok(status, "vkattn_buffer_create")) return false;
      objects.buffers.push_back(*buffer);
      if (data == nullptr) return true;
      {
        host_faults::LibraryCall call;
        status = vkattn_buffer_write(*buffer, 0, data, bytes);
      }
      return ok(status, "vkattn_buffer_write");
    };
    if (!upload(&bindings.q, q.data(), q.size()) || !upload(&bindings.k, k.data(), k.size()) ||
        !upload(&bindings.v, v.data(), v.size()) || !upload(&bindings.out, nullptr, output_bytes(d))) {
      return result;
    }
    if (d.has_lse && !upload(&bindings.lse, nullptr, lse_bytes(d))) return result;
    if (d.has_additive_mask &&
        !upload(&bindings.additive_mask, in.additive_mask.data(), in.additive_mask.size() * sizeof(float))) {
      return result;
    }
    if (d.has_bool_mask && !upload(&bindings.bool_mask, in.bool_mask.data(), in.bool_mask.size())) return result;
    if (d.has_kv_lens) bindings.kv_lens = in.kv_lens.data();

    std::vector<uint8_t> out(output_bytes(d)), lse(d.has_lse ? lse_bytes(d) : 0);
    vkattn_status status;
    {
      host_faults::LibraryCall call;
      status = vkattn_plan_create(context, &d, 0, &objects.plan);
    }
    if (!ok(status, "vkattn_plan_create")) return result;
    {
      host_faults::LibraryCall call;
      status = vkattn_plan_execute(objects.plan, &bindings);
    }
    if (!ok(status, "vkattn_plan_execute")) return result;
    {
      host_faults::LibraryCall call;
      status = vkattn_context_finish(context);
    }
    if (!ok(status, "vkattn_context_finish")) return result;
    double ms = 0.0;
    {
      host_faults::LibraryCall call;
      status = vkattn_plan_get_last_time(objects.plan, &ms);
    }
    // UNSUPPORTED: a Vulkan queue without timestamps.
    if (status != VKATTN_ERROR_UNSUPPORTED && !ok(status, "vkattn_plan_get_last_time")) return result;
    {
      host_faults::LibraryCall call;
      status = vkattn_buffer_read(bindings.out, 0, out.data(), out.size());
    }
    if (!ok(status, "vkattn_buffer_read")) return result;
    if (d.has_lse) {
      {
        host_faults::LibraryCall call;
        status = vkattn_buffer_read(bindings.lse, 0, lse.data(), lse.size());
      }
      if (!ok(status, "vkattn_buffer_read")) return result;
    }
    result.outputs.push_back(std::move(out));
    result.outputs.push_back(std::move(lse));
  }
  return result;
}

std::vector<std::vector<uint8_t>> reference_workload_outputs(const vkattn_context_options& options) {
  vkattn_context context = nullptr;
  REQUIRE(vkattn_context_create(&options, &context) == VKATTN_SUCCESS);
  for (const CaseSpec& spec : workload_cases()) {
    const CaseResult checked = run_case(context, spec);
    REQUIRE_MESSAGE(checked.passed, spec.name() << ": " << checked.message);
  }
  const WorkloadResult clean = run_workload(context);
  REQUIRE_MESSAGE(clean.status == VKATTN_SUCCESS, clean.failed_call << ": " << clean.message);
  vkattn_context_destroy(context);
  return clean.outputs;
}

}  // namespace vkattn_test
