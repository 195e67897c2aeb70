// vkattn-bench --shader-stats: compiles the plans of the bench suite's cases
// on Vulkan devices without executing anything and prints, for every
// pipeline, what the driver reports about it (VK_KHR_pipeline_executable_
// properties): registers, spills, scratch, shared memory, instruction
// counts, subgroups per SIMD. Works on RADV's compile-only devices
// (RADV_FORCE_FAMILY=navi21 ...) and on any real device whose driver has the
// extension. --ir DIR also writes each pipeline's SPIR-V (.spv), its
// specialization constants and flags (.json) and the driver's internal
// representations (.txt), named after the case; scripts/shader-report.py
// analyses the AMD assembly among them.
#pragma once

#include <string>

namespace vkattn_bench {

// device: a Vulkan physical-device index, or -1 for every Vulkan device
// whose driver reports statistics. Returns the process exit status: 0, 1
// on failure, 77 when no device reports statistics (tests: skipped).
int run_shader_stats(int device, const std::string& filter, const std::string& json_path, const std::string& ir_dir);

}  // namespace vkattn_bench
