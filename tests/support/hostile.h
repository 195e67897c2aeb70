// Hostile inputs, tried through the public API on one context: sizes that
// overflow, strides and offsets past the buffer, foreign and orphaned
// handles, huge head dimensions, Skv = 0, B = 0, NaN and Inf in every input.
// Each comes back with the documented answer and what the library did; the
// CPU and Vulkan suites check them, and print the list.
#pragma once

#include <string>
#include <vector>

#include "vkattn.h"

namespace vkattn_test {

struct HostileOutcome {
  std::string input;     // what was tried
  std::string expected;  // the documented answer (include/vkattn.h)
  std::string observed;  // the status and message, or what the output showed
  bool as_documented = false;
};

// `context` must be usable; the list creates (and destroys) a second context
// of the same options for the cross-context and use-after-destroy cases.
std::vector<HostileOutcome> try_hostile_inputs(vkattn_context context, const vkattn_context_options& options);

// The outcomes as printable lines: "input -> observed".
std::string hostile_table(const std::vector<HostileOutcome>& outcomes);

}  // namespace vkattn_test
