// Resource exhaustion, device loss and driver faults on the Vulkan backend,
// injected through the context's function table (runtime/vulkan/vk_api.h):
// every Vulkan call that can fail does so in turn, and every host
// allocation vkattn makes fails in turn. After each failure: the documented
// status, no Vulkan object left behind once the context is destroyed, no
// validation message, and the context (or, after device loss, a new one)
// runs the workload bit-exactly.
#include <doctest/doctest.h>

#include <set>
#include <sstream>

#include "fault_test_support.h"
#include "vulkan_call_faults.h"
#include "vulkan_test_support.h"

using namespace vkattn_test;

namespace {

std::string describe(const std::map<std::string, int64_t>& live) {
  std::ostringstream text;
  for (const auto& entry : live) text << entry.first << "=" << entry.second << " ";
  return text.str();
}

// The calls through which a driver reports device loss.
const std::set<std::string> kLossReportingCalls = {"vkQueueSubmit", "vkWaitForFences", "vkGetFenceStatus",
                                                   "vkDeviceWaitIdle", "vkGetQueryPoolResults"};

// Hooks first: every context of the test, the reference one included, runs
// with them, so driver allocations are never taken for vkattn's. Each test
// creates a context per round, hundreds in all: lavapipe where present.
struct Fixture {
  VulkanCallFaults faults;
  LogCollector log;
  vkattn_context_options options = validated_options(lavapipe_or_first_device(), &log, nullptr);
  std::vector<std::vector<uint8_t>> expected = reference_workload_outputs(options);
  ~Fixture() { CHECK_MESSAGE(log.validation_messages.load() == 0, log.first_messages()); }
};

// For index = 0, 1, ...: arm `faults` for call `index` of "create a context,
// run the workload", then check the status (`wanted` of the call that
// failed), that the context still works and that nothing is left behind.
// Returns how many calls were failed, one per round.
template <class Arm, class Wanted>
int64_t fail_each_vulkan_call(Fixture& fixture, Arm&& arm, Wanted&& wanted) {
  VulkanCallFaults& faults = fixture.faults;
  int64_t sites = 0, absorbed = 0;
  std::map<std::string, int> statuses;
  prime_last_error();
  for (int64_t index = 0;; ++index) {
    const int64_t live_before = host_faults::live_library_allocations();
    arm(index);
    vkattn_context context = nullptr;
    WorkloadResult result;
    result.status = create_context_marked(fixture.options, &context, &result.message);
    if (result.status == VKATTN_SUCCESS) {
      result = run_workload(context);
    } else {
      result.failed_call = "vkattn_context_create";
    }
    const int64_t counted = faults.disarm();
    const std::string fired_at = faults.fired_at();
    INFO("call " << index << " of " << counted << " (" << fired_at << "): " << result.failed_call << " -> "
                 << std::string(vkattn_status_string(result.status)) << " (" << result.message << ")");
    if (result.status == VKATTN_SUCCESS) {
      CHECK(result.outputs == fixture.expected);
      if (!fired_at.empty()) ++absorbed;
    } else {
      CHECK(!fired_at.empty());
      CHECK(std::string(vkattn_status_string(result.status)) == vkattn_status_string(wanted(fired_at)));
      statuses[fired_at + " -> " + vkattn_status_string(result.status)]++;
    }
    if (context != nullptr) {
      const WorkloadResult again = run_workload(context);
      CHECK_MESSAGE(again.status == VKATTN_SUCCESS, "context unusable: " << again.failed_call << ": " << again.message);
      CHECK(again.outputs == fixture.expected);
      CHECK(vkattn_context_destroy(context) == VKATTN_SUCCESS);
    }
    CHECK_MESSAGE(faults.live_objects().empty(), "Vulkan objects left: " << describe(faults.live_objects()));
    CHECK_MESSAGE(host_faults::live_library_allocations() == live_before,
                  "host blocks leaked: " << host_faults::live_library_allocations() - live_before);
    if (fired_at.empty()) break;
    ++sites;
  }
  std::string summary;
  for (const auto& entry : statuses) summary += "\n  " + entry.first + " x" + std::to_string(entry.second);
  MESSAGE(sites << " calls failed, one per round (" << absorbed << " absorbed with correct output):" << summary);
  return sites;
}

}  // namespace

TEST_CASE("Vulkan: each failing Vulkan call of create, plan and execute -> OUT_OF_*_MEMORY, nothing leaked") {
  Fixture fixture;
  VulkanCallFaults& faults = fixture.faults;
  const int64_t sites = fail_each_vulkan_call(
      fixture,
      [&](int64_t index) { faults.arm(index, VK_ERROR_OUT_OF_HOST_MEMORY, {}, VK_ERROR_OUT_OF_DEVICE_MEMORY); },
      [](const std::string& call) {
        return call == "vkAllocateMemory" ? VKATTN_ERROR_OUT_OF_DEVICE_MEMORY : VKATTN_ERROR_OUT_OF_HOST_MEMORY;
      });
  CHECK(sites > 50);
}

TEST_CASE("Vulkan: the device heap exhausted at each allocation in turn -> OUT_OF_DEVICE_MEMORY, nothing leaked") {
  Fixture fixture;
  VulkanCallFaults& faults = fixture.faults;
  const int64_t sites = fail_each_vulkan_call(
      fixture,
      [&](int64_t index) {
        faults.arm(index, VK_ERROR_OUT_OF_DEVICE_MEMORY, {"vkAllocateMemory"}, VK_SUCCESS, /*sticky=*/true);
      },
      [](const std::string&) { return VKATTN_ERROR_OUT_OF_DEVICE_MEMORY; });
  CHECK(sites > 10);
}

