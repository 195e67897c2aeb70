// Tuning on the device (VKATTN_PLAN_TUNE, tuning_cache_path) on every
// Vulkan device found: candidates are timed and the winner kept, the winner
// computes the reference's result, the cache file carries it to a later
// context without timing again, and foreign or corrupt files are ignored
// with a warning.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "conformance.h"
#include "vulkan_test_support.h"

using namespace vkattn_test;

namespace {

std::string temp_path(const char* name) { return "/tmp/vkattn_" + std::string(name) + "_" + std::to_string(getpid()); }

struct TuningContext {
  LogCollector log;
  vkattn_context context = nullptr;
  TuningContext(uint32_t device, const std::string& path) {
    vkattn_context_options options = validated_options(device, &log, nullptr);
    options.tuning_cache_path = path.c_str();
    options.log_level = VKATTN_LOG_INFO;
    REQUIRE(vkattn_context_create(&options, &context) == VKATTN_SUCCESS);
  }
  ~TuningContext() { CHECK(vkattn_context_destroy(context) == VKATTN_SUCCESS); }
  bool logged(const std::string& text) {
    std::lock_guard<std::mutex> lock(log.mutex);
    for (const std::string& m : log.messages) {
      if (m.find(text) != std::string::npos) return true;
    }
    return false;
  }
};

// Creates the plan of `spec` with `flags` and returns whether it is tuned.
bool plan_is_tuned(vkattn_context context, const CaseSpec& spec, uint32_t flags) {
  const vkattn_attention_desc desc = make_desc(spec);
  vkattn_plan plan = nullptr;
  REQUIRE(vkattn_plan_create(context, &desc, flags, &plan) == VKATTN_SUCCESS);
  vkattn_plan_info info;
  vkattn_plan_info_init(&info);
  REQUIRE(vkattn_plan_get_info(plan, &info) == VKATTN_SUCCESS);
  CHECK(vkattn_plan_destroy(plan) == VKATTN_SUCCESS);
  return info.tuned == 1;
}

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A decode step (f16 K/V, GQA) and a causal prefill: the two shapes users tune.
std::vector<CaseSpec> tuned_cases() {
  CaseSpec decode = make_case("tuning", 1, 4, 2, 1, 1031, 64, 64, VKATTN_DTYPE_F16);
  CaseSpec prefill = make_case("tuning", 1, 2, 2, 45, 77, 32, 32);
  prefill.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
  return {decode, prefill};
}

}  // namespace

TEST_CASE("VKATTN_PLAN_TUNE times candidates, its winner matches the reference, and a later context reuses it from "
          "the file without timing") {
  for (uint32_t device : usable_vulkan_devices()) {
    CAPTURE(vulkan_device_info(device).name);
    const std::string path = temp_path("tuning");
    std::remove(path.c_str());
    for (const CaseSpec& spec : tuned_cases()) {
      CAPTURE(spec.name());
      {
        TuningContext first(device, path);
        CHECK_FALSE(plan_is_tuned(first.context, spec, 0));  // nothing measured yet
        CHECK(plan_is_tuned(first.context, spec, VKATTN_PLAN_TUNE));
        CHECK_MESSAGE(first.logged(": untuned ("), first.log.first_messages());
        CHECK_MESSAGE(first.logged(": chose "), first.log.first_messages());
        // Plans of the class use the winner, flag or not, and compute the reference's result.
        CHECK(plan_is_tuned(first.context, spec, 0));
        const CaseResult result = run_case(first.context, spec);
        CHECK_MESSAGE(result.passed, result.message);
        CHECK(first.log.validation_messages.load() == 0);
        CHECK(first.log.warnings.load() == 0);
      }
      TuningContext later(device, path);
      CHECK(plan_is_tuned(later.context, spec, VKATTN_PLAN_TUNE));
      CHECK_MESSAGE(!later.logged(": chose "), later.log.first_messages());  // not timed again
      CHECK(later.logged("tuned problem classes"));
      const CaseResult result = run_case(later.context, spec);
      CHECK_MESSAGE(result.passed, result.message);
      CHECK(later.log.warnings.load() == 0);
    }
    // A class never tuned stays untuned.
    TuningContext other(device, path);
    CHECK_FALSE(plan_is_tuned(other.context, make_case("tuning", 1, 2, 1, 3, 9, 16, 8), 0));
    std::remove(path.c_str());
  }
}

