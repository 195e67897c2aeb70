// vkattn-conformance: runs the conformance matrix on every backend and
// device found (the CPU backend and each Vulkan device, lavapipe included),
// prints a table per device and optionally writes JSON. Exit status 1 if any
// case fails; a case a device cannot run is SKIP with its reason, never PASS.
//
//   vkattn-conformance [--backend all|cpu|vulkan] [--device N] [--filter TEXT[,TEXT...]]
//                      [--validation] [--json FILE] [--verbose] [--quiet] [--list]
// On a terminal it shows its progress on stderr (case i of n, elapsed,
// estimate) unless --quiet.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "conformance.h"
#include "json.h"
#include "args.h"
#include "progress.h"
#include "vkattn.h"

namespace {

struct Target {
  vkattn_backend backend;
  int32_t device;  // Vulkan index, -1 for the CPU
  std::string label;
};

struct DeviceReport {
  std::string label, name, driver;
  vkattn_device_info info{};  // of the opened device (vendor, ids, versions)
  bool available = true;
  std::string unavailable_reason;
  int cases = 0, passed = 0, failed = 0, skipped = 0;
  // Per storage dtype, the case that came closest to its own tolerance
  // (tolerances differ between cases: see docs/CONFORMANCE.md).
  struct Closest {
    double ratio = 0.0, error = 0.0;
    std::string name;
  };
  std::map<vkattn_dtype, Closest> closest;
  std::vector<std::pair<std::string, vkattn_test::CaseResult>> results;
};


int usage(const char* message) {
  std::fprintf(stderr,
               "vkattn-conformance: %s\nusage: vkattn-conformance [--backend all|cpu|vulkan] [--device N] "
               "[--filter TEXT[,TEXT...]] [--validation] [--json FILE] [--verbose] [--quiet] [--list]\n",
               message);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string backend = "all", filter, json_path;
  int32_t only_device = -1;
  bool validation = false, verbose = false, quiet = false, list = false;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    auto value = [&]() -> const char* { return a + 1 < argc ? argv[++a] : nullptr; };
    if (arg == "--backend") {
      const char* v = value();
      if (v == nullptr) return usage("--backend needs a value");
      backend = v;
      if (backend != "all" && backend != "cpu" && backend != "vulkan") return usage("--backend must be all, cpu or vulkan");
    } else if (arg == "--device") {
      const char* v = value();
      if (v == nullptr) return usage("--device needs an index");
      only_device = std::atoi(v);
    } else if (arg == "--filter") {
      const char* v = value();
      if (v == nullptr) return usage("--filter needs text");
      filter = v;
    } else if (arg == "--json") {
      const char* v = value();
      if (v == nullptr) return usage("--json needs a file name");
      json_path = v;
    } else if (arg == "--validation") {
      validation = true;
    } else if (arg == "--verbose") {
      verbose = true;
    } else if (arg == "--quiet") {
      quiet = true;
    } else if (arg == "--list") {
      list = true;
    } else {
      return usage(("unknown argument '" + arg + "'").c_str());
    }
  }

  std::vector<vkattn_test::CaseSpec> cases;
  std::vector<std::string> names;
  for (const vkattn_test::CaseSpec& spec : vkattn_test::conformance_cases()) {
    names.push_back(spec.name());
    if (vkattn_samples::filter_matches(filter, spec.name())) cases.push_back(spec);
  }
  const std::string unmatched = vkattn_samples::unmatched_filter_part(filter, names);
  if (!unmatched.empty()) return usage(("--filter: no case name contains '" + unmatched + "'").c_str());
  if (list) {
    for (const auto& spec : cases) std::printf("%s\n", spec.name().c_str());
    return 0;
  }

