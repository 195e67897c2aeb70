// One decode step as one submission (vkattn_submit): an append plan writes
// a new token's key and value into f32 caches and an attention plan then
// attends the caches up to that token, batched. Backend-neutral (the CPU
// and every Vulkan context run it); checked against the float64 reference.
#pragma once

#include <string>

#include "vkattn.h"

namespace vkattn_test {

// Runs the step on `context` and returns "" if the output matches the
// reference within the f32 tolerance and the ticket completes, else what
// went wrong.
std::string check_batched_decode_step(vkattn_context context);

}  // namespace vkattn_test
