// Execution-time checks that need the actual buffers: every tensor a plan
// reads or writes is present, belongs to the plan's context, is large enough
// for its view, and outputs do not overlap inputs. Backend-neutral.
#pragma once

#include "backend.h"
#include "objects.h"
#include "status.h"

namespace vkattn {

Status check_bindings(const vkattn_plan_t& plan, const vkattn_bindings& bindings, ExecArgs* out);

// Byte size a buffer needs to hold every tensor of `problem` as laid out.
struct TensorBytes {
  uint64_t q, k, v, out, lse, additive_mask, bool_mask;
};
TensorBytes tensor_bytes(const Problem& problem);

}  // namespace vkattn
