// The conformance matrix on every Vulkan device found, with the validation
// layer and synchronization validation on: every case must match the float64
// reference and the layer must report nothing. One process runs the whole
// matrix (hundreds of plans created, executed and destroyed) and must end
// cleanly. Both kernels run on every device (VKATTN_VULKAN_KERNEL): a device
// picks one of them, and the other is what some other device runs.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>

#include "conformance.h"
#include "vulkan_test_support.h"

using namespace vkattn_test;

namespace {

void run_matrix(const char* kernel) {
  REQUIRE(setenv("VKATTN_VULKAN_KERNEL", kernel, 1) == 0);
  for (uint32_t device : usable_vulkan_devices()) {
    CAPTURE(device);
    LogCollector log;
    vkattn_context context = nullptr;
    REQUIRE(create_validated_context(device, &log, nullptr, &context) == VKATTN_SUCCESS);
    const std::vector<CaseSpec> cases = conformance_cases();
    {  // the override reached the plans
      const vkattn_plan_info info = plan_info_for(context, cases.front());
      CHECK((std::strstr(info.kernel, "lanes") != nullptr) == (std::strcmp(kernel, "lanes") == 0));
    }
    int passed = 0, skipped = 0;
    std::map<vkattn_dtype, double> worst;
    for (const CaseSpec& spec : cases) {
      const CaseResult result = run_case(context, spec);
      INFO(spec.name(), ": ", result.message);
      if (result.skipped) {
        ++skipped;  // reported, never counted as passed
        continue;
      }
      CHECK(result.passed);
      if (result.passed) ++passed;
      worst[spec.dtype] = std::max(worst[spec.dtype], result.error / result.allowed);
    }
    MESSAGE("Vulkan device ", device, ", ", kernel, " kernel: ", passed, " passed, ", skipped, " skipped of ", cases.size(),
            "; worst error / tolerance: f32 ", worst[VKATTN_DTYPE_F32], ", f16 ", worst[VKATTN_DTYPE_F16]);
    CHECK(vkattn_context_destroy(context) == VKATTN_SUCCESS);
    CHECK_MESSAGE(log.validation_messages.load() == 0, log.first_messages());
  }
}

}  // namespace

TEST_CASE("conformance matrix on every Vulkan device, tiled kernel, validation clean") { run_matrix("tiled"); }

TEST_CASE("conformance matrix on every Vulkan device, lanes kernel, validation clean") { run_matrix("lanes"); }

TEST_CASE("every conformance case, executed 100 times, is bitwise identical each time (Vulkan, device's kernel)") {
  for (uint32_t device : usable_vulkan_devices()) {
    CAPTURE(device);
    LogCollector log;
    vkattn_context_options options = validated_options(device, &log, nullptr);
    options.flags = 0;  // validation adds nothing to a determinism check, and the matrix runs validated above
    vkattn_context context = nullptr;
    REQUIRE(vkattn_context_create(&options, &context) == VKATTN_SUCCESS);
    int repeated = 0, skipped = 0;
    for (const CaseSpec& spec : conformance_cases()) {
      const CaseResult result = check_repeatable(context, spec, 100);
      INFO(spec.name(), ": ", result.message);
      if (result.skipped) {
        ++skipped;
        continue;
      }
      CHECK(result.passed);
      if (result.passed) ++repeated;
    }
    MESSAGE("Vulkan device ", device, ": ", repeated, " cases x 100 executions bitwise identical, ", skipped,
            " unsupported");
    CHECK(vkattn_context_destroy(context) == VKATTN_SUCCESS);
  }
}
