// Linformer through the public API: descriptors are validated by field
// name, a descriptor compiled before the Linformer fields keeps its mode,
// and with the identity as E and F Linformer is exact attention.
// (Linformer against its own float64 definition is the conformance
// matrix's "linformer" group.)
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "api_helpers.h"
#include "vkattn.h"

using namespace vkattn_test;

namespace {

// small_desc() in Linformer mode with E and F [proj_len, 32] (or one per
// kv head) pointing into `e` and `f`, sized here.
vkattn_attention_desc linformer_desc(int64_t proj_len, bool per_head, std::vector<float>* e, std::vector<float>* f) {
  vkattn_attention_desc d = small_desc();
  d.mode = VKATTN_MODE_LINFORMER;
  d.linformer.proj_len = proj_len;
  d.linformer.per_head = per_head ? 1u : 0u;
  const size_t count = static_cast<size_t>(proj_len * d.kv_len * (per_head ? d.kv_heads : 1));
  e->assign(count, 0.125f);
  f->assign(count, -0.25f);
  d.linformer.e = e->data();
  d.linformer.f = f->data();
  return d;
}

}  // namespace

TEST_CASE("Linformer descriptors are validated by field name") {
  CpuContext context;
  vkattn_plan plan = nullptr;
  std::vector<float> e, f;
  vkattn_attention_desc d = linformer_desc(8, false, &e, &f);
  d.linformer.proj_len = 0;
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "linformer.proj_len");
  d.linformer.proj_len = VKATTN_MAX_PROJECTION + 1;
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "linformer.proj_len");
  d = linformer_desc(8, false, &e, &f);
  d.linformer.per_head = 2;
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "linformer.per_head");
  d = linformer_desc(8, false, &e, &f);
  d.linformer.e = nullptr;
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "linformer.e is NULL");
  d = linformer_desc(8, true, &e, &f);
  d.linformer.f = nullptr;
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "linformer.f is NULL");
  // The last value of F's second kv head: the whole of each matrix is read.
  d = linformer_desc(8, true, &e, &f);
  f.back() = std::numeric_limits<float>::infinity();
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "linformer.f[511]");
  // E and F beyond VKATTN_MAX_PROJECTION_ELEMENTS each are refused before
  // they are read.
  d = linformer_desc(8, false, &e, &f);
  d.kv_len = VKATTN_MAX_PROJECTION_ELEMENTS / 8 + 1;
  vkattn_attention_desc_set_dense_layouts(&d);
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_UNSUPPORTED,
                        "VKATTN_MAX_PROJECTION_ELEMENTS");

  // What needs a key's position is UNSUPPORTED, naming the field.
  const float per_head[4] = {1.0f, 1.0f, 1.0f, 1.0f};
  const struct {
    const char* field;
    void (*set)(vkattn_attention_desc*, const float*);
  } rejected[] = {
      {"causal", [](vkattn_attention_desc* x, const float*) { x->causal = VKATTN_CAUSAL_BOTTOM_RIGHT; }},
      {"window_left", [](vkattn_attention_desc* x, const float*) { x->window_left = 3; }},
      {"window_right", [](vkattn_attention_desc* x, const float*) { x->window_right = 3; }},
      {"global_keys", [](vkattn_attention_desc* x, const float*) { x->global_keys = 2; }},
      {"has_additive_mask", [](vkattn_attention_desc* x, const float*) { x->has_additive_mask = 1; }},
      {"has_bool_mask", [](vkattn_attention_desc* x, const float*) { x->has_bool_mask = 1; }},
      {"alibi_slopes", [](vkattn_attention_desc* x, const float* h) { x->alibi_slopes = h; }},
      {"rope", [](vkattn_attention_desc* x, const float*) { x->rope.style = VKATTN_ROPE_NEOX; }},
  };
  for (const auto& r : rejected) {
    INFO(r.field);
    d = linformer_desc(8, false, &e, &f);
    r.set(&d, per_head);
    CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_UNSUPPORTED,
                          (std::string(r.field) + " is not supported in Linformer mode").c_str());
  }
  CHECK(plan == nullptr);

  // Softcap, sinks, LSE and key lengths are the softmax's and admitted.
  d = linformer_desc(8, true, &e, &f);
  d.softcap = 30.0f;
  d.sinks = per_head;
  d.has_lse = 1;
  d.has_kv_lens = 1;
  vkattn_attention_desc_set_dense_layouts(&d);
  REQUIRE(vkattn_plan_create(context, &d, 0, &plan) == VKATTN_SUCCESS);
  vkattn_plan_info info;
  vkattn_plan_info_init(&info);
  REQUIRE(vkattn_plan_get_info(plan, &info) == VKATTN_SUCCESS);
  CHECK(std::string(info.kernel).rfind("cpu.linformer+", 0) == 0);
  // The projected keys and values ([2, 2, 8, 32] f32 each) are workspace.
  CHECK(info.workspace_bytes >= 2 * 2 * 2 * 8 * 32 * 4);
  vkattn_plan_destroy(plan);
}

