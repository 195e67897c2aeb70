#include "shader_stats.h"

#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "json.h"
#include "args.h"
#include "suite.h"
#include "vkattn.h"
#if defined(VKATTN_WITH_VULKAN)
#include "runtime/problem.h"
#include "runtime/vulkan/shader_report.h"
#include "runtime/vulkan/vulkan_device.h"
#endif

namespace vkattn_bench {

#if defined(VKATTN_WITH_VULKAN)

namespace {

using vkattn_samples::json_escape;

// The columns of the table: a statistic whose name contains `match` (and
// not `unless`), as RADV names them; other drivers' names differ and land
// in the JSON only.
struct Column {
  const char* title;
  const char* match;
  const char* unless;
};
const Column kColumns[] = {
    {"VGPRs", "vgprs", "spilled"},     {"SGPRs", "sgprs", "spilled"},
    {"spill V", "spilled vgprs", ""},  {"spill S", "spilled sgprs", ""},
    {"scratch", "scratch", ""},        {"LDS", "lds", ""},
    {"instr", "instructions", ""},     {"waves/SIMD", "subgroups per simd", ""},
};

const vkattn::vk::ExecutableStatistic* column_value(const vkattn::vk::ExecutableReport& e, const Column& column) {
  for (const auto& s : e.statistics) {
    std::string name = s.name;
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name.find(column.match) != std::string::npos &&
        (column.unless[0] == '\0' || name.find(column.unless) == std::string::npos) &&
        name.find("pre-sched") == std::string::npos) {
      return &s;
    }
  }
  return nullptr;
}

std::string slug(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool keep = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
    out += keep ? c : '_';
  }
  return out;
}

bool make_directory(const std::string& path) {
  return mkdir(path.c_str(), 0755) == 0 || errno == EEXIST;
}

bool write_file(const std::string& path, const void* data, size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(data, 1, size, f) == size;
  return std::fclose(f) == 0 && ok;
}

std::string constants_json(const std::vector<uint32_t>& constants) {
  std::string out = "[";
  for (size_t i = 0; i < constants.size(); ++i) out += (i ? ", " : "") + std::to_string(constants[i]);
  return out + "]";
}

// The description of one pipeline that --json and --ir write.
std::string pipeline_json(const vkattn_device_info& device, const std::string& case_name,
                          const vkattn::vk::PlanLayout& layout, const vkattn::vk::PipelineReport& pipeline) {
  const vkattn::vk::KernelConfig& c = layout.config;
  std::string out = "{\"device\": \"" + json_escape(device.name) + "\", \"driver\": \"" + json_escape(device.driver) +
                    "\", \"case\": \"" + json_escape(case_name) + "\", \"pipeline\": \"" +
                    json_escape(pipeline.spec.role) + "\", \"shader\": \"" +
                    vkattn::shaders::blob(pipeline.spec.shader).name + "\", \"constants\": " +
                    constants_json(pipeline.spec.constants) +
                    ", \"full_subgroups\": " + (pipeline.spec.full_subgroups ? "true" : "false") +
                    ", \"kernel\": \"" +
                    (layout.linear ? "linear" : layout.topk ? "topk" : c.kernel == vkattn::vk::KernelConfig::Kernel::lanes ? "lanes" : "tiled") +
                    "\", \"workgroup_size\": " + std::to_string(c.workgroup_size) +
                    ", \"rows_per_workgroup\": " + std::to_string(c.block_q) +
                    ", \"keys_per_tile\": " + std::to_string(c.block_kv) +
                    ", \"kv_splits\": " + std::to_string(c.kv_splits) + ", \"executables\": [";
  for (size_t e = 0; e < pipeline.executables.size(); ++e) {
    const auto& x = pipeline.executables[e];
    out += std::string(e ? ", " : "") + "{\"name\": \"" + json_escape(x.name) + "\", \"subgroup_size\": " +
           std::to_string(x.subgroup_size) + ", \"statistics\": {";
    for (size_t s = 0; s < x.statistics.size(); ++s) {
      out += std::string(s ? ", " : "") + "\"" + json_escape(x.statistics[s].name) + "\": " + x.statistics[s].text;
    }
    out += "}}";
  }
  return out + "]}";
}

}  // namespace