TEST_CASE("Vulkan: each host allocation of create, plan and execute fails in turn -> OUT_OF_HOST_MEMORY") {
  Fixture fixture;
  VulkanCallFaults& faults = fixture.faults;  // marks driver calls, whose own allocations are not failed
  const int descriptors = open_file_descriptors();
  const AllocationFaultSummary summary = fail_each_host_allocation(fixture.options, fixture.expected, [&](int64_t) {
    CHECK_MESSAGE(faults.live_objects().empty(), "Vulkan objects left: " << describe(faults.live_objects()));
    CHECK(open_file_descriptors() == descriptors);
  });
  MESSAGE("Vulkan: " << summary.sites << " host allocation sites failed in turn (" << summary.absorbed
                     << " absorbed with correct output); a clean workload makes " << summary.counted_clean);
  CHECK(summary.sites == summary.counted_clean);
  CHECK(summary.sites > 30);
}

namespace {

// Device loss (and, with other results, driver faults) at each call that can
// report it, on a context that was working.
void inject_after_creation(Fixture& fixture, VkResult injected, const std::set<std::string>& only) {
  VulkanCallFaults& faults = fixture.faults;
  int64_t sites = 0;
  for (int64_t index = 0;; ++index) {
    vkattn_context context = nullptr;
    std::string message;
    REQUIRE(create_context_marked(fixture.options, &context, &message) == VKATTN_SUCCESS);
    faults.arm(index, injected, only);
    const WorkloadResult result = run_workload(context);
    faults.disarm();
    const std::string fired_at = faults.fired_at();
    INFO(std::string(vkattn::vk::result_name(injected)) << " at call " << index << " (" << fired_at << "): " << result.failed_call
                                   << " -> " << std::string(vkattn_status_string(result.status)) << " (" << result.message << ")");
    if (fired_at.empty()) {
      CHECK(result.status == VKATTN_SUCCESS);
      CHECK(result.outputs == fixture.expected);
      vkattn_context_destroy(context);
      break;
    }
    ++sites;
    const WorkloadResult later = run_workload(context);
    if (injected == VK_ERROR_DEVICE_LOST) {
      CHECK(result.status == VKATTN_ERROR_DEVICE_LOST);
      // From now on the context refuses work, every call of it.
      CHECK(later.status == VKATTN_ERROR_FAILED_PRECONDITION);
      CHECK(later.failed_call == "vkattn_buffer_create");
      CHECK(vkattn_context_finish(context) == VKATTN_ERROR_FAILED_PRECONDITION);
    } else {
      CHECK(result.status == VKATTN_ERROR_INTERNAL);
      // A driver fault that did not lose the device leaves a working context.
      CHECK_MESSAGE(later.status == VKATTN_SUCCESS, later.failed_call << ": " << later.message);
      CHECK(later.outputs == fixture.expected);
    }
    CHECK(vkattn_context_destroy(context) == VKATTN_SUCCESS);
    CHECK_MESSAGE(faults.live_objects().empty(), "Vulkan objects left: " << describe(faults.live_objects()));
    if (injected != VK_ERROR_DEVICE_LOST) continue;  // the faulted context itself was shown to work
    // After device loss, a new context works.
    vkattn_context fresh = nullptr;
    REQUIRE(vkattn_context_create(&fixture.options, &fresh) == VKATTN_SUCCESS);
    const WorkloadResult again = run_workload(fresh);
    CHECK_MESSAGE(again.status == VKATTN_SUCCESS, again.failed_call << ": " << again.message);
    CHECK(again.outputs == fixture.expected);
    vkattn_context_destroy(fresh);
  }
  MESSAGE("Vulkan: " << std::string(vkattn::vk::result_name(injected)) << " injected at " << sites << " calls in turn");
  CHECK(sites > 0);
}

}  // namespace

TEST_CASE("Vulkan: device loss at each submit and wait -> DEVICE_LOST, then FAILED_PRECONDITION, and a new context works") {
  Fixture fixture;
  inject_after_creation(fixture, VK_ERROR_DEVICE_LOST, kLossReportingCalls);
}

TEST_CASE("Vulkan: a driver fault at each call of plan and execute -> INTERNAL, and the context keeps working") {
  Fixture fixture;
  inject_after_creation(fixture, VK_ERROR_UNKNOWN, {});
}

TEST_CASE("Vulkan: 10,000 plans and 100 contexts leave Vulkan objects and descriptors unchanged") {
  LogCollector log;
  vkattn_context_options options = validated_options(lavapipe_or_first_device(), &log, nullptr);
  options.flags = 0;  // validation off: a hundred instances with the layer would take minutes
  VulkanCallFaults counts;  // first: driver allocations are never taken for vkattn's
  warm_up(options);          // the loader, driver and Mesa's shader cache open their files once per process
  const int descriptors_before = open_file_descriptors();
  churn_plans_and_contexts(options);
  const int descriptors_after = open_file_descriptors();
  MESSAGE("Vulkan: objects created " << counts.objects_ever_created() << ", live after: "
                                     << describe(counts.live_objects()) << "(none); open descriptors "
                                     << descriptors_before << " before, " << descriptors_after << " after");
  CHECK(counts.live_objects().empty());
  CHECK(counts.objects_ever_created() > 10000);
  CHECK(descriptors_after == descriptors_before);
  CHECK(log.warnings.load() == 0);
}
