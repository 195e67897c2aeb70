// The conformance matrix on every Vulkan device found, with the validation
// layer and synchronization validation on: every case must match the float64
// reference and the layer must report nothing. One process runs a whole
// matrix (hundreds of plans created, executed and destroyed) and must end
// cleanly.
//
// Each device runs the matrix with the kernel it chooses, and again with the
// tiled kernel forced (VKATTN_VULKAN_KERNEL), each case under one of its
// choices: subgroup or shared-memory teams, K/V staged or direct, split-KV
// wherever a case has the keys (the others run whole), and fp16 arithmetic
// for f16 storage where the device has it. Every run records the variants its
// plans used (vkattn_plan_info.kernel) under VKATTN_TEST_VARIANT_DIR; the last
// test fails if a variant that exists was executed by none of them.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "conformance.h"
#include "runtime/vulkan/device_caps.h"
#include "vulkan_test_support.h"

using namespace vkattn_test;

namespace {

// One context per VKATTN_VULKAN_KERNEL setting on one device, and what ran on it.
struct ForcedContext {
  std::string forced;
  vkattn_context context = nullptr;
  int passed = 0;
  std::string unsupported;  // why the device cannot make this setting's variants
  std::set<std::string> kernels;  // the variants its plans ran
};

// Whether variant `kernel` ("vulkan.tiled.f16.subgroup.fp16.staged.split")
// stores `dtype` and splits the keys or not.
bool variant_is(const std::string& kernel, vkattn_dtype dtype, bool split) {
  const std::string storage = dtype == VKATTN_DTYPE_F16 ? ".f16." : ".f32.";
  const std::string ending = split ? ".split" : ".whole";
  return kernel.find(storage) != std::string::npos && kernel.size() >= ending.size() &&
         kernel.compare(kernel.size() - ending.size(), ending.size(), ending) == 0;
}

// Runs the matrix on every device, each case under one of `kernels` (a
// VKATTN_VULKAN_KERNEL setting each, with ",fp16" added on devices with fp16
// arithmetic when `fp16_where_possible`). With several settings, a hash of
// the case's name picks one, shifted by the device's index: every group's
// cases spread over all settings, and two devices run a case under two
// different ones. Linear-attention cases, whose one kernel no setting
// changes, run only in the device's own run ("auto"); top-k cases run in
// both (the settings give its selection one key per invocation). With
// gpu_assisted_elsewhere, SwiftShader leaves out the cases it runs under
// GPU-assisted validation (under_gpu_assisted_validation).
// Records the variants that ran in `<record_dir>/<record>.txt`.
void run_matrix(const char* record, const std::vector<const char*>& kernels, bool fp16_where_possible,
                bool repeat, bool gpu_assisted_elsewhere) {
  const bool forced = !(kernels.size() == 1 && std::string(kernels[0]) == "auto");
  std::set<std::string> executed;
  const std::vector<CaseSpec> cases = conformance_cases();
  const std::vector<bool> gpu_assisted = under_gpu_assisted_validation(cases);
  for (uint32_t device : usable_vulkan_devices()) {
    CAPTURE(device);
    const vkattn_device_info info = vulkan_device_info(device);
    const bool leave_gpu_assisted = gpu_assisted_elsewhere && is_swiftshader(info);
    int run_elsewhere = 0;
    LogCollector log;
    std::vector<ForcedContext> contexts(kernels.size());
    for (size_t i = 0; i < kernels.size(); ++i) {
      contexts[i].forced = kernels[i];
      if (fp16_where_possible && info.fp16_arithmetic) contexts[i].forced += ",fp16";
      REQUIRE(setenv("VKATTN_VULKAN_KERNEL", contexts[i].forced.c_str(), 1) == 0);
      REQUIRE(create_validated_context(device, &log, nullptr, &contexts[i].context) == VKATTN_SUCCESS);
    }
    REQUIRE(unsetenv("VKATTN_VULKAN_KERNEL") == 0);
    std::map<vkattn_dtype, double> worst;
    int executions = 0;
    for (size_t c = 0; c < cases.size(); ++c) {
      const CaseSpec& spec = cases[c];
      if (forced && spec.mode == VKATTN_MODE_LINEAR) continue;
      if (leave_gpu_assisted && gpu_assisted[c]) {
        ++run_elsewhere;
        continue;
      }
      ForcedContext& on = contexts[(case_name_hash(spec.name()) + device) % contexts.size()];
      if (!on.unsupported.empty()) continue;  // reported below, never passed
      const CaseResult result = run_case(on.context, spec);
      INFO(spec.name(), " (VKATTN_VULKAN_KERNEL=", on.forced, "): ", result.message);
      if (result.skipped) {
        // Allowed only before any case ran on that context: a variant this
        // device cannot make (no subgroup shuffles, say). A case the variant
        // could not run after others passed is a failure.
        CHECK_MESSAGE(on.passed == 0, "VKATTN_VULKAN_KERNEL=", on.forced, ": ", result.message);
        on.unsupported = result.message;
        continue;
      }
      CHECK(result.passed);
      if (result.passed && repeat) {
        // Determinism: at least 3 executions, up to 100 while they took
        // under 200 ms in all (CPU-type devices run the long cases slowly:
        // 3000 x 3000 keys take 3 s on SwiftShader, and ten runs of every
        // slow case cost CI minutes for nothing a third would find). On
        // the same context, whose pipelines are compiled already.
        const CaseResult again = check_repeatable(on.context, spec, 3, 100, 200.0);
        CHECK_MESSAGE(again.passed, "repeated: ", again.message);
        executions += again.runs;
      }
      if (result.passed) ++on.passed;
      on.kernels.insert(result.kernel);
      worst[spec.dtype] = std::max(worst[spec.dtype], result.error / result.allowed);
    }
    // The hash spreads the cases; it does not promise that every setting
    // met f32 and f16 cases with one tile of keys (whole) and with more
    // (split). Where one did not, more cases of that storage run under it
    // until its variant appears (a few; the variant check below still
    // fails if none does).
    if (contexts.size() > 1) {
      for (ForcedContext& on : contexts) {
        for (vkattn_dtype dtype : {VKATTN_DTYPE_F32, VKATTN_DTYPE_F16}) {
          for (bool split : {false, true}) {
            auto seen = [&] {
              for (const std::string& kernel : on.kernels) {
                if (variant_is(kernel, dtype, split)) return true;
              }
              return false;
            };
            // Candidates of that storage, most likely first: the fewest keys
            // for one tile, key counts nearest 512 for several.
            std::vector<const CaseSpec*> candidates;
            for (const CaseSpec& spec : cases) {
              if (spec.dtype == dtype && spec.mode != VKATTN_MODE_LINEAR && spec.mode != VKATTN_MODE_TOPK) {
                candidates.push_back(&spec);
              }
            }
            std::stable_sort(candidates.begin(), candidates.end(), [split](const CaseSpec* a, const CaseSpec* b) {
              if (!split) return a->kv_len < b->kv_len;
              return std::llabs(a->kv_len - 512) < std::llabs(b->kv_len - 512);
            });
            int tries = 0;
            for (const CaseSpec* candidate : candidates) {
              if (!on.unsupported.empty() || seen() || tries == 40) break;
              const CaseSpec& spec = *candidate;
              ++tries;
              const CaseResult result = run_case(on.context, spec);
              INFO(spec.name(), " (VKATTN_VULKAN_KERNEL=", on.forced, ", topping up): ", result.message);
              CHECK(result.passed);
              on.kernels.insert(result.kernel);
            }
          }
        }
      }
    }
    for (ForcedContext& on : contexts) {
      if (!on.unsupported.empty()) {
        MESSAGE("Vulkan device ", device, " (", info.name, ") cannot run VKATTN_VULKAN_KERNEL=", on.forced, ": ",
                on.unsupported);
      } else {
        MESSAGE("Vulkan device ", device, " (", info.name, "), VKATTN_VULKAN_KERNEL=", on.forced, ": ", on.passed,
                " cases passed");
      }
      executed.insert(on.kernels.begin(), on.kernels.end());
      CHECK(vkattn_context_destroy(on.context) == VKATTN_SUCCESS);
    }
    MESSAGE("Vulkan device ", device, ": worst error / tolerance: f32 ", worst[VKATTN_DTYPE_F32], ", f16 ",
            worst[VKATTN_DTYPE_F16]);
    if (leave_gpu_assisted) {
      MESSAGE("Vulkan device ", device, " (", info.name, "): ", run_elsewhere,
              " cases run under GPU-assisted validation instead (vkattn_gpu_validation_tests)");
    }
    if (repeat) MESSAGE("Vulkan device ", device, ": every passing case bitwise identical over ", executions, " executions");
    CHECK_MESSAGE(log.validation_messages.load() == 0, log.first_messages());
  }
  if (!variant_record_dir().empty()) {
    std::ofstream out(variant_record_dir() + "/" + record + ".txt");
    for (const std::string& name : executed) out << name << "\n";
    REQUIRE(out.good());
  }
}

}  // namespace