int run_shader_stats(int device_index, const std::string& filter, const std::string& json_path,
                     const std::string& ir_dir) {
  uint32_t count = 0;
  vkattn_enumerate_devices(nullptr, 0, &count);
  std::vector<vkattn_device_info> devices(count);
  for (auto& d : devices) vkattn_device_info_init(&d);
  vkattn_enumerate_devices(devices.data(), count, &count);
  std::vector<vkattn_device_info> vulkan;
  for (const auto& d : devices) {
    if (d.backend == VKATTN_BACKEND_VULKAN && (device_index < 0 || d.index == static_cast<uint32_t>(device_index))) {
      vulkan.push_back(d);
    }
  }
  if (vulkan.empty()) {
    std::fprintf(stderr, "vkattn-bench: no Vulkan device%s\n", device_index >= 0 ? " with that index" : "");
    return 1;
  }
  if (!ir_dir.empty() && !make_directory(ir_dir)) {
    std::fprintf(stderr, "vkattn-bench: cannot create %s: %s\n", ir_dir.c_str(), std::strerror(errno));
    return 1;
  }
  std::string json = "{\"pipelines\": [";
  bool first_json = true;
  int failures = 0;
  int reported = 0;
  for (const vkattn_device_info& info : vulkan) {
    const vkattn::Logger log(nullptr, nullptr, VKATTN_LOG_WARNING);
    std::unique_ptr<vkattn::vk::VulkanDevice> device;
    bool has_statistics = false;
    const vkattn::Status opened = vkattn::vk::open_shader_report_device(info.index, log, &device, &has_statistics);
    if (!opened.ok()) {
      std::printf("vulkan:%u  %s: cannot open it: %s\n", info.index, info.name, opened.message().c_str());
      ++failures;
      continue;
    }
    if (!has_statistics) {
      std::printf("vulkan:%u  %s (%s): the driver has no VK_KHR_pipeline_executable_properties%s\n", info.index,
                  info.name, info.driver, device_index < 0 ? ", skipped" : "; pipelines compile, no statistics");
      if (device_index < 0) continue;
    } else {
      std::printf("vulkan:%u  %s (%s)\n", info.index, info.name, info.driver);
    }
    ++reported;
    std::string device_dir;
    if (!ir_dir.empty()) {
      device_dir = ir_dir + "/vulkan" + std::to_string(info.index) + "_" + slug(info.name);
      if (!make_directory(device_dir)) {
        std::fprintf(stderr, "vkattn-bench: cannot create %s: %s\n", device_dir.c_str(), std::strerror(errno));
        return 1;
      }
    }
    std::printf("%-36s %-26s %-30s", "case", "pipeline", "shader");
    for (const Column& column : kColumns) std::printf(" %10s", column.title);
    std::printf("\n");
    for (const BenchCase& bc : suite()) {
      if (!vkattn_samples::filter_matches(filter, bc.name)) continue;
      vkattn_attention_desc desc = vkattn_test::make_desc(bc.spec);
      // Linformer's E and F are data (make_inputs draws them); the
      // pipelines depend on their shape only.
      std::vector<float> projection;
      if (bc.spec.mode == VKATTN_MODE_LINFORMER) {
        projection.assign(static_cast<size_t>(bc.spec.proj_len * bc.spec.kv_len *
                                              (bc.spec.proj_per_head ? bc.spec.kv_heads : 1)),
                          0.0f);
        desc.linformer.e = desc.linformer.f = projection.data();
      }
      // Likewise the block mask (all blocks visible).
      std::vector<uint8_t> blocks;
      if (bc.spec.mode == VKATTN_MODE_BLOCK_SPARSE) {
        const int64_t q_blocks = (bc.spec.q_len + bc.spec.block_q - 1) / bc.spec.block_q;
        const int64_t k_blocks = (bc.spec.kv_len + bc.spec.block_k - 1) / bc.spec.block_k;
        blocks.assign(static_cast<size_t>(desc.block_sparse.mask_batch * desc.block_sparse.mask_heads * q_blocks * k_blocks),
                      1);
        desc.block_sparse.mask = blocks.data();
      }
      vkattn::Problem problem;
      vkattn::Status status = vkattn::make_problem(desc, &problem);
      vkattn::vk::PlanReport report;
      if (status.ok()) status = vkattn::vk::report_plan(*device, problem, !ir_dir.empty(), &report);
      if (!status.ok()) {
        std::printf("%-36s %s\n", bc.name.c_str(), status.message().c_str());
        ++failures;
        continue;
      }
      for (size_t p = 0; p < report.pipelines.size(); ++p) {
        const vkattn::vk::PipelineReport& pipeline = report.pipelines[p];
        const char* shader = vkattn::shaders::blob(pipeline.spec.shader).name;
        for (const auto& executable : pipeline.executables) {
          std::printf("%-36s %-26s %-30s", bc.name.c_str(), pipeline.spec.role.c_str(), shader);
          for (const Column& column : kColumns) {
            const auto* value = column_value(executable, column);
            std::printf(" %10s", value != nullptr ? value->text.c_str() : "-");
          }
          std::printf("\n");
        }
        if (pipeline.executables.empty()) {
          std::printf("%-36s %-26s %-30s (no statistics)\n", bc.name.c_str(), pipeline.spec.role.c_str(), shader);
        }
        const std::string description = pipeline_json(info, bc.name, report.layout, pipeline);
        json += std::string(first_json ? "\n  " : ",\n  ") + description;
        first_json = false;
        if (!device_dir.empty()) {
          const std::string base = device_dir + "/" + slug(bc.name) + "." + slug(pipeline.spec.role);
          const vkattn::shaders::ShaderBlob& blob = vkattn::shaders::blob(pipeline.spec.shader);
          std::string text;
          for (const auto& executable : pipeline.executables) {
            for (const auto& ir : executable.representations) {
              text += "=== " + executable.name + ": " + ir.name + " (" + ir.description + ")\n" + ir.text + "\n";
            }
          }
          const std::string described = description + "\n";
          if (!write_file(base + ".spv", blob.words, blob.word_count * 4) ||
              !write_file(base + ".json", described.data(), described.size()) ||
              !write_file(base + ".txt", text.data(), text.size())) {
            std::fprintf(stderr, "vkattn-bench: cannot write %s.*: %s\n", base.c_str(), std::strerror(errno));
            return 1;
          }
        }
      }
    }
  }
  json += "\n]}\n";
  if (reported == 0) {
    std::fprintf(stderr, "vkattn-bench: no Vulkan device reports pipeline statistics (on Mesa, RADV_FORCE_FAMILY=navi21 "
                         "adds a compile-only AMD device that does)\n");
    return 77;
  }
  if (!json_path.empty() && !write_file(json_path, json.data(), json.size())) {
    std::fprintf(stderr, "vkattn-bench: cannot write %s: %s\n", json_path.c_str(), std::strerror(errno));
    return 1;
  }
  return failures == 0 ? 0 : 1;
}

#else

int run_shader_stats(int, const std::string&, const std::string&, const std::string&) {
  std::fprintf(stderr, "vkattn-bench: built without Vulkan (VKATTN_WITH_VULKAN=OFF): no shader report\n");
  return 1;
}

#endif

}  // namespace vkattn_bench