TEST_CASE("a descriptor that ends before the Linformer fields is accepted and keeps its mode") {
  CpuContext context;
  vkattn_plan plan = nullptr;
  std::vector<float> e, f;
  // Linear attention from a descriptor without `linformer`: the fields past
  // its size (a Linformer projection that would be invalid here) are not read.
  vkattn_attention_desc d = linformer_desc(8, false, &e, &f);
  d.mode = VKATTN_MODE_LINEAR;
  d.linear.feature_map = VKATTN_FEATURE_MAP_ELU;
  d.linformer.per_head = 5;
  d.struct_size = offsetof(vkattn_attention_desc, linformer);
  REQUIRE(vkattn_plan_create(context, &d, 0, &plan) == VKATTN_SUCCESS);
  vkattn_plan_info info;
  vkattn_plan_info_init(&info);
  REQUIRE(vkattn_plan_get_info(plan, &info) == VKATTN_SUCCESS);
  CHECK(std::string(info.kernel) == "cpu.linear_elu");
  vkattn_plan_destroy(plan);
  plan = nullptr;
  // Linformer from such a descriptor has no projection: proj_len is 0.
  d.mode = VKATTN_MODE_LINFORMER;
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "linformer.proj_len");
  CHECK(plan == nullptr);
}

TEST_CASE("Linformer with identity projections equals exact attention") {
  // E = F = I [kv_len, kv_len]: K' = K and V' = V, so the output is exact
  // softmax attention's (with LSE and sinks, per kv head or shared).
  CpuContext context;
  vkattn_attention_desc exact = small_desc();
  exact.has_lse = 1;
  vkattn_attention_desc_set_dense_layouts(&exact);
  const float sinks[4] = {0.5f, -1.0f, 1.5f, 0.0f};
  exact.sinks = sinks;
  const int64_t skv = exact.kv_len;
  std::vector<float> want_lse, got_lse;
  const std::vector<float> want = run_small_host(context, exact, &want_lse);
  for (bool per_head : {false, true}) {
    INFO("per kv head: " << per_head);
    std::vector<float> identity(static_cast<size_t>(skv * skv * (per_head ? 2 : 1)), 0.0f);
    for (size_t h = 0; h < (per_head ? 2u : 1u); ++h)
      for (int64_t p = 0; p < skv; ++p) identity[h * skv * skv + p * skv + p] = 1.0f;
    vkattn_attention_desc d = exact;
    d.mode = VKATTN_MODE_LINFORMER;
    d.linformer.proj_len = skv;
    d.linformer.per_head = per_head ? 1u : 0u;
    d.linformer.e = identity.data();
    d.linformer.f = identity.data();
    const std::vector<float> got = run_small_host(context, d, &got_lse);
    double error = 0.0, lse_error = 0.0;
    for (size_t i = 0; i < got.size(); ++i) error = std::fmax(error, std::fabs(got[i] - want[i]));
    for (size_t i = 0; i < got_lse.size(); ++i) lse_error = std::fmax(lse_error, std::fabs(got_lse[i] - want_lse[i]));
    CHECK(error < 1e-5);
    CHECK(lse_error < 1e-5);
  }
}
