// Execution-time checks that need the actual buffers: every tensor a plan
// reads or writes is present, belongs to the plan's context, is large enough
// for its view, and outputs do not overlap inputs. Backend-neutral.
#pragma once

#include "append.h"
#include "backend.h"
#include "objects.h"
#include "status.h"

namespace vkattn {

Status check_bindings(const vkattn_plan_t& plan, const vkattn_bindings& bindings, ExecArgs* out);

// A checked batch (vkattn_submit, vkattn_record_vulkan): the arguments of
// every execution, and the device's work list pointing into them.
struct CheckedBatch {
  std::vector<ExecArgs> args;
  std::vector<AppendArgs> append_args;
  std::vector<Work> work;
};

// Checks executions[0 .. count) for `context`: each execution's struct,
// plan (live, of this context, once in the batch) and bindings.
Status check_executions(const std::shared_ptr<ContextState>& context, const vkattn_execution* executions,
                        uint32_t count, CheckedBatch* out);

// Byte size a buffer needs to hold every tensor of `problem` as laid out.
struct TensorBytes {
  uint64_t q, k, v, out, lse, additive_mask, bool_mask;
};
TensorBytes tensor_bytes(const Problem& problem);

}  // namespace vkattn
