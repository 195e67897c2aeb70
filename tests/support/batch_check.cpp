#include "batch_check.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "conformance.h"
#include "reference.h"
#include "tolerance.h"

namespace vkattn_test {

namespace {

// The problem: one sequence, 4 query heads over 2 kv heads, D = 64, a
// 48-key cache of which the first 20 are filled; the step appends key 20
// and attends keys 0..20 with a bottom-right causal query.
constexpr int64_t kCacheKeys = 48;
constexpr int32_t kPosition = 20;

struct Buffers {
  std::vector<vkattn_buffer> all;
  ~Buffers() {
    for (vkattn_buffer buffer : all) vkattn_buffer_destroy(buffer);
  }
  vkattn_buffer upload(vkattn_context context, const std::vector<float>& values, std::string* error) {
    vkattn_buffer buffer = nullptr;
    if (vkattn_buffer_create(context, values.size() * 4, 0, &buffer) != VKATTN_SUCCESS ||
        vkattn_buffer_write(buffer, 0, values.data(), values.size() * 4) != VKATTN_SUCCESS) {
      *error = std::string("buffer: ") + vkattn_last_error();
      return buffer;
    }
    all.push_back(buffer);
    return buffer;
  }
};

}  // namespace

std::string check_batched_decode_step(vkattn_context context) {
  CaseSpec spec = make_case("batch", 1, 4, 2, 1, kCacheKeys, 64, 64);
  spec.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
  spec.kv_lens = true;
  spec.lse = false;
  HostInputs in = make_inputs(spec);
  in.kv_lens = {kPosition + 1};
  // The new token's key and value (sources [1, kv_heads, 1, D]) and the
  // caches as the reference sees them after the append.
  const int64_t heads = spec.kv_heads, dim = spec.qk_dim;
  std::vector<float> k_new(static_cast<size_t>(heads * dim)), v_new(k_new.size());
  for (size_t i = 0; i < k_new.size(); ++i) {
    k_new[i] = std::sin(0.37f * static_cast<float>(i));
    v_new[i] = std::cos(0.11f * static_cast<float>(i));
  }
  const std::vector<float> k_before = in.k, v_before = in.v;
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t d = 0; d < dim; ++d) {
      const size_t cache = static_cast<size_t>((h * kCacheKeys + kPosition) * dim + d);
      in.k[cache] = k_new[static_cast<size_t>(h * dim + d)];
      in.v[cache] = v_new[static_cast<size_t>(h * dim + d)];
    }
  }

  std::string error;
  Buffers buffers;
  vkattn_buffer q = buffers.upload(context, in.q, &error);
  vkattn_buffer k_cache = buffers.upload(context, k_before, &error);
  vkattn_buffer v_cache = buffers.upload(context, v_before, &error);
  vkattn_buffer k_src = buffers.upload(context, k_new, &error);
  vkattn_buffer v_src = buffers.upload(context, v_new, &error);
  const std::vector<float> zeros(static_cast<size_t>(spec.q_heads * dim), 0.0f);
  vkattn_buffer out = buffers.upload(context, zeros, &error);
  if (!error.empty()) return error;

  vkattn_append_desc append;
  vkattn_append_desc_init(&append);
  append.batch = 1;
  append.kv_heads = heads;
  append.new_tokens = 1;
  append.kv_len = kCacheKeys;
  append.qk_dim = dim;
  append.v_dim = dim;
  append.k_src_layout = vkattn_layout_bhsd(heads, 1, dim);
  append.v_src_layout = append.k_src_layout;
  append.k_layout = vkattn_layout_bhsd(heads, kCacheKeys, dim);
  append.v_layout = append.k_layout;
  vkattn_plan append_plan = nullptr, attention_plan = nullptr;
  if (vkattn_append_plan_create(context, &append, 0, &append_plan) != VKATTN_SUCCESS) {
    return std::string("append plan: ") + vkattn_last_error();
  }
  if (vkattn_plan_create(context, &in.desc, 0, &attention_plan) != VKATTN_SUCCESS) {
    vkattn_plan_destroy(append_plan);
    return std::string("attention plan: ") + vkattn_last_error();
  }
  vkattn_append_bindings append_bindings;
  vkattn_append_bindings_init(&append_bindings);
  append_bindings.k_src = k_src, append_bindings.v_src = v_src;
  append_bindings.k_cache = k_cache, append_bindings.v_cache = v_cache;
  const int32_t position = kPosition;
  append_bindings.positions = &position;
  vkattn_bindings bindings;
  vkattn_bindings_init(&bindings);
  bindings.q = q, bindings.k = k_cache, bindings.v = v_cache, bindings.out = out;
  bindings.kv_lens = in.kv_lens.data();
  vkattn_execution step[2];
  vkattn_execution_init(&step[0]);
  vkattn_execution_init(&step[1]);
  step[0].plan = append_plan;
  step[0].append_bindings = &append_bindings;
  step[1].plan = attention_plan;
  step[1].bindings = &bindings;
  uint64_t ticket = 0;
  uint32_t complete = 0;
  std::vector<float> got(zeros.size());
  if (vkattn_submit(context, step, 2, &ticket) != VKATTN_SUCCESS) {
    error = std::string("vkattn_submit: ") + vkattn_last_error();
  } else if (vkattn_context_wait(context, ticket) != VKATTN_SUCCESS ||
             vkattn_context_poll(context, ticket, &complete) != VKATTN_SUCCESS || complete != 1) {
    error = std::string("the ticket did not complete: ") + vkattn_last_error();
  } else if (vkattn_buffer_read(out, 0, got.data(), got.size() * 4) != VKATTN_SUCCESS) {
    error = std::string("read: ") + vkattn_last_error();
  }
  vkattn_plan_destroy(append_plan);
  vkattn_plan_destroy(attention_plan);
  if (!error.empty()) return error;

  const ReferenceOutput ref = reference_attention(in);
  double scale = 1e-30, worst = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    scale = std::max(scale, std::fabs(ref.out[i]));
    worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - ref.out[i]));
  }
  if (!(worst / scale <= dtype_tolerance(VKATTN_DTYPE_F32))) {
    return "relative error " + std::to_string(worst / scale) + " exceeds the f32 tolerance";
  }
  return "";
}

}  // namespace vkattn_test
