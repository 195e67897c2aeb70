// The conformance matrix on the CPU backend: every case against the float64
// reference. (The same matrix runs on each Vulkan device, see
// test_conformance_vulkan.cpp, and in the vkattn-conformance tool.)
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>

#include "../unit/api_helpers.h"
#include "conformance.h"
#include "vkattn.h"

using namespace vkattn_test;

TEST_CASE("conformance matrix on the CPU backend") {
  const CpuContext context;
  const std::vector<CaseSpec> cases = conformance_cases();
  CHECK(cases.size() >= 200);
  std::map<vkattn_dtype, double> worst;
  int passed = 0;
  for (const CaseSpec& spec : cases) {
    const CaseResult result = run_case(context, spec);
    INFO(spec.name(), ": ", result.message);
    CHECK(!result.skipped);  // the CPU backend runs every valid problem
    CHECK(result.passed);
    if (result.passed) ++passed;
    worst[spec.dtype] = std::max(worst[spec.dtype], result.error / result.allowed * 1.0);
  }
  MESSAGE("CPU conformance: ", passed, "/", cases.size(), " passed; worst error / tolerance: f32 ",
          worst[VKATTN_DTYPE_F32], ", f16 ", worst[VKATTN_DTYPE_F16]);
}

TEST_CASE("paged K/V give bitwise the results of the same keys stored contiguously (CPU)") {
  const CpuContext context;
  int compared = 0;
  for (const CaseSpec& spec : conformance_cases()) {
    if (spec.page_size == 0) continue;
    INFO(spec.name());
    CHECK(compare_paged_with_contiguous(context, spec) == "");
    ++compared;
  }
  CHECK(compared >= 10);
}

TEST_CASE("every conformance case, executed 100 times, is bitwise identical each time (CPU)") {
  const CpuContext context;
  int repeated = 0;
  for (const CaseSpec& spec : conformance_cases()) {
    const CaseResult result = check_repeatable(context, spec, 100, 100, 0.0);
    INFO(spec.name(), ": ", result.message);
    CHECK(result.passed);
    if (result.passed) ++repeated;
  }
  MESSAGE("CPU: ", repeated, " cases x 100 executions, each bitwise identical to its first");
}
