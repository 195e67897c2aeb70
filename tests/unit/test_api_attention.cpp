// End-to-end attention through the public API on the CPU backend.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "api_helpers.h"
#include "conformance.h"
#include "reference.h"
#include "vkattn.h"

using namespace vkattn_test;

TEST_CASE("the classic toy example gives the textbook answer") {
  // Q = [[1,0],[0,1]], K = [[1,0],[1,1],[0,1]], V = [[1,0],[0,2],[1,1]].
  CpuContext context;
  vkattn_attention_desc desc;
  vkattn_attention_desc_init(&desc);
  desc.batch = desc.q_heads = desc.kv_heads = 1;
  desc.q_len = 2;
  desc.kv_len = 3;
  desc.qk_dim = desc.v_dim = 2;
  desc.scale = static_cast<float>(1.0 / std::sqrt(2.0));
  desc.has_lse = 1;
  vkattn_attention_desc_set_dense_layouts(&desc);
  const float q[] = {1, 0, 0, 1};
  const float k[] = {1, 0, 1, 1, 0, 1};
  const float v[] = {1, 0, 0, 2, 1, 1};
  float out[4] = {NAN, NAN, NAN, NAN};
  float lse[2] = {NAN, NAN};
  vkattn_host_tensors t;
  vkattn_host_tensors_init(&t);
  t.q = q;
  t.k = k;
  t.v = v;
  t.out = out;
  t.lse = lse;
  REQUIRE(vkattn_attention(context, &desc, &t) == VKATTN_SUCCESS);
  // Row 0: logits (1, 1, 0)/sqrt(2) -> weights (0.401, 0.401, 0.198).
  const double e = std::exp(1.0 / std::sqrt(2.0));
  const double w0 = e / (2 * e + 1), w2 = 1 / (2 * e + 1);
  CHECK(out[0] == doctest::Approx(w0 + w2).epsilon(1e-6));
  CHECK(out[1] == doctest::Approx(2 * w0 + w2).epsilon(1e-6));
  CHECK(out[0] == doctest::Approx(0.599).epsilon(1e-3));
  CHECK(out[1] == doctest::Approx(1.000).epsilon(1e-3));
  CHECK(lse[0] == doctest::Approx(std::log(2 * e + 1)).epsilon(1e-6));
  // Row 1 sees logits (0, 1, 1)/sqrt(2) -> weights (0.198, 0.401, 0.401).
  CHECK(out[2] == doctest::Approx(w2 + w0).epsilon(1e-6));
  CHECK(out[3] == doctest::Approx(2 * w0 + w0).epsilon(1e-6));
}

TEST_CASE("the host convenience call matches the buffer path bitwise") {
  CpuContext context;
  CaseSpec spec = make_case("convenience", 2, 4, 2, 70, 300, 64, 64);
  spec.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
  spec.kv_lens = true;
  spec.additive_mask = MaskShape::kPerBatch;
  const HostInputs in = make_inputs(spec);
  const size_t out_elements = static_cast<size_t>(2 * 4 * 70 * 64);
  std::vector<float> host_out(out_elements, NAN), host_lse(2 * 4 * 70, NAN);
  vkattn_host_tensors t;
  vkattn_host_tensors_init(&t);
  t.q = in.q.data();
  t.k = in.k.data();
  t.v = in.v.data();
  t.out = host_out.data();
  t.lse = host_lse.data();
  t.additive_mask = in.additive_mask.data();
  t.kv_lens = in.kv_lens.data();
  REQUIRE(vkattn_attention(context, &in.desc, &t) == VKATTN_SUCCESS);

  vkattn_plan plan = nullptr;
  REQUIRE(vkattn_plan_create(context, &in.desc, 0, &plan) == VKATTN_SUCCESS);
  Buffer q(context, in.q.size() * 4), k(context, in.k.size() * 4), v(context, in.v.size() * 4),
      out(context, out_elements * 4), lse(context, host_lse.size() * 4), mask(context, in.additive_mask.size() * 4);
  REQUIRE(vkattn_buffer_write(q, 0, in.q.data(), in.q.size() * 4) == VKATTN_SUCCESS);
  REQUIRE(vkattn_buffer_write(k, 0, in.k.data(), in.k.size() * 4) == VKATTN_SUCCESS);
  REQUIRE(vkattn_buffer_write(v, 0, in.v.data(), in.v.size() * 4) == VKATTN_SUCCESS);
  REQUIRE(vkattn_buffer_write(mask, 0, in.additive_mask.data(), in.additive_mask.size() * 4) == VKATTN_SUCCESS);
  vkattn_bindings b;
  vkattn_bindings_init(&b);
  b.q = q;
  b.k = k;
  b.v = v;
  b.out = out;
  b.lse = lse;
  b.additive_mask = mask;
  b.kv_lens = in.kv_lens.data();
  REQUIRE(vkattn_plan_execute(plan, &b) == VKATTN_SUCCESS);
  std::vector<float> buffer_out(out_elements), buffer_lse(host_lse.size());
  REQUIRE(vkattn_buffer_read(out, 0, buffer_out.data(), out_elements * 4) == VKATTN_SUCCESS);
  REQUIRE(vkattn_buffer_read(lse, 0, buffer_lse.data(), buffer_lse.size() * 4) == VKATTN_SUCCESS);
  CHECK(std::memcmp(buffer_out.data(), host_out.data(), out_elements * 4) == 0);
  CHECK(std::memcmp(buffer_lse.data(), host_lse.data(), buffer_lse.size() * 4) == 0);
  vkattn_plan_destroy(plan);

  vkattn_host_tensors missing = t;
  missing.v = nullptr;
  CHECK_STATUS_MENTIONS(vkattn_attention(context, &in.desc, &missing), VKATTN_ERROR_INVALID_ARGUMENT,
                        "vkattn_host_tensors.v");
}

