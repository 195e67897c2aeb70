// Helpers for tests that need a Vulkan device: contexts with the validation
// layer on whose messages are counted (any message fails the test), and the
// list of Vulkan devices to run on.
#pragma once

#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "conformance.h"
#include "vkattn.h"

namespace vkattn_test {

// Collects everything the library logs; validation messages are counted.
struct LogCollector {
  std::mutex mutex;
  std::vector<std::string> messages;
  std::atomic<int> validation_messages{0};
  std::atomic<int> warnings{0};

  static void callback(void* user, vkattn_log_level level, const char* message) {
    auto* self = static_cast<LogCollector*>(user);
    const std::string text = message != nullptr ? message : "";
    if (text.find("[validation]") != std::string::npos) self->validation_messages++;
    if (level <= VKATTN_LOG_WARNING) self->warnings++;
    std::lock_guard<std::mutex> lock(self->mutex);
    if (self->messages.size() < 200) self->messages.push_back(text);
  }
  std::string first_messages() {
    std::lock_guard<std::mutex> lock(mutex);
    std::string all;
    for (const std::string& m : messages) all += m + "\n";
    return all;
  }
};

// FNV-1a: a hash of a case's name that is the same on every platform.
inline uint64_t case_name_hash(const std::string& name) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : name) hash = (hash ^ c) * 1099511628211ull;
  return hash;
}

// The tiled kernel's team / K-V choices with keys split, and top-k's
// selection with one key per invocation per round (what GPUs run; CPU-type
// devices take 8), as VKATTN_VULKAN_KERNEL settings; a case runs under choice
// (case_name_hash(name) + device) % 4 on a device, so that every group's
// cases spread over all four and two devices differ. The tiled matrix
// (test_vulkan_conformance.cpp) runs them on every device; on SwiftShader
// an eighth of the cases run under GPU-assisted validation instead
// (test_gpu_assisted_validation.cpp, under_gpu_assisted_validation).
inline const std::vector<const char*>& tiled_split_choices() {
  static const std::vector<const char*> choices = {
      "tiled,subgroup,direct,split,keys=1", "tiled,subgroup,staged,split,keys=1", "tiled,shared,direct,split,keys=1",
      "tiled,shared,staged,split,keys=1"};
  return choices;
}

// Which of `cases` SwiftShader runs under GPU-assisted validation rather
// than in the tiled matrix run without it: every eighth case of each group
// (its first, ninth, ...; every group has one). The whole matrix under
// GPU-assisted validation took over 45 minutes of the 2-core CI machine's
// 90 (a third of it spread over the four choices 31, a quarter in one
// choice over 18), more than CI can give it (docs/RELIABILITY.md says how
// to run all of it by hand).
inline std::vector<bool> under_gpu_assisted_validation(const std::vector<CaseSpec>& cases) {
  std::vector<bool> chosen(cases.size());
  std::map<std::string, int> seen;  // cases of each group so far
  for (size_t c = 0; c < cases.size(); ++c) chosen[c] = seen[cases[c].group]++ % 8 == 0;
  return chosen;
}

// Where the conformance runs record the kernel variants their plans ran,
// one `<record>.txt` each (VKATTN_TEST_VARIANT_DIR; empty: not recorded).
inline std::string variant_record_dir() {
  const char* dir = std::getenv("VKATTN_TEST_VARIANT_DIR");
  return dir != nullptr ? dir : "";
}

inline bool is_swiftshader(const vkattn_device_info& info) { return std::strstr(info.name, "SwiftShader") != nullptr; }

// Vulkan physical-device indices vkattn can use.
inline std::vector<uint32_t> usable_vulkan_devices() {
  std::vector<uint32_t> result;
  uint32_t count = 0;
  if (vkattn_enumerate_devices(nullptr, 0, &count) != VKATTN_SUCCESS) return result;
  std::vector<vkattn_device_info> infos(count);
  for (auto& info : infos) vkattn_device_info_init(&info);
  if (vkattn_enumerate_devices(infos.data(), count, &count) != VKATTN_SUCCESS) return result;
  for (const auto& info : infos) {
    if (info.backend == VKATTN_BACKEND_VULKAN && info.usable) result.push_back(info.index);
  }
  return result;
}

// The description of Vulkan device `index`.
inline vkattn_device_info vulkan_device_info(uint32_t index) {
  uint32_t count = 0;
  vkattn_enumerate_devices(nullptr, 0, &count);
  std::vector<vkattn_device_info> infos(count);
  for (auto& info : infos) vkattn_device_info_init(&info);
  vkattn_enumerate_devices(infos.data(), count, &count);
  for (const auto& info : infos) {
    if (info.backend == VKATTN_BACKEND_VULKAN && info.index == index) return info;
  }
  vkattn_device_info none;
  vkattn_device_info_init(&none);
  return none;
}

// Lavapipe (llvmpipe) where present, else the first usable device. Tests that
// create many contexts run there: Mesa keeps compiled shaders in a disk cache
// across devices, where SwiftShader compiles every pipeline anew for each
// device. It is also the one driver that caps loop iterations per dispatch.
inline uint32_t lavapipe_or_first_device() {
  const std::vector<uint32_t> usable = usable_vulkan_devices();
  REQUIRE(!usable.empty());
  for (uint32_t index : usable) {
    if (std::string(vulkan_device_info(index).name).rfind("llvmpipe", 0) == 0) return index;
  }
  return usable.front();
}

// Options for a Vulkan context with validation on and logging into `log`.
inline vkattn_context_options validated_options(uint32_t device, LogCollector* log, const char* cache_path) {
  vkattn_context_options options;
  vkattn_context_options_init(&options);
  options.backend = VKATTN_BACKEND_VULKAN;
  options.device_index = static_cast<int32_t>(device);
  options.flags = VKATTN_CONTEXT_ENABLE_VALIDATION;
  options.log_fn = &LogCollector::callback;
  options.log_user_data = log;
  options.pipeline_cache_path = cache_path;
  return options;
}

// A Vulkan context with validation on and logging into `log`.
inline vkattn_status create_validated_context(uint32_t device, LogCollector* log, const char* cache_path,
                                              vkattn_context* out) {
  const vkattn_context_options options = validated_options(device, log, cache_path);
  return vkattn_context_create(&options, out);
}

// What the planner chose on `context` for the problem of `spec`.
inline vkattn_plan_info plan_info_for(vkattn_context context, const CaseSpec& spec) {
  const HostInputs in = make_inputs(spec);
  vkattn_plan plan = nullptr;
  REQUIRE(vkattn_plan_create(context, &in.desc, 0, &plan) == VKATTN_SUCCESS);
  vkattn_plan_info plan_info;
  vkattn_plan_info_init(&plan_info);
  REQUIRE(vkattn_plan_get_info(plan, &plan_info) == VKATTN_SUCCESS);
  vkattn_plan_destroy(plan);
  return plan_info;
}

}  // namespace vkattn_test
