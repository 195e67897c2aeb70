// Linear attention through the public API: descriptors are validated by
// field name, a descriptor compiled before the mode fields still means exact
// attention, vkattn_favor_features draws what it promises, and FAVOR+
// estimates softmax attention. (Linear attention against its own float64
// definition is the conformance matrix's "linear" group.)
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "api_helpers.h"
#include "vkattn.h"

using namespace vkattn_test;

namespace {

vkattn_attention_desc linear_desc(vkattn_feature_map map) {
  vkattn_attention_desc d = small_desc();
  d.mode = VKATTN_MODE_LINEAR;
  d.linear.feature_map = map;
  return d;
}

// splitmix64 in [-1, 1).
float next_uniform(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<float>(static_cast<double>(z >> 40) / 8388608.0 - 1.0);
}

}  // namespace

TEST_CASE("linear-attention descriptors are validated by field name") {
  CpuContext context;
  vkattn_plan plan = nullptr;
  vkattn_attention_desc d;
  const std::vector<float> w(8 * 32, 0.5f);

  d = small_desc();
  d.mode = static_cast<vkattn_attention_mode>(7);
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "mode (7)");
  d = linear_desc(VKATTN_FEATURE_MAP_NONE);
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "linear.feature_map");
  d = linear_desc(VKATTN_FEATURE_MAP_ELU);
  d.linear.num_features = 8;
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "ELU feature map");
  d = linear_desc(VKATTN_FEATURE_MAP_FAVOR);
  d.linear.features = w.data();
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "linear.num_features");
  d.linear.num_features = VKATTN_MAX_FEATURES + 1;
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "exceeds the maximum");
  d.linear.num_features = 8;
  d.linear.features = nullptr;
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "linear.features is NULL");
  std::vector<float> bad = w;
  bad[37] = std::numeric_limits<float>::quiet_NaN();
  d.linear.features = bad.data();
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "linear.features[37]");
  d = linear_desc(VKATTN_FEATURE_MAP_ELU);
  d.scale = -0.5f;
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "scale");

  // What the mode does not define is UNSUPPORTED, naming the field.
  const float per_head[4] = {1.0f, 1.0f, 1.0f, 1.0f};
  const struct {
    const char* field;
    void (*set)(vkattn_attention_desc*, const float*);
  } rejected[] = {
      {"window_left", [](vkattn_attention_desc* x, const float*) { x->window_left = 3; }},
      {"window_right", [](vkattn_attention_desc* x, const float*) { x->window_right = 3; }},
      {"global_keys", [](vkattn_attention_desc* x, const float*) { x->global_keys = 2; }},
      {"has_additive_mask", [](vkattn_attention_desc* x, const float*) { x->has_additive_mask = 1; }},
      {"has_bool_mask", [](vkattn_attention_desc* x, const float*) { x->has_bool_mask = 1; }},
      {"has_lse", [](vkattn_attention_desc* x, const float*) { x->has_lse = 1; }},
      {"softcap", [](vkattn_attention_desc* x, const float*) { x->softcap = 30.0f; }},
      {"alibi_slopes", [](vkattn_attention_desc* x, const float* h) { x->alibi_slopes = h; }},
      {"sinks", [](vkattn_attention_desc* x, const float* h) { x->sinks = h; }},
      {"rope", [](vkattn_attention_desc* x, const float*) { x->rope.style = VKATTN_ROPE_NEOX; }},
  };
  for (const auto& r : rejected) {
    INFO(r.field);
    d = linear_desc(VKATTN_FEATURE_MAP_ELU);
    r.set(&d, per_head);
    CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_UNSUPPORTED,
                          (std::string(r.field) + " is not supported in linear mode").c_str());
  }
  CHECK(plan == nullptr);

  d = linear_desc(VKATTN_FEATURE_MAP_FAVOR);
  d.linear.num_features = 8;
  d.linear.features = w.data();
  d.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
  REQUIRE(vkattn_plan_create(context, &d, 0, &plan) == VKATTN_SUCCESS);
  vkattn_plan_info info;
  vkattn_plan_info_init(&info);
  REQUIRE(vkattn_plan_get_info(plan, &info) == VKATTN_SUCCESS);
  CHECK(std::string(info.kernel) == "cpu.linear_favor");
  vkattn_plan_destroy(plan);
  plan = nullptr;
  // A decode weighs each key directly (2 rows x (8 + 32) < 8 x 32).
  d.q_len = 1;
  vkattn_attention_desc_set_dense_layouts(&d);
  REQUIRE(vkattn_plan_create(context, &d, 0, &plan) == VKATTN_SUCCESS);
  REQUIRE(vkattn_plan_get_info(plan, &info) == VKATTN_SUCCESS);
  CHECK(std::string(info.kernel) == "cpu.linear_favor_direct");
  vkattn_plan_destroy(plan);
}