  // Every device to test: the CPU, then each Vulkan device.
  uint32_t count = 0;
  vkattn_enumerate_devices(nullptr, 0, &count);
  std::vector<vkattn_device_info> devices(count);
  for (auto& d : devices) vkattn_device_info_init(&d);
  if (vkattn_enumerate_devices(devices.data(), count, &count) != VKATTN_SUCCESS) {
    std::fprintf(stderr, "vkattn-conformance: device enumeration failed: %s\n", vkattn_last_error());
    return 1;
  }
  std::vector<Target> targets;
  if (backend != "vulkan") targets.push_back({VKATTN_BACKEND_CPU, -1, "cpu"});
  if (backend != "cpu") {
    bool any_vulkan = false;
    for (const vkattn_device_info& d : devices) {
      if (d.backend != VKATTN_BACKEND_VULKAN) continue;
      any_vulkan = true;
      if (only_device >= 0 && static_cast<int32_t>(d.index) != only_device) continue;
      targets.push_back({VKATTN_BACKEND_VULKAN, static_cast<int32_t>(d.index), "vulkan:" + std::to_string(d.index)});
    }
    if (!any_vulkan) targets.push_back({VKATTN_BACKEND_VULKAN, -1, "vulkan"});
  }

  std::vector<DeviceReport> reports;
  bool any_failure = false;
  vkattn_samples::Progress progress(!quiet);
  for (const Target& target : targets) {
    DeviceReport report;
    report.label = target.label;
    vkattn_context_options options;
    vkattn_context_options_init(&options);
    options.backend = target.backend;
    options.device_index = target.device;
    if (validation) options.flags |= VKATTN_CONTEXT_ENABLE_VALIDATION;
    vkattn_context context = nullptr;
    const vkattn_status status = vkattn_context_create(&options, &context);
    if (status != VKATTN_SUCCESS) {
      report.available = false;
      report.unavailable_reason = std::string(vkattn_status_string(status)) + ": " + vkattn_last_error();
      // A Vulkan device that exists but cannot be opened is a failure; no
      // Vulkan at all is reported as skipped.
      report.skipped = static_cast<int>(cases.size());
      if (target.device >= 0) any_failure = true;
      reports.push_back(report);
      continue;
    }
    vkattn_device_info info;
    vkattn_device_info_init(&info);
    vkattn_context_get_info(context, &info);
    report.name = info.name;
    report.driver = info.driver;
    report.info = info;
    progress.start(target.label, cases.size());
    for (const vkattn_test::CaseSpec& spec : cases) {
      progress.step(static_cast<size_t>(report.cases), spec.name());
      const vkattn_test::CaseResult result = vkattn_test::run_case(context, spec);
      ++report.cases;
      if (result.skipped) {
        ++report.skipped;
      } else if (result.passed) {
        ++report.passed;
      } else {
        ++report.failed;
        any_failure = true;
      }
      if (!result.skipped) {
        DeviceReport::Closest& closest = report.closest[spec.dtype];
        const double ratio = result.error / result.allowed;
        if (closest.name.empty() || ratio > closest.ratio) closest = {ratio, result.error, spec.name()};
      }
      if (verbose || (!result.passed && !result.skipped)) {
        progress.clear();
        std::printf("%-10s %-4s %-90s err %.3g (tol %.3g) %s\n", target.label.c_str(),
                    result.skipped ? "SKIP" : result.passed ? "PASS" : "FAIL", spec.name().c_str(), result.error,
                    result.allowed, result.message.c_str());
      }
      report.results.emplace_back(spec.name(), result);
    }
    progress.clear();
    vkattn_context_destroy(context);
    reports.push_back(std::move(report));
  }

