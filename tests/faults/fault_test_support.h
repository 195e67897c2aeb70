// Shared by the CPU and Vulkan fault tests: the loop that fails each host
// allocation of the workload in turn, and process resource counts.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fault_workload.h"
#include "host_allocation_faults.h"

namespace vkattn_test {

// Open file descriptors of this process.
// Descriptors of the process, less those a driver keeps for itself:
// SwiftShader maps its JIT code through a memfd per device and never closes
// it (measured: one "/memfd:swiftshader_jit (deleted)" more per
// vkCreateDevice/vkDestroyDevice pair), which says nothing about vkattn.
inline int open_file_descriptors() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int count = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    char target[256] = {};
    const std::string path = std::string("/proc/self/fd/") + entry->d_name;
    const ssize_t length = readlink(path.c_str(), target, sizeof(target) - 1);
    if (length > 0 && std::strncmp(target, "/memfd:swiftshader_jit", 22) == 0) continue;
    ++count;
  }
  closedir(dir);
  return count - 1;  // the directory's own descriptor
}

// vkattn_last_error()'s buffer is the one allocation a vkattn call keeps on
// purpose (per thread). A long message makes it exist before a count starts;
// later messages reuse it or swap it for a larger one (one freed, one made).
inline void prime_last_error() {
  host_faults::LibraryCall call;
  vkattn_context_options options;
  vkattn_context_options_init(&options);
  options.struct_size = 1;
  vkattn_context context = nullptr;
  vkattn_context_create(&options, &context);
}

struct AllocationFaultSummary {
  int64_t sites = 0;            // allocations failed, one per round
  int64_t absorbed = 0;         // rounds where the library survived the failure with the right outputs
  int64_t counted_clean = 0;    // allocations of the workload without failures
};

// For index = 0, 1, ...: fail the index-th vkattn host allocation of
// "create a context, run the workload" and check that the failing call said
// OUT_OF_HOST_MEMORY (or the failure was absorbed and the outputs are still
// right), that the context, if it was created, still runs the workload
// correctly, that every block vkattn allocated was freed again, and that
// `after_round` (the caller's further checks) holds. Ends with the first
// round whose allocations all succeeded.
template <class AfterRound>
AllocationFaultSummary fail_each_host_allocation(const vkattn_context_options& options,
                                                 const std::vector<std::vector<uint8_t>>& expected,
                                                 AfterRound&& after_round) {
  AllocationFaultSummary summary;
  prime_last_error();
  for (int64_t index = 0;; ++index) {
    const int64_t live_before = host_faults::live_library_allocations();
    host_faults::arm(index);
    vkattn_context context = nullptr;
    WorkloadResult result;
    result.status = create_context_marked(options, &context, &result.message);
    if (result.status == VKATTN_SUCCESS) {
      result = run_workload(context);
    } else {
      result.failed_call = "vkattn_context_create";
    }
    const int64_t counted = host_faults::disarm();
    const bool fired = host_faults::fired();
    INFO("allocation " << index << " of " << counted << ": " << result.failed_call << " -> "
                       << std::string(vkattn_status_string(result.status)) << " (" << result.message << ")");
    if (result.status == VKATTN_SUCCESS) {
      CHECK(result.outputs == expected);
      if (fired) ++summary.absorbed;
    } else {
      CHECK(fired);
      CHECK(result.status == VKATTN_ERROR_OUT_OF_HOST_MEMORY);
    }
    if (context != nullptr) {
      const WorkloadResult again = run_workload(context);
      CHECK_MESSAGE(again.status == VKATTN_SUCCESS, "context unusable after the failure: " << again.failed_call
                                                        << ": " << again.message);
      CHECK(again.outputs == expected);
      CHECK(vkattn_context_destroy(context) == VKATTN_SUCCESS);
    }
    CHECK_MESSAGE(host_faults::live_library_allocations() == live_before, "host blocks leaked: "
                      << host_faults::live_library_allocations() - live_before);
    after_round(index);
    if (!fired) {
      summary.counted_clean = counted;
      break;
    }
    ++summary.sites;
  }
  return summary;
}

// The lifecycle churn: 10,000 plans created and destroyed on one context,
// then 100 contexts that each run the workload once.
inline void churn_plans_and_contexts(const vkattn_context_options& options) {
  const HostInputs in = make_inputs(workload_cases()[0]);
  prime_last_error();
  const int64_t live_before = host_faults::live_library_allocations();
  vkattn_context context = nullptr;
  REQUIRE(vkattn_context_create(&options, &context) == VKATTN_SUCCESS);
  for (int i = 0; i < 10000; ++i) {
    vkattn_plan plan = nullptr;
    REQUIRE(vkattn_plan_create(context, &in.desc, 0, &plan) == VKATTN_SUCCESS);
    REQUIRE(vkattn_plan_destroy(plan) == VKATTN_SUCCESS);
  }
  REQUIRE(vkattn_context_destroy(context) == VKATTN_SUCCESS);
  for (int i = 0; i < 100; ++i) {
    REQUIRE(vkattn_context_create(&options, &context) == VKATTN_SUCCESS);
    const WorkloadResult result = run_workload(context);
    REQUIRE_MESSAGE(result.status == VKATTN_SUCCESS, result.failed_call << ": " << result.message);
    REQUIRE(vkattn_context_destroy(context) == VKATTN_SUCCESS);
  }
  CHECK_MESSAGE(host_faults::live_library_allocations() == live_before,
                "host blocks leaked: " << host_faults::live_library_allocations() - live_before);
}

// One context of `options` created, used for the workload and destroyed:
// the one-time process state (loader, driver, XNNPACK) is not a leak.
inline void warm_up(const vkattn_context_options& options) {
  vkattn_context context = nullptr;
  REQUIRE(vkattn_context_create(&options, &context) == VKATTN_SUCCESS);
  REQUIRE(run_workload(context).status == VKATTN_SUCCESS);
  vkattn_context_destroy(context);
}

}  // namespace vkattn_test
