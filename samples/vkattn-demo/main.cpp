// vkattn-demo: what vkattn chose, the textbook toy example, and a realistic
// causal prefill with its speed and its error against the float64 reference.
// Uses only the public C API (plus the tests' reference for the error).
//
//   vkattn-demo [--backend auto|cpu|vulkan|all] [--pipeline-cache PATH]
//
// --backend all runs the realistic problem on the CPU and on every Vulkan
// device found; --pipeline-cache persists compiled pipelines between runs.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "conformance.h"
#include "reference.h"
#include "vkattn.h"

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

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

bool toy_example(vkattn_context context) {
  std::printf("Toy example: Q=[[1,0],[0,1]] K=[[1,0],[1,1],[0,1]] V=[[1,0],[0,2],[1,1]] scale=1/sqrt(2)\n");
  // With V = I (3x3) the output rows are the attention weights themselves,
  // computed by the library.
  const float identity[] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  float weights[6];
  if (!toy(context, identity, 3, weights)) return false;
  std::printf("attention weights (softmax(Q K^T * scale)):\n");
  for (int r = 0; r < 2; ++r) {
    const float* w = weights + 3 * r;
    std::printf("  [%.4f, %.4f, %.4f]  row sum %.6f\n", w[0], w[1], w[2], w[0] + w[1] + w[2]);
  }
  const float v[] = {1, 0, 0, 2, 1, 1};
  float o[4];
  if (!toy(context, v, 2, o)) return false;
  std::printf("O = weights . V:\n  O[0] = [%.4f, %.4f]\n  O[1] = [%.4f, %.4f]\n\n", o[0], o[1], o[2], o[3]);
  return true;
}

// The realistic problem: one causal prefill, B=1, H=8, S=1024, D=64, f32.
bool realistic(vkattn_context context, const char* label) {
  vkattn_test::CaseSpec spec;
  spec.group = "demo";
  spec.batch = 1;
  spec.q_heads = spec.kv_heads = 8;
  spec.q_len = spec.kv_len = 1024;
  spec.qk_dim = spec.v_dim = 64;
  spec.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
  spec.lse = false;
  const vkattn_test::HostInputs in = vkattn_test::make_inputs(spec);
  auto start = Clock::now();
  vkattn_plan plan = nullptr;
  if (!ok(vkattn_plan_create(context, &in.desc, 0, &plan), "vkattn_plan_create")) return false;
  const double plan_ms = ms_since(start);
  const size_t bytes = in.q.size() * 4;
  vkattn_buffer buffers[4] = {};
  for (vkattn_buffer& b : buffers) {
    if (!ok(vkattn_buffer_create(context, bytes, 0, &b), "vkattn_buffer_create")) return false;
  }
  if (!ok(vkattn_buffer_write(buffers[0], 0, in.q.data(), bytes), "vkattn_buffer_write") ||
      !ok(vkattn_buffer_write(buffers[1], 0, in.k.data(), bytes), "vkattn_buffer_write") ||
      !ok(vkattn_buffer_write(buffers[2], 0, in.v.data(), bytes), "vkattn_buffer_write")) {
    return false;
  }
  vkattn_bindings bindings;
  vkattn_bindings_init(&bindings);
  bindings.q = buffers[0];
  bindings.k = buffers[1];
  bindings.v = buffers[2];
  bindings.out = buffers[3];
  std::vector<double> times;
  double first_ms = 0.0;
  for (int run = 0; run < 6; ++run) {  // the first run warms up and is reported apart
    start = Clock::now();
    if (!ok(vkattn_plan_execute(plan, &bindings), "vkattn_plan_execute") ||
        !ok(vkattn_context_finish(context), "vkattn_context_finish")) {
      return false;
    }
    const double ms = ms_since(start);
    if (run == 0) {
      first_ms = ms;
    } else {
      times.push_back(ms);
    }
  }
  std::sort(times.begin(), times.end());
  const double ms = times[times.size() / 2];
  std::vector<float> result(in.q.size());
  if (!ok(vkattn_buffer_read(buffers[3], 0, result.data(), bytes), "vkattn_buffer_read")) return false;
  const vkattn_test::ReferenceOutput ref = vkattn_test::reference_attention(in);
  double max_error = 0.0, scale = 0.0;
  for (size_t i = 0; i < result.size(); ++i) {
    max_error = std::max(max_error, std::fabs(result[i] - ref.out[i]));
    scale = std::max(scale, std::fabs(ref.out[i]));
  }
  const double gflop = 2.0 * (64 + 64) * static_cast<double>(ref.visible_pairs) / 1e9;
  vkattn_plan_info info;
  vkattn_plan_info_init(&info);
  vkattn_plan_get_info(plan, &info);
  std::printf("Causal prefill B=1 H=8 S=1024 D=64 f32 on %s (%s):\n", label, info.kernel);
  std::printf("  plan %.1f ms, first execution %.1f ms\n", plan_ms, first_ms);
  std::printf("  time %.3f ms (median of 5), %.2f GFLOP/s (%.3f GFLOP counted over visible pairs)\n", ms,
              gflop / (ms * 1e-3), gflop);
  std::printf("  max |error| vs float64 reference: %.3g (%.3g relative to the output scale)\n", max_error,
              max_error / scale);
  for (vkattn_buffer b : buffers) vkattn_buffer_destroy(b);
  vkattn_plan_destroy(plan);
  return true;
}