TEST_CASE("a descriptor that ends before the mode fields is accepted and means exact attention") {
  CpuContext context;
  vkattn_plan plan = nullptr;
  // Fields past that size are not the caller's: whatever lies there
  // (here a linear mode that would reject has_lse) is not read.
  vkattn_attention_desc d = linear_desc(static_cast<vkattn_feature_map>(3));  // not a map (within the enum's range)
  d.has_lse = 1;
  d.struct_size = offsetof(vkattn_attention_desc, mode);
  REQUIRE(vkattn_plan_create(context, &d, 0, &plan) == VKATTN_SUCCESS);
  vkattn_plan_info info;
  vkattn_plan_info_init(&info);
  REQUIRE(vkattn_plan_get_info(plan, &info) == VKATTN_SUCCESS);
  CHECK(std::string(info.kernel).find("linear") == std::string::npos);
  vkattn_plan_destroy(plan);
  plan = nullptr;
  d.struct_size = offsetof(vkattn_attention_desc, mode) + 8;
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "struct_size");
  CHECK(plan == nullptr);
}

TEST_CASE("vkattn_favor_features draws orthogonal blocks of Gaussian-length rows, the same for the same seed") {
  const int64_t m = 2048, dim = 16;
  std::vector<float> w(m * dim), again(m * dim), other(m * dim);
  REQUIRE(vkattn_favor_features(m, dim, 7, w.data()) == VKATTN_SUCCESS);
  REQUIRE(vkattn_favor_features(m, dim, 7, again.data()) == VKATTN_SUCCESS);
  REQUIRE(vkattn_favor_features(m, dim, 8, other.data()) == VKATTN_SUCCESS);
  CHECK(std::memcmp(w.data(), again.data(), w.size() * sizeof(float)) == 0);
  CHECK(std::memcmp(w.data(), other.data(), w.size() * sizeof(float)) != 0);
  auto dot = [&](int64_t a, int64_t b) {
    double sum = 0.0;
    for (int64_t e = 0; e < dim; ++e) sum += static_cast<double>(w[a * dim + e]) * w[b * dim + e];
    return sum;
  };
  // Within a block of dim rows, every pair is orthogonal (relative to the
  // rows' lengths); across blocks they are independent draws.
  double worst_cosine = 0.0, mean_square_norm = 0.0;
  for (int64_t a = 0; a < m; ++a) {
    mean_square_norm += dot(a, a) / m;
    for (int64_t b = a / dim * dim; b < a; ++b) {
      worst_cosine = std::fmax(worst_cosine, std::fabs(dot(a, b)) / std::sqrt(dot(a, a) * dot(b, b)));
    }
  }
  CHECK(worst_cosine < 1e-5);
  CHECK(std::fabs(dot(0, dim)) / std::sqrt(dot(0, 0) * dot(dim, dim)) > 1e-3);
  // Lengths of Gaussian vectors: E[|w|^2] = dim (2048 rows: within 5 %).
  CHECK(mean_square_norm == doctest::Approx(dim).epsilon(0.05));
  // A partial last block is still orthogonal.
  std::vector<float> partial(21 * dim);
  REQUIRE(vkattn_favor_features(21, dim, 3, partial.data()) == VKATTN_SUCCESS);
  double dot_last = 0.0;
  for (int64_t e = 0; e < dim; ++e) dot_last += static_cast<double>(partial[16 * dim + e]) * partial[20 * dim + e];
  CHECK(std::fabs(dot_last) < 1e-4);

  CHECK_STATUS_MENTIONS(vkattn_favor_features(0, dim, 1, w.data()), VKATTN_ERROR_INVALID_ARGUMENT, "num_features");
  CHECK_STATUS_MENTIONS(vkattn_favor_features(8, VKATTN_MAX_HEAD_DIM + 1, 1, w.data()), VKATTN_ERROR_INVALID_ARGUMENT,
                        "qk_dim");
  CHECK_STATUS_MENTIONS(vkattn_favor_features(8, dim, 1, nullptr), VKATTN_ERROR_INVALID_ARGUMENT, "features is NULL");
}

