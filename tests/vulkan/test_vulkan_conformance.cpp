// The conformance matrix on every Vulkan device found, with the validation
// layer and synchronization validation on: every case must match the float64
// reference and the layer must report nothing. One process runs a whole
// matrix (hundreds of plans created, executed and destroyed) and must end
// cleanly.
//
// Each device runs the matrix with the kernel it chooses, and again with each
// combination of the tiled kernel's choices forced (VKATTN_VULKAN_KERNEL):
// subgroup or shared-memory teams, K/V staged or direct, split-KV wherever a
// case has the keys (the others run whole), and fp16 arithmetic for f16
// storage where the device has it. Every run records the variants its plans
// used (vkattn_plan_info.kernel) under VKATTN_TEST_VARIANT_DIR; the last test
// fails if a variant that exists was executed by none of them.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "conformance.h"
#include "runtime/vulkan/device_caps.h"
#include "vulkan_test_support.h"

using namespace vkattn_test;

namespace {

std::string record_dir() {
  const char* dir = std::getenv("VKATTN_TEST_VARIANT_DIR");
  return dir != nullptr ? dir : "";
}

// Runs the matrix on every device with VKATTN_VULKAN_KERNEL = `kernel` (and
// ",fp16" on devices with fp16 arithmetic when `fp16_where_possible`), and
// records the variants that ran in `<record_dir>/<record>.txt`.
void run_matrix(const char* record, const char* kernel, bool fp16_where_possible) {
  std::set<std::string> executed;
  for (uint32_t device : usable_vulkan_devices()) {
    CAPTURE(device);
    const vkattn_device_info info = vulkan_device_info(device);
    std::string forced = kernel;
    if (fp16_where_possible && info.fp16_arithmetic) forced += ",fp16";
    REQUIRE(setenv("VKATTN_VULKAN_KERNEL", forced.c_str(), 1) == 0);
    LogCollector log;
    vkattn_context context = nullptr;
    REQUIRE(create_validated_context(device, &log, nullptr, &context) == VKATTN_SUCCESS);
    const std::vector<CaseSpec> cases = conformance_cases();
    int passed = 0;
    std::map<vkattn_dtype, double> worst;
    std::string unsupported;
    for (const CaseSpec& spec : cases) {
      const CaseResult result = run_case(context, spec);
      INFO(spec.name(), ": ", result.message);
      if (result.skipped && unsupported.empty()) unsupported = result.message;
      if (result.skipped) break;  // the device cannot run this variant: reported below, never passed
      CHECK(result.passed);
      if (result.passed) ++passed;
      executed.insert(result.kernel);
      worst[spec.dtype] = std::max(worst[spec.dtype], result.error / result.allowed);
    }
    if (!unsupported.empty()) {
      // Allowed only before any case ran: a variant this device cannot make
      // (no subgroup shuffles, say). A case the variant could not run after
      // others passed is a failure.
      CHECK_MESSAGE(passed == 0, "VKATTN_VULKAN_KERNEL=", forced, ": ", unsupported);
      MESSAGE("Vulkan device ", device, " (", info.name, ") cannot run VKATTN_VULKAN_KERNEL=", forced, ": ",
              unsupported);
    } else {
      MESSAGE("Vulkan device ", device, " (", info.name, "), VKATTN_VULKAN_KERNEL=", forced, ": ", passed, " of ",
              cases.size(), " passed; worst error / tolerance: f32 ", worst[VKATTN_DTYPE_F32], ", f16 ",
              worst[VKATTN_DTYPE_F16]);
    }
    CHECK(vkattn_context_destroy(context) == VKATTN_SUCCESS);
    CHECK_MESSAGE(log.validation_messages.load() == 0, log.first_messages());
  }
  REQUIRE(unsetenv("VKATTN_VULKAN_KERNEL") == 0);
  if (!record_dir().empty()) {
    std::ofstream out(record_dir() + "/" + record + ".txt");
    for (const std::string& name : executed) out << name << "\n";
    REQUIRE(out.good());
  }
}

}  // namespace

TEST_CASE("conformance matrix on every Vulkan device, the device's own kernel, validation clean") {
  run_matrix("own", "auto", false);
}

TEST_CASE("conformance matrix on every Vulkan device, tiled kernel forced: subgroup teams, direct K/V, split") {
  run_matrix("subgroup_direct", "tiled,subgroup,direct,split", true);
}

TEST_CASE("conformance matrix on every Vulkan device, tiled kernel forced: subgroup teams, staged K/V, split") {
  run_matrix("subgroup_staged", "tiled,subgroup,staged,split", true);
}

TEST_CASE("conformance matrix on every Vulkan device, tiled kernel forced: shared-memory teams, direct K/V, split") {
  run_matrix("shared_direct", "tiled,shared,direct,split", true);
}

TEST_CASE("conformance matrix on every Vulkan device, tiled kernel forced: shared-memory teams, staged K/V, split") {
  run_matrix("shared_staged", "tiled,shared,staged,split", true);
}

// Runs after the matrix runs (a CTest fixture): the union of their records
// must hold every variant the planner can choose for some device.
TEST_CASE("every kernel variant the planner can choose was executed by the conformance runs") {
  REQUIRE_MESSAGE(!record_dir().empty(), "VKATTN_TEST_VARIANT_DIR is not set");
  std::set<std::string> executed;
  for (const char* record : {"own", "subgroup_direct", "subgroup_staged", "shared_direct", "shared_staged"}) {
    std::ifstream in(record_dir() + "/" + record + ".txt");
    CHECK_MESSAGE(in.good(), "no record of the ", std::string(record), " run");
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty()) executed.insert(line.substr(std::strlen("vulkan.")));
    }
  }
  int missing = 0;
  for (const std::string& variant : vkattn::vk::all_variant_names()) {
    if (executed.count(variant) == 0) {
      ++missing;
      FAIL_CHECK("kernel variant " << variant << " was not executed on any Vulkan device");
    }
  }
  MESSAGE(executed.size(), " variants executed, ", missing, " missing");
}

TEST_CASE("every conformance case, executed 10 to 100 times, is bitwise identical each time (Vulkan, device's kernel)") {
  // At least 10 executions per case, and up to 100 while a case's runs took
  // under 200 ms in all: CPU-type devices execute the long cases slowly (a
  // case of 3000 x 3000 keys takes 3 s on SwiftShader).
  for (uint32_t device : usable_vulkan_devices()) {
    CAPTURE(device);
    LogCollector log;
    vkattn_context_options options = validated_options(device, &log, nullptr);
    options.flags = 0;  // validation adds nothing to a determinism check, and the matrix runs validated above
    vkattn_context context = nullptr;
    REQUIRE(vkattn_context_create(&options, &context) == VKATTN_SUCCESS);
    int repeated = 0, skipped = 0, executions = 0;
    for (const CaseSpec& spec : conformance_cases()) {
      const CaseResult result = check_repeatable(context, spec, 10, 100, 200.0);
      executions += result.runs;
      INFO(spec.name(), ": ", result.message);
      if (result.skipped) {
        ++skipped;
        continue;
      }
      CHECK(result.passed);
      if (result.passed) ++repeated;
    }
    MESSAGE("Vulkan device ", device, ": ", repeated, " cases bitwise identical over ", executions, " executions, ",
            skipped, " unsupported");
    CHECK(vkattn_context_destroy(context) == VKATTN_SUCCESS);
  }
}
