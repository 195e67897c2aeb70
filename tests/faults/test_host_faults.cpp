// Host resource exhaustion and object lifetimes on the CPU backend: every
// host allocation vkattn makes to create a context, plan and execute fails
// in turn; thousands of plans and a hundred contexts come and go. Leaks are
// LeakSanitizer's to find (the sanitizer tier runs this executable);
// descriptors are counted here.
#include <doctest/doctest.h>

#include "fault_test_support.h"

using namespace vkattn_test;

namespace {

vkattn_context_options cpu_options() {
  vkattn_context_options options;
  vkattn_context_options_init(&options);
  options.backend = VKATTN_BACKEND_CPU;
  options.cpu_threads = 2;
  return options;
}

}  // namespace

TEST_CASE("CPU: each host allocation of create, plan and execute fails in turn -> OUT_OF_HOST_MEMORY, context usable") {
  const vkattn_context_options options = cpu_options();
  const std::vector<std::vector<uint8_t>> expected = reference_workload_outputs(options);
  const int descriptors = open_file_descriptors();
  const AllocationFaultSummary summary =
      fail_each_host_allocation(options, expected, [&](int64_t) { CHECK(open_file_descriptors() == descriptors); });
  MESSAGE("CPU: " << summary.sites << " host allocation sites failed in turn (" << summary.absorbed
                  << " absorbed with correct output); a clean workload makes " << summary.counted_clean
                  << " allocations");
  CHECK(summary.sites == summary.counted_clean);
  CHECK(summary.sites > 20);
}

TEST_CASE("CPU: 10,000 plans and 100 contexts leave descriptors unchanged") {
  const vkattn_context_options options = cpu_options();
  warm_up(options);
  const int descriptors_before = open_file_descriptors();
  churn_plans_and_contexts(options);
  const int descriptors_after = open_file_descriptors();
  MESSAGE("CPU: open descriptors " << descriptors_before << " before, " << descriptors_after << " after");
  CHECK(descriptors_after == descriptors_before);
}