TEST_CASE("FAVOR+ linear attention estimates softmax attention, closer with more features") {
  // One head, 8 queries, 256 keys, dim 16, logits of order 1 (at most 4): the
  // Performer's estimator of exp(scale q.k) with m orthogonal features.
  CpuContext context;
  const int64_t sq = 8, skv = 256, dim = 16;
  vkattn_attention_desc exact;
  vkattn_attention_desc_init(&exact);
  exact.batch = exact.q_heads = exact.kv_heads = 1;
  exact.q_len = sq;
  exact.kv_len = skv;
  exact.qk_dim = exact.v_dim = dim;
  vkattn_attention_desc_set_dense_layouts(&exact);
  uint64_t state = 99;
  std::vector<float> q(sq * dim), k(skv * dim), v(skv * dim);
  for (float& x : q) x = next_uniform(&state);
  for (float& x : k) x = next_uniform(&state);
  for (float& x : v) x = next_uniform(&state);
  auto run = [&](const vkattn_attention_desc& d) {
    std::vector<float> out(sq * dim, 0.0f);
    vkattn_host_tensors t;
    vkattn_host_tensors_init(&t);
    t.q = q.data();
    t.k = k.data();
    t.v = v.data();
    t.out = out.data();
    REQUIRE(vkattn_attention(context, &d, &t) == VKATTN_SUCCESS);
    return out;
  };
  const std::vector<float> reference = run(exact);
  double scale = 0.0;
  for (float x : reference) scale = std::fmax(scale, std::fabs(x));
  auto favor_error = [&](int64_t m) {
    std::vector<float> w(m * dim);
    REQUIRE(vkattn_favor_features(m, dim, 1234, w.data()) == VKATTN_SUCCESS);
    vkattn_attention_desc d = exact;
    d.mode = VKATTN_MODE_LINEAR;
    d.linear.feature_map = VKATTN_FEATURE_MAP_FAVOR;
    d.linear.num_features = m;
    d.linear.features = w.data();
    const std::vector<float> out = run(d);
    double error = 0.0;
    for (size_t e = 0; e < out.size(); ++e) error = std::fmax(error, std::fabs(out[e] - reference[e]));
    return error / scale;
  };
  const double few = favor_error(16), many = favor_error(4096);
  MESSAGE("FAVOR+ error relative to the output scale: 16 features ", few, ", 4096 features ", many);
  // The estimator's error shrinks as 1 / sqrt(m): 256 times the features,
  // about a sixteenth of the error (at least a quarter here), and with 4096
  // features the outputs (averages of 256 values in [-1, 1]) are within a
  // fifth of their own size everywhere.
  CHECK(many < 0.2);
  CHECK(many < few / 4);
}
