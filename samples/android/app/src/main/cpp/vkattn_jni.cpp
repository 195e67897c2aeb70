// The sample app's native side. MainActivity calls two functions on a worker
// thread; each runs vkattn through its C API on Vulkan and then on the CPU,
// checks the results against the tests' float64 reference (vkattn's
// tests/support, built into this library), and returns a plain-text report,
// which it also writes to logcat (tag "vkattn-sample"):
//
//   runDemo         the demo's problem (a causal prefill, B=1, H=8, S=1024,
//                   D=64, f32): device, kernel, time, error against float64;
//   runConformance  the conformance matrix (docs/CONFORMANCE.md), or the
//                   cases a filter selects: as vkattn-conformance --filter,
//                   one or more comma-separated parts, any of which may
//                   occur in the case's name (samples/common/args.h).
#include <android/log.h>
#include <jni.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "args.h"
#include "conformance.h"
#include "reference.h"
#include "tolerance.h"
#include "vkattn.h"

namespace {

const char kTag[] = "vkattn-sample";

struct Target {
  vkattn_backend backend;
  const char* label;
};
const Target kTargets[] = {{VKATTN_BACKEND_VULKAN, "Vulkan"}, {VKATTN_BACKEND_CPU, "CPU"}};

void append(std::string* report, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void append(std::string* report, const char* fmt, ...) {
  char line[1024];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(line, sizeof(line), fmt, args);
  va_end(args);
  *report += line;
}

// Opens a context on the target's backend (Vulkan: the device vkattn
// chooses; `pipeline_cache` keeps compiled pipelines between runs of the
// app) and names its device; null, with the reason in the report, where
// the backend is unavailable (no Vulkan 1.1 driver, or a build without the
// Vulkan backend).
vkattn_context open_context(const Target& target, const std::string& pipeline_cache, std::string* report) {
  vkattn_context_options options;
  vkattn_context_options_init(&options);
  options.backend = target.backend;
  if (!pipeline_cache.empty()) options.pipeline_cache_path = pipeline_cache.c_str();
  vkattn_context context = nullptr;
  const vkattn_status status = vkattn_context_create(&options, &context);
  if (status != VKATTN_SUCCESS) {
    append(report, "%s: unavailable (%s: %s)\n", target.label, vkattn_status_string(status), vkattn_last_error());
    return nullptr;
  }
  vkattn_device_info info;
  vkattn_device_info_init(&info);
  vkattn_context_get_info(context, &info);
  append(report, "%s: %s\n  driver %s\n", target.label, info.name, info.driver);
  return context;
}

void demo(vkattn_context context, std::string* report) {
  vkattn_test::CaseSpec spec = vkattn_test::make_case("android-demo", 1, 8, 8, 1024, 1024, 64, 64);
  spec.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
  spec.lse = false;
  // Plan, buffers and inputs made once (through the C API); executed six
  // times, the first as a warm-up.
  vkattn_test::CaseExecution execution(context, spec);
  if (!execution.ready()) {
    append(report, "  %s\n", execution.error().c_str());
    return;
  }
  std::vector<uint8_t> out_bytes, lse_bytes;
  std::vector<double> times;
  for (int run = 0; run < 6; ++run) {
    if (!execution.run(&out_bytes, &lse_bytes)) {
      append(report, "  %s\n", execution.error().c_str());
      return;
    }
    if (run > 0) times.push_back(execution.last_ms());
  }
  std::sort(times.begin(), times.end());
  const double ms = times[times.size() / 2];

  // The same inputs in float64; O is dense [B, H, S, D] f32 in both.
  const vkattn_test::ReferenceOutput reference = vkattn_test::reference_attention(execution.inputs());
  std::vector<float> out(out_bytes.size() / sizeof(float));
  std::memcpy(out.data(), out_bytes.data(), out.size() * sizeof(float));
  if (out.size() < reference.out.size()) {
    append(report, "  output has %zu values, the reference %zu\n", out.size(), reference.out.size());
    return;
  }
  double max_error = 0.0, scale = 0.0;
  for (size_t i = 0; i < reference.out.size(); ++i) {
    max_error = std::max(max_error, std::fabs(out[i] - reference.out[i]));
    scale = std::max(scale, std::fabs(reference.out[i]));
  }
  const double relative = max_error / scale;
  const double tolerance = vkattn_test::dtype_tolerance(VKATTN_DTYPE_F32);
  const double gflop = 2.0 * (spec.qk_dim + spec.v_dim) * static_cast<double>(reference.visible_pairs) / 1e9;
  append(report, "  kernel %s\n", execution.kernel().c_str());
  append(report, "  causal prefill B=1 H=8 S=1024 D=64 f32: %.3f ms (median of 5), %.2f GFLOP/s\n", ms,
         gflop / (ms * 1e-3));
  append(report, "  max |O - O_float64| = %.3g of the output scale (tolerance %.0e): %s\n", relative, tolerance,
         relative <= tolerance ? "PASS" : "FAIL");
}

void conformance(vkattn_context context, const std::string& filter, std::string* report) {
  int passed = 0, failed = 0, skipped = 0;
  double closest = 0.0;
  std::string closest_name;
  for (const vkattn_test::CaseSpec& spec : vkattn_test::conformance_cases()) {
    const std::string name = spec.name();
    if (!vkattn_samples::filter_matches(filter, name)) continue;
    const vkattn_test::CaseResult result = vkattn_test::run_case(context, spec);
    if (result.skipped) {
      ++skipped;
      continue;
    }
    if (result.passed) {
      ++passed;
    } else {
      ++failed;
      append(report, "  FAIL %s: error %.3g (tolerance %.3g) %s\n", name.c_str(), result.error, result.allowed,
             result.message.c_str());
    }
    if (result.allowed > 0.0 && result.error / result.allowed > closest) {
      closest = result.error / result.allowed;
      closest_name = name;
    }
  }
  append(report, "  %d passed, %d failed, %d skipped\n", passed, failed, skipped);
  if (!closest_name.empty()) append(report, "  closest to its tolerance: %s (%.3f of it)\n", closest_name.c_str(), closest);
}

std::string java_string(JNIEnv* env, jstring value) {
  if (value == nullptr) return std::string();
  const char* chars = env->GetStringUTFChars(value, nullptr);
  std::string text = chars != nullptr ? chars : "";
  if (chars != nullptr) env->ReleaseStringUTFChars(value, chars);
  return text;
}

// Logs the report line by line (logcat truncates long entries) and hands it to Java.
jstring finish(JNIEnv* env, const std::string& report) {
  std::istringstream lines(report);
  std::string line;
  while (std::getline(lines, line)) __android_log_write(ANDROID_LOG_INFO, kTag, line.c_str());
  return env->NewStringUTF(report.c_str());
}

}  // namespace

extern "C" JNIEXPORT jstring JNICALL Java_org_vkattn_sample_MainActivity_runDemo(JNIEnv* env, jclass,
                                                                                 jstring cache_dir) {
  std::string report;
  append(&report, "vkattn %s\n", vkattn_version_string());
  const std::string pipeline_cache = java_string(env, cache_dir) + "/vkattn-pipelines.bin";
  for (const Target& target : kTargets) {
    vkattn_context context =
        open_context(target, target.backend == VKATTN_BACKEND_VULKAN ? pipeline_cache : std::string(), &report);
    if (context == nullptr) continue;
    demo(context, &report);
    vkattn_context_destroy(context);
  }
  return finish(env, report);
}

extern "C" JNIEXPORT jstring JNICALL Java_org_vkattn_sample_MainActivity_runConformance(JNIEnv* env, jclass,
                                                                                        jstring filter) {
  std::string report;
  const std::string only = java_string(env, filter);
  append(&report, "Conformance matrix%s%s\n", only.empty() ? "" : ", cases matching ", only.c_str());
  for (const Target& target : kTargets) {
    vkattn_context context = open_context(target, std::string(), &report);
    if (context == nullptr) continue;
    conformance(context, only, &report);
    vkattn_context_destroy(context);
  }
  return finish(env, report);
}
