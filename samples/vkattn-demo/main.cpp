// vkattn-demo: what vkattn chose, the textbook toy example, and a realistic
// causal prefill with its speed and its error against the float64 reference.
// Uses only the public C API (plus the tests' reference for the error).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

#include "conformance.h"
#include "reference.h"
#include "vkattn.h"

namespace {

bool ok(vkattn_status status, const char* what) {
  if (status == VKATTN_SUCCESS) return true;
  std::fprintf(stderr, "vkattn-demo: %s failed: %s: %s\n", what, vkattn_status_string(status), vkattn_last_error());
  return false;
}

// Attention of the 2x2 queries over 3 keys with head width `v_dim`.
bool toy(vkattn_context context, const float* v, int64_t v_dim, float* out) {
  vkattn_attention_desc desc;
  vkattn_attention_desc_init(&desc);
  desc.batch = desc.q_heads = desc.kv_heads = 1;
  desc.q_len = 2;
  desc.kv_len = 3;
  desc.qk_dim = 2;
  desc.v_dim = v_dim;
  desc.scale = static_cast<float>(1.0 / std::sqrt(2.0));
  vkattn_attention_desc_set_dense_layouts(&desc);
  static const float q[] = {1, 0, 0, 1};
  static const float k[] = {1, 0, 1, 1, 0, 1};
  vkattn_host_tensors t;
  vkattn_host_tensors_init(&t);
  t.q = q;
  t.k = k;
  t.v = v;
  t.out = out;
  return ok(vkattn_attention(context, &desc, &t), "vkattn_attention");
}

}  // namespace

int main() {
  std::printf("vkattn %s\n", vkattn_version_string());
  vkattn_context context = nullptr;
  if (!ok(vkattn_context_create(nullptr, &context), "vkattn_context_create")) return 1;
  vkattn_device_info info;
  vkattn_device_info_init(&info);
  if (!ok(vkattn_context_get_info(context, &info), "vkattn_context_get_info")) return 1;
  std::printf("backend: %s\ndevice:  %s\ndriver:  %s\n\n", info.backend == VKATTN_BACKEND_VULKAN ? "Vulkan" : "CPU",
              info.name, info.driver);

  // The toy example. With V = I (3x3) the output rows are the attention
  // weights themselves, computed by the library.
  std::printf("Toy example: Q=[[1,0],[0,1]] K=[[1,0],[1,1],[0,1]] V=[[1,0],[0,2],[1,1]] scale=1/sqrt(2)\n");
  const float identity[] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  float weights[6];
  if (!toy(context, identity, 3, weights)) return 1;
  std::printf("attention weights (softmax(Q K^T * scale)):\n");
  for (int r = 0; r < 2; ++r) {
    const float* w = weights + 3 * r;
    std::printf("  [%.4f, %.4f, %.4f]  row sum %.6f\n", w[0], w[1], w[2], w[0] + w[1] + w[2]);
  }
  const float v[] = {1, 0, 0, 2, 1, 1};
  float o[4];
  if (!toy(context, v, 2, o)) return 1;
  std::printf("O = weights . V:\n  O[0] = [%.4f, %.4f]\n  O[1] = [%.4f, %.4f]\n\n", o[0], o[1], o[2], o[3]);

  // A realistic problem: one causal prefill, B=1, H=8, S=1024, D=64.
  vkattn_test::CaseSpec spec;
  spec.group = "demo";
  spec.batch = 1;
  spec.q_heads = spec.kv_heads = 8;
  spec.q_len = spec.kv_len = 1024;
  spec.qk_dim = spec.v_dim = 64;
  spec.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
  spec.lse = false;
  const vkattn_test::HostInputs in = vkattn_test::make_inputs(spec);
  vkattn_plan plan = nullptr;
  if (!ok(vkattn_plan_create(context, &in.desc, 0, &plan), "vkattn_plan_create")) return 1;
  vkattn_buffer q = nullptr, k = nullptr, vb = nullptr, out = nullptr;
  const size_t bytes = in.q.size() * 4;
  if (!ok(vkattn_buffer_create(context, bytes, 0, &q), "vkattn_buffer_create") ||
      !ok(vkattn_buffer_create(context, bytes, 0, &k), "vkattn_buffer_create") ||
      !ok(vkattn_buffer_create(context, bytes, 0, &vb), "vkattn_buffer_create") ||
      !ok(vkattn_buffer_create(context, bytes, 0, &out), "vkattn_buffer_create") ||
      !ok(vkattn_buffer_write(q, 0, in.q.data(), bytes), "vkattn_buffer_write") ||
      !ok(vkattn_buffer_write(k, 0, in.k.data(), bytes), "vkattn_buffer_write") ||
      !ok(vkattn_buffer_write(vb, 0, in.v.data(), bytes), "vkattn_buffer_write")) {
    return 1;
  }
  vkattn_bindings bindings;
  vkattn_bindings_init(&bindings);
  bindings.q = q;
  bindings.k = k;
  bindings.v = vb;
  bindings.out = out;
  std::vector<double> times;
  for (int run = 0; run < 6; ++run) {  // the first run warms up and is not counted
    const auto start = std::chrono::steady_clock::now();
    if (!ok(vkattn_plan_execute(plan, &bindings), "vkattn_plan_execute") ||
        !ok(vkattn_context_finish(context), "vkattn_context_finish")) {
      return 1;
    }
    if (run > 0) times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  const double ms = times[times.size() / 2];
  std::vector<float> result(in.q.size());
  if (!ok(vkattn_buffer_read(out, 0, result.data(), bytes), "vkattn_buffer_read")) return 1;
  const vkattn_test::ReferenceOutput ref = vkattn_test::reference_attention(in);
  double max_error = 0.0, scale = 0.0;
  for (size_t i = 0; i < result.size(); ++i) {
    max_error = std::max(max_error, std::fabs(result[i] - ref.out[i]));
    scale = std::max(scale, std::fabs(ref.out[i]));
  }
  const double gflop = 2.0 * (64 + 64) * static_cast<double>(ref.visible_pairs) / 1e9;
  std::printf("Causal prefill B=1 H=8 S=1024 D=64 f32:\n");
  std::printf("  time %.3f ms (median of 5), %.2f GFLOP/s (%.3f GFLOP counted over visible pairs)\n", ms,
              gflop / (ms * 1e-3), gflop);
  std::printf("  max |error| vs float64 reference: %.3g (%.3g relative to the output scale)\n", max_error,
              max_error / scale);
  vkattn_buffer_destroy(q);
  vkattn_buffer_destroy(k);
  vkattn_buffer_destroy(vb);
  vkattn_buffer_destroy(out);
  vkattn_plan_destroy(plan);
  vkattn_context_destroy(context);
  return 0;
}
