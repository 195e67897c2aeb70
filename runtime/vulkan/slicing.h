// Slicing a problem so that every shader binding stays within the device's
// maxStorageBufferRange (128 MiB on lavapipe, often less on phones).
//
// A slice is a range of batches and kv heads dispatched together; each tensor
// is bound through a window (byte offset + range) covering exactly what the
// slice touches, and the shader indexes relative to the window, so every
// index fits in 32 bits. One slice covers everything when it fits; otherwise
// one batch per slice, then fewer kv heads per slice. If a single
// (batch, kv head) still does not fit, the plan is UNSUPPORTED and the
// message names the tensor and the limit. A pure function, unit-tested.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/problem.h"
#include "runtime/status.h"

namespace vkattn {
namespace vk {

enum Binding : uint32_t {
  kBindingParams = 0,
  kBindingQ = 1,
  kBindingK = 2,
  kBindingV = 3,
  kBindingOut = 4,
  kBindingLse = 5,
  kBindingAdditiveMask = 6,
  kBindingBoolMask = 7,
  kBindingKvLens = 8,
  kBindingPartials = 9,
  kBindingHeadConstants = 10,  // per query head: ALiBi slopes, sink logits
  kBindingBlockTable = 11,     // paged K/V: int32 [batch, max_pages]
  kBindingCount = 12,
};

struct Window {
  uint64_t offset = 0;  // bytes, aligned to the device's storage offset alignment
  uint64_t range = 0;   // bytes, a multiple of 4 (0 = binding unused)
};

// Offsets and strides relative to a window, in elements (bytes for the
// boolean mask and for q8_0 / q4_0 K and V).
struct RelativeView {
  uint32_t offset = 0;
  uint32_t batch_stride = 0;
  uint32_t head_stride = 0;
  uint32_t seq_stride = 0;  // row stride for masks
  uint32_t col_stride = 0;  // masks only
};

struct Slice {
  int64_t batch_begin = 0, batch_end = 0;
  int64_t kv_head_begin = 0, kv_head_end = 0;
  Window windows[kBindingCount];
  RelativeView q, k, v, out, lse, additive_mask, bool_mask;
};

struct SliceLimits {
  uint64_t max_binding_bytes = 0;   // maxStorageBufferRange
  uint64_t offset_alignment = 16;   // minStorageBufferOffsetAlignment
  uint32_t max_groups_y = 65535;    // maxComputeWorkGroupCount[1] (kv heads per dispatch)
  uint32_t max_groups_z = 65535;    // maxComputeWorkGroupCount[2] (batches x splits per dispatch)
};

// `scratch_bytes_per_row` is the per-query-row state the plan keeps between
// dispatches (split-KV partials, key chunks), 0 if none; it is one binding too.
Status plan_slices(const Problem& problem, const SliceLimits& limits, uint32_t kv_splits, uint64_t scratch_bytes_per_row,
                   std::vector<Slice>* out);

}  // namespace vk
}  // namespace vkattn
