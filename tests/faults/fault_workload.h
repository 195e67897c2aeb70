// The workload every fault test runs: two problems that between them touch
// every allocation site of create, plan and execute (a masked causal prefill
// with LSE and per-batch key lengths; an f16 grouped-query decode over a
// long cache), each through buffer create/write, plan create, execute,
// finish, last-time query and read back. Every vkattn call is marked as a library call for
// the host allocation injector; the first failing call ends the workload.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "conformance.h"
#include "vkattn.h"

namespace vkattn_test {

struct WorkloadResult {
  vkattn_status status = VKATTN_SUCCESS;  // of the first failing call
  std::string failed_call;                // its name
  std::string message;                    // vkattn_last_error() after it
  std::vector<std::vector<uint8_t>> outputs;  // per case: output bytes, then LSE bytes
};

std::vector<CaseSpec> workload_cases();

// vkattn_context_create as a library call; on failure *status and *message.
vkattn_status create_context_marked(const vkattn_context_options& options, vkattn_context* out, std::string* message);

// Runs the workload on `context`; every object it makes is destroyed again.
WorkloadResult run_workload(vkattn_context context);

// The workload's outputs on a fresh context of `options`, each case checked
// against the float64 reference first (REQUIREs inside).
std::vector<std::vector<uint8_t>> reference_workload_outputs(const vkattn_context_options& options);

}  // namespace vkattn_test