TEST_CASE("conformance matrix on every Vulkan device, the device's own kernel, validation clean, each case executed 3 to 100 times bitwise identically") {
  run_matrix("own", {"auto"}, false, true, false);
}

// The tiled kernel is what GPUs run; on these CPU-type devices it runs only
// when forced (and top-k's selection with one key per invocation, likewise). Its four team / K-V choices share the matrix (each case runs
// under one per device) rather than each running all of it: one whole run
// on lavapipe and SwiftShader took 14 minutes here (both compile every
// case's pipelines anew in CI), four would not fit CI's time. An eighth of
// SwiftShader's cases run under GPU-assisted validation instead
// (vkattn_gpu_validation_tests), which checks what this run checks and
// every access's bounds besides. vkattn-conformance runs any one choice on
// every case.
TEST_CASE("conformance matrix on every Vulkan device, tiled kernel forced, each case under one of its team and K/V choices, split, top-k one key per invocation") {
  run_matrix("tiled", tiled_split_choices(), true, false, true);
}

// Runs after the matrix runs (a CTest fixture): the union of their records
// must hold every variant the planner can choose for some device.
TEST_CASE("every kernel variant the planner can choose was executed by the conformance runs") {
  REQUIRE_MESSAGE(!variant_record_dir().empty(), "VKATTN_TEST_VARIANT_DIR is not set");
  std::set<std::string> executed;
  // (gpuav: SwiftShader's forced run, under GPU-assisted validation in
  // vkattn_gpu_validation_tests; absent where that binary is skipped.)
  for (const char* record : {"own", "tiled", "gpuav"}) {
    std::ifstream in(variant_record_dir() + "/" + record + ".txt");
    if (std::string(record) == "gpuav" && !in.good()) {
      MESSAGE("no record of the GPU-assisted run (no SwiftShader or validation layer)");
      continue;
    }
    CHECK_MESSAGE(in.good(), "no record of the ", std::string(record), " run");
    std::string line;
    while (std::getline(in, line)) {
      // A plan of several stages names them joined by '+' (Linformer's
      // projection, then its softmax kernel): each stage ran.
      for (size_t start = 0; start < line.size();) {
        const size_t end = std::min(line.find('+', start), line.size());
        const std::string stage = line.substr(start, end - start);
        if (stage.compare(0, std::strlen("vulkan."), "vulkan.") == 0) executed.insert(stage.substr(std::strlen("vulkan.")));
        start = end + 1;
      }
    }
  }
  int missing = 0;
  for (const std::string& variant : vkattn::vk::all_variant_names()) {
    if (executed.count(variant) == 0) {
      ++missing;
      FAIL_CHECK("kernel variant " << variant << " was not executed on any Vulkan device");
    }
  }
  MESSAGE(executed.size(), " variants executed, ", missing, " missing");
}
