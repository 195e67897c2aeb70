#include "shader_report.h"

#include <cctype>
#include <cstdio>

#include "vulkan_device.h"

namespace vkattn {
namespace vk {

namespace {

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

ExecutableStatistic to_statistic(const VkPipelineExecutableStatisticKHR& s) {
  ExecutableStatistic out;
  out.name = s.name;
  out.description = s.description;
  char text[64];
  switch (s.format) {
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR:
      out.value = s.value.b32 ? 1.0 : 0.0;
      out.text = s.value.b32 ? "true" : "false";
      break;
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR:
      out.value = static_cast<double>(s.value.i64);
      std::snprintf(text, sizeof(text), "%lld", (long long)s.value.i64);
      out.text = text;
      break;
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR:
      out.value = static_cast<double>(s.value.u64);
      std::snprintf(text, sizeof(text), "%llu", (unsigned long long)s.value.u64);
      out.text = text;
      break;
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_FLOAT64_KHR:
      out.value = s.value.f64;
      std::snprintf(text, sizeof(text), "%g", s.value.f64);
      out.text = text;
      break;
    default:
      out.text = "?";
      break;
  }
  return out;
}

Status executable_reports(VulkanDevice& device, VkPipeline pipeline, bool representations,
                          std::vector<ExecutableReport>* out) {
  const DeviceFunctions& fn = device.fn();
  out->clear();
  if (!device.captures_statistics() || fn.vkGetPipelineExecutablePropertiesKHR == nullptr ||
      fn.vkGetPipelineExecutableStatisticsKHR == nullptr) {
    return Status();
  }
  VkPipelineInfoKHR pipeline_info{};
  pipeline_info.sType = VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR;
  pipeline_info.pipeline = pipeline;
  uint32_t count = 0;
  VKATTN_RETURN_IF_ERROR(device.check(
      fn.vkGetPipelineExecutablePropertiesKHR(device.handle(), &pipeline_info, &count, nullptr),
      "vkGetPipelineExecutablePropertiesKHR"));
  std::vector<VkPipelineExecutablePropertiesKHR> properties(count);
  for (auto& p : properties) p.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_PROPERTIES_KHR;
  VKATTN_RETURN_IF_ERROR(device.check(
      fn.vkGetPipelineExecutablePropertiesKHR(device.handle(), &pipeline_info, &count, properties.data()),
      "vkGetPipelineExecutablePropertiesKHR"));
  properties.resize(count);
  for (uint32_t e = 0; e < count; ++e) {
    ExecutableReport report;
    report.name = properties[e].name;
    report.description = properties[e].description;
    report.subgroup_size = properties[e].subgroupSize;
    VkPipelineExecutableInfoKHR executable{};
    executable.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR;
    executable.pipeline = pipeline;
    executable.executableIndex = e;
    uint32_t stat_count = 0;
    VKATTN_RETURN_IF_ERROR(device.check(
        fn.vkGetPipelineExecutableStatisticsKHR(device.handle(), &executable, &stat_count, nullptr),
        "vkGetPipelineExecutableStatisticsKHR"));
    std::vector<VkPipelineExecutableStatisticKHR> stats(stat_count);
    for (auto& s : stats) s.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR;
    VKATTN_RETURN_IF_ERROR(device.check(
        fn.vkGetPipelineExecutableStatisticsKHR(device.handle(), &executable, &stat_count, stats.data()),
        "vkGetPipelineExecutableStatisticsKHR"));
    stats.resize(stat_count);
    for (const auto& s : stats) report.statistics.push_back(to_statistic(s));

    if (representations && fn.vkGetPipelineExecutableInternalRepresentationsKHR != nullptr) {
      uint32_t ir_count = 0;
      VKATTN_RETURN_IF_ERROR(device.check(
          fn.vkGetPipelineExecutableInternalRepresentationsKHR(device.handle(), &executable, &ir_count, nullptr),
          "vkGetPipelineExecutableInternalRepresentationsKHR"));
      std::vector<VkPipelineExecutableInternalRepresentationKHR> irs(ir_count);
      for (auto& ir : irs) ir.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INTERNAL_REPRESENTATION_KHR;
      // First the sizes, then the texts.
      VKATTN_RETURN_IF_ERROR(device.check(
          fn.vkGetPipelineExecutableInternalRepresentationsKHR(device.handle(), &executable, &ir_count, irs.data()),
          "vkGetPipelineExecutableInternalRepresentationsKHR"));
      irs.resize(ir_count);
      std::vector<std::string> texts(ir_count);
      for (uint32_t i = 0; i < ir_count; ++i) {
        texts[i].assign(irs[i].dataSize, '\0');
        irs[i].pData = texts[i].empty() ? nullptr : &texts[i][0];
      }
      const VkResult filled =
          fn.vkGetPipelineExecutableInternalRepresentationsKHR(device.handle(), &executable, &ir_count, irs.data());
      if (filled != VK_SUCCESS && filled != VK_INCOMPLETE) {
        return device.check(filled, "vkGetPipelineExecutableInternalRepresentationsKHR");
      }
      for (uint32_t i = 0; i < ir_count; ++i) {
        ExecutableRepresentation ir;
        ir.name = irs[i].name;
        ir.description = irs[i].description;
        ir.text = texts[i].c_str();  // drop the terminating NUL and anything past it
        report.representations.push_back(std::move(ir));
      }
    }
    out->push_back(std::move(report));
  }
  return Status();
}

}  // namespace

const ExecutableStatistic* ExecutableReport::find(const char* name_part) const {
  const std::string wanted = lower(name_part);
  for (const ExecutableStatistic& s : statistics) {
    if (lower(s.name).find(wanted) != std::string::npos) return &s;
  }
  return nullptr;
}

Status open_shader_report_device(uint32_t index, const Logger& log, std::unique_ptr<VulkanDevice>* out,
                                 bool* has_statistics) {
  VKATTN_RETURN_IF_ERROR(VulkanDevice::create_for_shader_report(index, log, out));
  *has_statistics = (*out)->captures_statistics();
  return Status();
}

Status report_plan(VulkanDevice& device, const Problem& problem, bool representations, PlanReport* out) {
  PlanReport report;
  if (problem.linear()) {
    LinearLayout linear;
    VKATTN_RETURN_IF_ERROR(linear_layout(problem, device.caps(), device.quirks(), &linear));
    report.layout.linear = true;
    report.layout.pipelines.push_back(linear.pipeline);
  } else if (problem.topk_mode()) {
    TopkLayout topk;
    VKATTN_RETURN_IF_ERROR(topk_layout(problem, device.caps(), device.quirks(), device.forced(), &topk));
    report.layout.topk = true;
    report.layout.config.workgroup_size = topk.workgroup;
    report.layout.config.block_q = topk.rows;
    report.layout.config.block_kv = topk.workgroup * topk.tile;
    report.layout.pipelines = {topk.select, topk.attend};
  } else if (problem.linformer()) {
    // The softmax stage over the projected keys (its pipeline indices
    // kept), and the projection after them.
    LinformerLayout linformer;
    VKATTN_RETURN_IF_ERROR(linformer_layout(problem, device.caps(), device.quirks(), &linformer));
    VKATTN_RETURN_IF_ERROR(plan_layout(linformer_attend_problem(problem, problem.dtype), device.caps(), device.quirks(),
                                       device.forced(), &report.layout));
    report.layout.pipelines.push_back(linformer.pipeline);
  } else {
    VKATTN_RETURN_IF_ERROR(plan_layout(problem, device.caps(), device.quirks(), device.forced(), &report.layout));
  }
  for (const PipelineSpec& spec : report.layout.pipelines) {
    VkPipeline pipeline = VK_NULL_HANDLE;
    VKATTN_RETURN_IF_ERROR(device.pipeline(spec, &pipeline));
    PipelineReport pipeline_report;
    pipeline_report.spec = spec;
    VKATTN_RETURN_IF_ERROR(executable_reports(device, pipeline, representations, &pipeline_report.executables));
    report.pipelines.push_back(std::move(pipeline_report));
  }
  *out = std::move(report);
  return Status();
}

}  // namespace vk
}  // namespace vkattn