TEST_CASE("a corrupt or foreign tuning cache is ignored with a warning and replaced by the next tuning") {
  for (uint32_t device : usable_vulkan_devices()) {
    CAPTURE(vulkan_device_info(device).name);
    const std::string path = temp_path("tuning_bad");
    const CaseSpec spec = tuned_cases()[1];
    std::remove(path.c_str());
    { TuningContext make(device, path); CHECK(plan_is_tuned(make.context, spec, VKATTN_PLAN_TUNE)); }
    const std::vector<char> valid = read_bytes(path);
    REQUIRE(valid.size() > 48);

    std::vector<char> foreign = valid;
    foreign[20] ^= 1;  // the driver version in vkattn's header
    std::vector<char> corrupt = valid;
    corrupt.back() ^= 1;  // a payload byte: the checksum no longer matches
    const std::vector<std::pair<std::vector<char>, std::string>> files = {
        {foreign, "another device or driver"}, {corrupt, "checksum"}, {std::vector<char>(40, 'x'), "bad magic"}};
    for (const auto& file : files) {
      CAPTURE(file.second);
      write_bytes(path, file.first);
      {
        TuningContext context(device, path);
        CHECK(context.log.warnings.load() == 1);
        CHECK_MESSAGE(context.logged("ignoring tuning cache"), context.log.first_messages());
        CHECK_MESSAGE(context.logged(file.second), context.log.first_messages());
        CHECK_FALSE(plan_is_tuned(context.context, spec, 0));
        CHECK(plan_is_tuned(context.context, spec, VKATTN_PLAN_TUNE));  // tunes again and saves
      }
      TuningContext after(device, path);
      CHECK(after.log.warnings.load() == 0);
      CHECK(plan_is_tuned(after.context, spec, 0));
    }
    std::remove(path.c_str());
  }
}

TEST_CASE("VKATTN_VULKAN_KERNEL pins the choices: a plan asked to tune is not tuned, and says why") {
  for (uint32_t device : usable_vulkan_devices()) {
    CAPTURE(vulkan_device_info(device).name);
    const std::string path = temp_path("tuning_pinned");
    std::remove(path.c_str());
    REQUIRE(setenv("VKATTN_VULKAN_KERNEL", "tiled", 1) == 0);
    {
      TuningContext context(device, path);
      CHECK_FALSE(plan_is_tuned(context.context, tuned_cases()[1], VKATTN_PLAN_TUNE));
      CHECK_MESSAGE(context.logged("VKATTN_VULKAN_KERNEL is set: the plan is not tuned"), context.log.first_messages());
    }
    REQUIRE(unsetenv("VKATTN_VULKAN_KERNEL") == 0);
    std::ifstream none(path);
    CHECK_FALSE(none.good());  // nothing was measured, nothing saved
  }
}

TEST_CASE("the CPU backend accepts VKATTN_PLAN_TUNE and has nothing to tune, and unknown plan flags are rejected") {
  vkattn_context_options options;
  vkattn_context_options_init(&options);
  options.backend = VKATTN_BACKEND_CPU;
  vkattn_context context = nullptr;
  REQUIRE(vkattn_context_create(&options, &context) == VKATTN_SUCCESS);
  CHECK_FALSE(plan_is_tuned(context, tuned_cases()[0], VKATTN_PLAN_TUNE));
  const vkattn_attention_desc desc = make_desc(tuned_cases()[0]);
  vkattn_plan plan = nullptr;
  CHECK(vkattn_plan_create(context, &desc, 0x2u, &plan) == VKATTN_ERROR_INVALID_ARGUMENT);
  CHECK(std::string(vkattn_last_error()).find("unknown bits 0x2") != std::string::npos);
  CHECK(plan == nullptr);
  CHECK(vkattn_context_destroy(context) == VKATTN_SUCCESS);
}
