// Hostile inputs on the CPU backend (tests/support/hostile.h): each answered
// as include/vkattn.h documents. The Vulkan suite runs the same list.
#include <doctest/doctest.h>

#include "hostile.h"

using namespace vkattn_test;

TEST_CASE("hostile inputs are answered as documented (CPU)") {
  vkattn_context_options options;
  vkattn_context_options_init(&options);
  options.backend = VKATTN_BACKEND_CPU;
  vkattn_context context = nullptr;
  REQUIRE(vkattn_context_create(&options, &context) == VKATTN_SUCCESS);
  const std::vector<HostileOutcome> outcomes = try_hostile_inputs(context, options);
  for (const HostileOutcome& outcome : outcomes) {
    INFO(outcome.input, ": expected ", outcome.expected, ", got ", outcome.observed);
    CHECK(outcome.as_documented);
  }
  MESSAGE("CPU hostile inputs:", hostile_table(outcomes));
  CHECK(vkattn_context_destroy(context) == VKATTN_SUCCESS);
}