TEST_CASE("every thread count gives results within tolerance of the reference") {
  CaseSpec spec = make_case("threads", 1, 3, 1, 301, 517, 64, 64);
  spec.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
  for (int threads : {1, 2, 3, 7}) {
    CAPTURE(threads);
    CpuContext context(threads);
    const CaseResult result = run_case(context, spec);
    CHECK_MESSAGE(result.passed, result.message);
    CHECK(result.error <= result.allowed);
  }
}

TEST_CASE("plan workspace grows linearly with sequence length, never with its square") {
  CpuContext context(2);
  uint64_t previous = 0;
  for (int64_t seq : {4096, 8192, 16384, 32768}) {
    vkattn_attention_desc desc;
    vkattn_attention_desc_init(&desc);
    desc.batch = desc.q_heads = desc.kv_heads = 1;
    desc.q_len = desc.kv_len = seq;
    desc.qk_dim = desc.v_dim = 64;
    desc.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    vkattn_attention_desc_set_dense_layouts(&desc);
    vkattn_plan plan = nullptr;
    REQUIRE(vkattn_plan_create(context, &desc, 0, &plan) == VKATTN_SUCCESS);
    vkattn_plan_info info;
    vkattn_plan_info_init(&info);
    REQUIRE(vkattn_plan_get_info(plan, &info) == VKATTN_SUCCESS);
    CAPTURE(seq);
    CAPTURE(info.workspace_bytes);
    // A score matrix alone would be seq * seq * 4 bytes (4 GiB at 32768).
    CHECK(info.workspace_bytes < static_cast<uint64_t>(seq) * 64 * 4 * 8);
    if (previous != 0) CHECK(info.workspace_bytes <= 2 * previous + 4096);
    previous = info.workspace_bytes;
    CHECK(std::strlen(info.kernel) > 0);
    vkattn_plan_destroy(plan);
  }
}

TEST_CASE("decode plans use the direct kernel, prefill plans the XNNPACK tiles") {
  CpuContext context(2);
  vkattn_attention_desc desc;
  vkattn_attention_desc_init(&desc);
  desc.batch = 1;
  desc.q_heads = 32;
  desc.kv_heads = 8;
  desc.q_len = 1;
  desc.kv_len = 4096;
  desc.qk_dim = desc.v_dim = 128;
  vkattn_attention_desc_set_dense_layouts(&desc);
  vkattn_plan plan = nullptr;
  REQUIRE(vkattn_plan_create(context, &desc, 0, &plan) == VKATTN_SUCCESS);
  vkattn_plan_info info;
  vkattn_plan_info_init(&info);
  REQUIRE(vkattn_plan_get_info(plan, &info) == VKATTN_SUCCESS);
  CHECK(std::string(info.kernel) == "cpu.direct");
  vkattn_plan_destroy(plan);
  desc.q_len = 2048;
  vkattn_attention_desc_set_dense_layouts(&desc);
  REQUIRE(vkattn_plan_create(context, &desc, 0, &plan) == VKATTN_SUCCESS);
  REQUIRE(vkattn_plan_get_info(plan, &info) == VKATTN_SUCCESS);
  CHECK(std::string(info.kernel) == "cpu.xnnpack_tiles");
  vkattn_plan_destroy(plan);
}

TEST_CASE("vkattn_plan_get_last_time: refused before any execution, then the time of the last one") {
  CpuContext context;
  const PlanTimingProbe probe = probe_plan_timing(context);
  REQUIRE_MESSAGE(probe.failure.empty(), probe.failure);
  CHECK(probe.before_execution == VKATTN_ERROR_FAILED_PRECONDITION);
  CHECK(probe.null_out == VKATTN_ERROR_INVALID_ARGUMENT);
  CHECK(probe.after_execution == VKATTN_SUCCESS);
  // The CPU backend times its parallel region: inside the measured call.
  CHECK(probe.last_ms > 0.0);
  CHECK(probe.last_ms <= probe.wall_ms);
}
