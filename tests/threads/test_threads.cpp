// Threads on the CPU backend: one context per thread, as the header's
// thread-safety rules allow, thousands of executions, every result bitwise
// equal to a single-threaded run. Built with TSan in scripts/test-sanitizers.sh.
#include <doctest/doctest.h>

#include "stress.h"
#include "vkattn.h"

using namespace vkattn_test;

namespace {

vkattn_context_options cpu_options(int threads) {
  vkattn_context_options options;
  vkattn_context_options_init(&options);
  options.backend = VKATTN_BACKEND_CPU;
  options.cpu_threads = threads;
  return options;
}

}  // namespace

TEST_CASE("four threads, each with a single-threaded CPU context: 2400 executions match bitwise") {
  const StressReport report = stress_contexts_per_thread(cpu_options(1), stress_cases(), 4, 150);
  CHECK_MESSAGE(report.failure.empty(), report.failure);
  CHECK(report.executions == 4 * 150 * stress_cases().size());
}

TEST_CASE("two threads, each with a CPU context running its own worker pool, match bitwise") {
  const StressReport report = stress_contexts_per_thread(cpu_options(2), stress_cases(), 2, 50);
  CHECK_MESSAGE(report.failure.empty(), report.failure);
  CHECK(report.executions == 2 * 50 * stress_cases().size());
}