bool open_context(vkattn_backend backend, int32_t device, const char* cache, vkattn_context* context,
                  std::string* label) {
  vkattn_context_options options;
  vkattn_context_options_init(&options);
  options.backend = backend;
  options.device_index = device;
  options.pipeline_cache_path = cache;
  const auto start = Clock::now();
  if (!ok(vkattn_context_create(&options, context), "vkattn_context_create")) return false;
  const double create_ms = ms_since(start);
  vkattn_device_info info;
  vkattn_device_info_init(&info);
  if (!ok(vkattn_context_get_info(*context, &info), "vkattn_context_get_info")) return false;
  *label = std::string(info.backend == VKATTN_BACKEND_VULKAN ? "Vulkan " : "CPU ") + info.name;
  std::printf("backend: %s\ndevice:  %s\ndriver:  %s\ncontext: created in %.1f ms\n\n",
              info.backend == VKATTN_BACKEND_VULKAN ? "Vulkan" : "CPU", info.name, info.driver, create_ms);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string backend = "auto";
  const char* cache = nullptr;
  for (int a = 1; a < argc; ++a) {
    if (std::strcmp(argv[a], "--backend") == 0 && a + 1 < argc) {
      backend = argv[++a];
    } else if (std::strcmp(argv[a], "--pipeline-cache") == 0 && a + 1 < argc) {
      cache = argv[++a];
    } else {
      std::fprintf(stderr, "usage: vkattn-demo [--backend auto|cpu|vulkan|all] [--pipeline-cache PATH]\n");
      return 2;
    }
  }
  if (backend != "auto" && backend != "cpu" && backend != "vulkan" && backend != "all") {
    std::fprintf(stderr, "vkattn-demo: --backend must be auto, cpu, vulkan or all\n");
    return 2;
  }
  std::printf("vkattn %s\n", vkattn_version_string());

  // Targets: the one asked for, or (all) the CPU and every Vulkan device.
  std::vector<std::pair<vkattn_backend, int32_t>> targets;
  if (backend == "all") {
    targets.push_back({VKATTN_BACKEND_CPU, -1});
    uint32_t count = 0;
    vkattn_enumerate_devices(nullptr, 0, &count);
    std::vector<vkattn_device_info> devices(count);
    for (auto& d : devices) vkattn_device_info_init(&d);
    vkattn_enumerate_devices(devices.data(), count, &count);
    for (const auto& d : devices) {
      if (d.backend == VKATTN_BACKEND_VULKAN && d.usable) targets.push_back({VKATTN_BACKEND_VULKAN, int32_t(d.index)});
    }
  } else {
    targets.push_back({backend == "cpu" ? VKATTN_BACKEND_CPU
                                        : backend == "vulkan" ? VKATTN_BACKEND_VULKAN : VKATTN_BACKEND_AUTO,
                       -1});
  }
  for (size_t t = 0; t < targets.size(); ++t) {
    vkattn_context context = nullptr;
    std::string label;
    if (!open_context(targets[t].first, targets[t].second, cache, &context, &label)) return 1;
    const bool done = (t > 0 || toy_example(context)) && realistic(context, label.c_str());
    vkattn_context_destroy(context);
    if (!done) return 1;
    std::printf("\n");
  }
  return 0;
}
