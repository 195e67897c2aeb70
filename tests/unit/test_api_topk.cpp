// Top-k attention through the public API: descriptors are validated by
// field name, a descriptor compiled before the top-k field keeps its mode,
// k at least the keys a row sees is exact attention, and k = 1 gives the
// value row of the row's largest logit (of equal ones, the lower key).
// (Top-k attention against the float64 reference is the conformance
// matrix's "topk" group.)
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "api_helpers.h"
#include "vkattn.h"

using namespace vkattn_test;

namespace {

vkattn_attention_desc topk_desc(int64_t k) {
  vkattn_attention_desc d = small_desc();
  d.mode = VKATTN_MODE_TOPK;
  d.topk.k = k;
  return d;
}

}  // namespace

TEST_CASE("top-k descriptors are validated by field name") {
  CpuContext context;
  vkattn_plan plan = nullptr;
  vkattn_attention_desc d = topk_desc(0);
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT,
                        "topk.k (0) must be in 1..VKATTN_MAX_TOPK");
  d = topk_desc(VKATTN_MAX_TOPK + 1);
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "topk.k (4097)");
  d = topk_desc(-3);
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "topk.k (-3)");
  CHECK(plan == nullptr);
  d = topk_desc(VKATTN_MAX_TOPK);
  REQUIRE(vkattn_plan_create(context, &d, 0, &plan) == VKATTN_SUCCESS);
  vkattn_plan_destroy(plan);
}

TEST_CASE("a descriptor that ends before the top-k field is accepted and keeps its mode") {
  CpuContext context;
  vkattn_plan plan = nullptr;
  // Exact attention from a descriptor without `topk`: what lies past its
  // size (here an invalid k) is not read.
  vkattn_attention_desc d = topk_desc(-1);
  d.mode = VKATTN_MODE_EXACT;
  d.struct_size = offsetof(vkattn_attention_desc, topk);
  REQUIRE(vkattn_plan_create(context, &d, 0, &plan) == VKATTN_SUCCESS);
  vkattn_plan_destroy(plan);
  plan = nullptr;
  // Top-k attention from such a descriptor has no k.
  d.mode = VKATTN_MODE_TOPK;
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "topk.k (0)");
  CHECK(plan == nullptr);
}

TEST_CASE("top-k with k at least every row's visible keys is exact attention") {
  CpuContext context;
  for (int64_t k : {int64_t{32}, int64_t{VKATTN_MAX_TOPK}}) {
    CAPTURE(k);
    vkattn_attention_desc exact = small_desc();
    exact.has_lse = 1;
    exact.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    vkattn_attention_desc_set_dense_layouts(&exact);
    vkattn_attention_desc d = exact;
    d.mode = VKATTN_MODE_TOPK;
    d.topk.k = k;
    std::vector<float> want_lse, got_lse;
    const std::vector<float> want = run_small_host(context, exact, &want_lse);
    const std::vector<float> got = run_small_host(context, d, &got_lse);
    const RunDifference difference = run_difference(got, want, got_lse, want_lse);
    CHECK(difference.relative_error <= 1e-5);
    CHECK(difference.lse_error <= 1e-5);
  }
}

TEST_CASE("top-1 attention gives the value row of the largest logit, the lower key of equal ones, and LSE that logit") {
  CpuContext context;
  // One query row of (1, 1) against 6 keys of dimension 2 with scale 1:
  // logits 1, 3, -2, 3, 0.5, 3: keys 1, 3 and 5 tie, key 1 wins.
  vkattn_attention_desc d;
  vkattn_attention_desc_init(&d);
  d.batch = d.q_heads = d.kv_heads = d.q_len = 1;
  d.kv_len = 6;
  d.qk_dim = 2;
  d.v_dim = 3;
  d.scale = 1.0f;
  d.has_lse = 1;
  d.mode = VKATTN_MODE_TOPK;
  d.topk.k = 1;
  vkattn_attention_desc_set_dense_layouts(&d);
  std::vector<float> q = {1.0f, 0.0f}, k = {1, 0, 3, 9, -2, 1, 3, -4, 0.5f, 2, 3, 0};
  std::vector<float> v(18), out(3, -7.0f), lse(1, 0.0f);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) * 0.25f - 1.0f;
  vkattn_host_tensors t;
  vkattn_host_tensors_init(&t);
  t.q = q.data();
  t.k = k.data();
  t.v = v.data();
  t.out = out.data();
  t.lse = lse.data();
  REQUIRE(vkattn_attention(context, &d, &t) == VKATTN_SUCCESS);
  CHECK(out == std::vector<float>{v[3], v[4], v[5]});
  CHECK(lse[0] == 3.0f);
}
