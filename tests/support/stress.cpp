#include "stress.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

namespace vkattn_test {
namespace {

struct Expected {
  std::vector<uint8_t> out, lse;
};

class ContextOwner {
 public:
  explicit ContextOwner(const vkattn_context_options& options) { status_ = vkattn_context_create(&options, &context_); }
  ~ContextOwner() { vkattn_context_destroy(context_); }
  ContextOwner(const ContextOwner&) = delete;
  ContextOwner& operator=(const ContextOwner&) = delete;
  vkattn_status status() const { return status_; }
  vkattn_context get() const { return context_; }

 private:
  vkattn_context context_ = nullptr;
  vkattn_status status_;
};

std::string create_failure(vkattn_status status) {
  return std::string("vkattn_context_create failed: ") + vkattn_status_string(status) + ": " + vkattn_last_error();
}

}  // namespace

std::vector<CaseSpec> stress_cases() {
  std::vector<CaseSpec> cases;
  CaseSpec gqa = make_case("stress", 2, 8, 2, 37, 131, 64, 64);
  gqa.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
  cases.push_back(gqa);
  CaseSpec masked = gqa;
  masked.causal = VKATTN_CAUSAL_NONE;
  masked.additive_mask = MaskShape::kPerBatch;
  masked.bool_mask = MaskShape::kKeyPadding;
  masked.kv_lens = true;
  masked.qk_dim = 80;
  masked.v_dim = 48;
  cases.push_back(masked);
  cases.push_back(make_case("stress", 1, 32, 8, 1, 1031, 128, 128, VKATTN_DTYPE_F16));
  CaseSpec padded = make_case("stress", 1, 3, 3, 64, 64, 63, 63);
  padded.layout = Layout::kPadded;
  padded.window_left = 9;
  padded.window_right = 3;
  cases.push_back(padded);
  return cases;
}

StressReport stress_contexts_per_thread(const vkattn_context_options& options, const std::vector<CaseSpec>& specs,
                                        int threads, int rounds) {
  StressReport report;
  std::vector<Expected> expected(specs.size());
  {
    ContextOwner context(options);
    if (context.status() != VKATTN_SUCCESS) {
      report.failure = create_failure(context.status());
      return report;
    }
    for (size_t c = 0; c < specs.size(); ++c) {
      CaseExecution execution(context.get(), specs[c]);
      if (!execution.ready() || !execution.run(&expected[c].out, &expected[c].lse)) {
        report.failure = specs[c].name() + ": " + execution.error();
        return report;
      }
    }
  }

  std::mutex failure_mutex;
  std::atomic<uint64_t> executions{0};
  auto fail = [&](const std::string& why) {
    std::lock_guard<std::mutex> lock(failure_mutex);
    if (report.failure.empty()) report.failure = why;
  };
  auto worker = [&](int thread) {
    ContextOwner context(options);
    if (context.status() != VKATTN_SUCCESS) return fail(create_failure(context.status()));
    std::vector<std::unique_ptr<CaseExecution>> executions_of_thread;
    for (const CaseSpec& spec : specs) {
      executions_of_thread.push_back(std::make_unique<CaseExecution>(context.get(), spec));
      if (!executions_of_thread.back()->ready()) return fail(spec.name() + ": " + executions_of_thread.back()->error());
    }
    std::vector<uint8_t> out, lse;
    for (int round = 0; round < rounds; ++round) {
      // Each thread walks the cases in its own order, so different kernels
      // run at the same time.
      for (size_t i = 0; i < specs.size(); ++i) {
        const size_t c = (i + static_cast<size_t>(thread)) % specs.size();
        if (!executions_of_thread[c]->run(&out, &lse)) return fail(specs[c].name() + ": " + executions_of_thread[c]->error());
        executions.fetch_add(1, std::memory_order_relaxed);
        if (out != expected[c].out || lse != expected[c].lse) {
          return fail(specs[c].name() + ": thread " + std::to_string(thread) + " round " + std::to_string(round) +
                      " differs from the single-threaded result");
        }
      }
      // What the header allows from any thread at any time.
      uint32_t count = 0;
      if (vkattn_enumerate_devices(nullptr, 0, &count) != VKATTN_SUCCESS || count == 0) {
        return fail("vkattn_enumerate_devices failed on a worker thread");
      }
      if (std::strcmp(vkattn_status_string(VKATTN_ERROR_DEVICE_LOST), vkattn_status_string(VKATTN_SUCCESS)) == 0) {
        return fail("status strings are not distinct");
      }
      // The last error is per thread: this thread's failure, not another's.
      // Each thread passes its own unknown plan flag, which the message names.
      const uint32_t unknown_flag = 0x100u << thread;
      char expected_flags[32];
      std::snprintf(expected_flags, sizeof(expected_flags), "unknown bits 0x%x", unknown_flag);
      vkattn_attention_desc bad;
      vkattn_attention_desc_init(&bad);
      vkattn_plan plan = nullptr;
      if (vkattn_plan_create(context.get(), &bad, unknown_flag, &plan) !=
              VKATTN_ERROR_INVALID_ARGUMENT ||
          std::strstr(vkattn_last_error(), expected_flags) == nullptr) {
        return fail(std::string("thread ") + std::to_string(thread) + " saw last error '" + vkattn_last_error() + "'");
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker, t);
  for (std::thread& thread : pool) thread.join();
  report.executions = executions.load();
  return report;
}

}  // namespace vkattn_test
