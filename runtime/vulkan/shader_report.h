// The shader report behind vkattn-bench --shader-stats: a plan's pipelines
// compiled on a Vulkan device (also one that cannot execute anything, such
// as RADV's null hardware under RADV_FORCE_FAMILY), with what the driver
// says about each through VK_KHR_pipeline_executable_properties: register
// counts, spills, scratch, shared memory, instruction counts, occupancy,
// and its internal representations (for AMD: NIR, ACO IR and assembly).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "plan_layout.h"
#include "platform/log.h"
#include "runtime/problem.h"
#include "runtime/status.h"

namespace vkattn {
namespace vk {

class VulkanDevice;

struct ExecutableStatistic {
  std::string name;
  std::string description;
  std::string text;       // the value as the driver gave it
  double value = 0.0;     // numeric value (booleans as 0 / 1)
};

struct ExecutableRepresentation {
  std::string name;       // "NIR Shader(s)", "ACO IR", "Assembly", ...
  std::string description;
  std::string text;
};

struct ExecutableReport {
  std::string name;
  std::string description;
  uint32_t subgroup_size = 0;
  std::vector<ExecutableStatistic> statistics;
  std::vector<ExecutableRepresentation> representations;  // only when asked for

  // The statistic whose name contains `name_part` (case-insensitive), or null.
  const ExecutableStatistic* find(const char* name_part) const;
};

struct PipelineReport {
  PipelineSpec spec;
  std::vector<ExecutableReport> executables;
};

struct PlanReport {
  PlanLayout layout;
  std::vector<PipelineReport> pipelines;  // in layout.pipelines order
};

// Opens Vulkan physical device `index` for the report (any device the loader
// lists, usable for execution or not) and says whether its driver reports
// pipeline statistics.
Status open_shader_report_device(uint32_t index, const Logger& log, std::unique_ptr<VulkanDevice>* out,
                                 bool* has_statistics);

// Compiles the pipelines of a plan for `problem` and collects the driver's
// statistics (and, with `representations`, its internal representations).
Status report_plan(VulkanDevice& device, const Problem& problem, bool representations, PlanReport* out);

}  // namespace vk
}  // namespace vkattn
