// Concurrency stress shared by the CPU thread tests and the Vulkan tests:
// several threads, each with its own context (the header's unit of
// external synchronisation), execute a set of conformance cases many times
// and compare every result bitwise with one single-threaded run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "conformance.h"
#include "vkattn.h"

namespace vkattn_test {

struct StressReport {
  std::string failure;      // empty when every result matched
  uint64_t executions = 0;  // plan executions across all threads
};

// Runs `specs` once on a context made from `options` (the expected bytes),
// then on `threads` threads at once, each creating its own context and
// executing every case `rounds` times. Threads also call the functions the
// header allows from anywhere (enumeration, status strings, last error).
StressReport stress_contexts_per_thread(const vkattn_context_options& options, const std::vector<CaseSpec>& specs,
                                        int threads, int rounds);

// A few small cases covering the kernels' paths: GQA, causal, masks,
// kv_lens, f16, decode, LSE, padded layouts.
std::vector<CaseSpec> stress_cases();

}  // namespace vkattn_test