  std::printf("\n%-10s %-42s %6s %6s %6s %6s  %-22s %-22s\n", "backend", "device", "cases", "pass", "fail", "skip",
              "f32 err (x tol)", "f16 err (x tol)");
  for (const DeviceReport& r : reports) {
    if (!r.available) {
      std::printf("%-10s %-42s unavailable: %s\n", r.label.c_str(), "-", r.unavailable_reason.c_str());
      continue;
    }
    char columns[2][64];
    const vkattn_dtype dtypes[2] = {VKATTN_DTYPE_F32, VKATTN_DTYPE_F16};
    for (int i = 0; i < 2; ++i) {
      const auto found = r.closest.find(dtypes[i]);
      if (found == r.closest.end()) {
        std::snprintf(columns[i], sizeof(columns[i]), "-");
      } else {
        std::snprintf(columns[i], sizeof(columns[i]), "%.2e (%.3f)", found->second.error, found->second.ratio);
      }
    }
    std::printf("%-10s %-42.42s %6d %6d %6d %6d  %-22s %-22s\n", r.label.c_str(), r.name.c_str(), r.cases, r.passed,
                r.failed, r.skipped, columns[0], columns[1]);
    for (int i = 0; i < 2; ++i) {
      const auto found = r.closest.find(dtypes[i]);
      if (found != r.closest.end()) {
        std::printf("%-10s   closest %s case: %s\n", "", i == 0 ? "f32" : "f16", found->second.name.c_str());
      }
    }
  }
  std::printf(
      "(err = max |O - O_ref| relative to the case's output scale, of the case closest to its tolerance;\n"
      " x tol = the fraction of that tolerance it used)\n");

  if (!json_path.empty()) {
    FILE* file = std::fopen(json_path.c_str(), "w");
    if (file == nullptr) {
      std::fprintf(stderr, "vkattn-conformance: cannot write %s\n", json_path.c_str());
      return 1;
    }
    using vkattn_samples::json_escape;
    using vkattn_samples::json_number;
    std::fprintf(file, "{\"devices\": [\n");
    for (size_t i = 0; i < reports.size(); ++i) {
      const DeviceReport& r = reports[i];
      // Vulkan versions as major.minor.patch (VK_API_VERSION_*); the driver
      // version as the raw number the driver reports (its encoding is vendor-specific).
      const uint32_t api = r.info.api_version;
      char api_text[32];
      std::snprintf(api_text, sizeof(api_text), "%u.%u.%u", (api >> 22) & 0x7fu, (api >> 12) & 0x3ffu, api & 0xfffu);
      std::fprintf(file,
                   "  {\"label\": \"%s\", \"name\": \"%s\", \"driver\": \"%s\", \"index\": %u, \"vendor_id\": %u, "
                   "\"device_id\": %u, \"driver_version\": %u, \"api_version\": \"%s\", \"available\": %s, "
                   "\"reason\": \"%s\", \"cases\": %d, \"passed\": %d, \"failed\": %d, \"skipped\": %d, \"results\": [\n",
                   json_escape(r.label).c_str(), json_escape(r.name).c_str(), json_escape(r.driver).c_str(), r.info.index,
                   r.info.vendor_id, r.info.device_id, r.info.driver_version, api == 0 ? "" : api_text,
                   r.available ? "true" : "false", json_escape(r.unavailable_reason).c_str(), r.cases, r.passed, r.failed,
                   r.skipped);
      for (size_t c = 0; c < r.results.size(); ++c) {
        const auto& res = r.results[c].second;
        std::fprintf(file,
                     "    {\"case\": \"%s\", \"status\": \"%s\", \"kernel\": \"%s\", \"error\": %s, \"tolerance\": %s, "
                     "\"lse_error_x_tol\": %s, \"ms\": %s, \"message\": \"%s\"}%s\n",
                     json_escape(r.results[c].first).c_str(), res.skipped ? "skip" : res.passed ? "pass" : "fail",
                     json_escape(res.kernel).c_str(), json_number(res.error).c_str(), json_number(res.allowed).c_str(),
                     json_number(res.lse_error).c_str(), json_number(res.execute_ms).c_str(),
                     json_escape(res.message).c_str(), c + 1 < r.results.size() ? "," : "");
      }
      std::fprintf(file, "  ]}%s\n", i + 1 < reports.size() ? "," : "");
    }
    std::fprintf(file, "]}\n");
    std::fclose(file);
  }
  return any_failure ? 1 : 0;
}
