// What each way of running a plan costs the host beyond the device's work,
// on a Vulkan device (issue: "Vulkan interop for engines"): blocking
// execute + finish; asynchronous submissions with 4 plans in flight
// (vkattn_submit + vkattn_context_wait); 4 plans batched into one
// submission; and 4 plans recorded into an app's command buffer
// (vkattn_record_vulkan), which the app resubmits each frame. The "app" is
// the bench itself on the context's own device (vkattn_context_get_vulkan_device).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vkattn_bench {

struct OverheadRow {
  std::string case_name, mode, target;
  double us_per_execution = 0;  // wall time per plan execution, host included
  double gpu_us = 0;            // GPU timestamps of one execution (the work itself)
};

// The overhead cases' names (the --filter matches them like suite cases).
std::vector<std::string> overhead_cases();

// Measures the cases `filter` selects on Vulkan device `device`, printing a
// table per case; each mode runs for about `seconds`. Returns false (and
// prints why) when a step fails.
bool run_overhead(int32_t device, const std::string& label, const std::string& filter, double seconds,
                  std::vector<OverheadRow>* rows);

}  // namespace vkattn_bench
