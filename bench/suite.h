// The benchmark suite: one fixed list of problems that vkattn-bench times on
// every backend and device and that --shader-stats compiles. Scripts filter
// on the case names (--filter prefill_h8_s2048, --filter decode_q1, or
// several at once: --filter cross,decode_q1_kv4096): they never change.
#pragma once

#include <string>
#include <vector>

#include "conformance.h"

namespace vkattn_bench {

struct BenchCase {
  std::string name;
  vkattn_test::CaseSpec spec;
  bool decode = false;  // report bytes/s of K and V against bandwidth
  std::string compare_to;  // a case whose time this one's is reported against (same run), or empty
};

std::vector<BenchCase> suite();

}  // namespace vkattn_bench
