#include "slicing.h"

#include <algorithm>

#include "runtime/quant.h"

namespace vkattn {
namespace vk {

namespace {

// The part of one tensor a slice touches: its strides per axis, the axis
// extents inside the slice, and its first element.
struct Extent {
  const char* name;
  uint64_t first;           // element index of (batch_begin, head_begin, 0, 0)
  uint64_t strides[4];      // batch, head, seq/row, col (elements)
  uint64_t counts[4];       // extents inside the slice
  uint64_t element_bytes;
};

// Computes the window of an extent; false if it exceeds max_binding_bytes.
bool make_window(const Extent& e, const SliceLimits& limits, Window* window, RelativeView* view) {
  uint64_t last = e.first;
  for (int a = 0; a < 4; ++a) last += (e.counts[a] - 1) * e.strides[a];  // bounded by the validated extent
  const uint64_t begin_byte = e.first * e.element_bytes;
  const uint64_t end_byte = (last + 1) * e.element_bytes;
  const uint64_t start = begin_byte / limits.offset_alignment * limits.offset_alignment;
  const uint64_t range = (end_byte - start + 3) / 4 * 4;  // whole words (buffers are padded to 16 bytes)
  if (range > limits.max_binding_bytes) return false;
  window->offset = start;
  window->range = range;
  // Axes of extent 1 in the slice never multiply a nonzero index: stride 0.
  // The others are below the window size, hence below 2^32.
  const uint64_t s[4] = {e.counts[0] > 1 ? e.strides[0] : 0, e.counts[1] > 1 ? e.strides[1] : 0,
                         e.counts[2] > 1 ? e.strides[2] : 0, e.counts[3] > 1 ? e.strides[3] : 0};
  view->offset = static_cast<uint32_t>((begin_byte - start) / e.element_bytes);
  view->batch_stride = static_cast<uint32_t>(s[0]);
  view->head_stride = static_cast<uint32_t>(s[1]);
  view->seq_stride = static_cast<uint32_t>(s[2]);
  view->col_stride = static_cast<uint32_t>(s[3]);
  return true;
}

Extent tensor_extent(const char* name, const TensorView& v, int64_t b0, int64_t b1, int64_t h0, int64_t h1,
                     int64_t seq, int64_t dim, uint64_t element_bytes) {
  Extent e{name,
           v.offset + static_cast<uint64_t>(b0) * v.batch_stride + static_cast<uint64_t>(h0) * v.head_stride,
           {v.batch_stride, v.head_stride, v.seq_stride, 1},
           {static_cast<uint64_t>(b1 - b0), static_cast<uint64_t>(h1 - h0), static_cast<uint64_t>(seq),
            static_cast<uint64_t>(dim)},
           element_bytes};
  return e;
}

// A K or V view: in elements of the float type, or, for q8_0 / q4_0
// blocks, in bytes (every row starts at a whole block, so each row is a run
// of bytes and every offset and stride converts exactly).
Extent kv_extent(const char* name, const TensorView& v, vkattn_dtype dtype, int64_t b0, int64_t b1, int64_t h0,
                 int64_t h1, int64_t seq, int64_t dim) {
  if (!is_block_dtype(dtype)) return tensor_extent(name, v, b0, b1, h0, h1, seq, dim, dtype_size(dtype));
  Extent e = tensor_extent(name, v, b0, b1, h0, h1, seq, dim, 1);
  // (b0, b1, seq: pages and rows per page for paged K/V.)
  e.first = storage_offset(dtype, e.first);
  for (int a = 0; a < 3; ++a) e.strides[a] = storage_offset(dtype, e.strides[a]);
  e.counts[3] = storage_offset(dtype, static_cast<uint64_t>(dim));
  return e;
}

Extent mask_extent(const char* name, const MaskView& v, const Problem& p, int64_t b0, int64_t b1, int64_t h0,
                   int64_t h1, uint64_t element_bytes) {
  Extent e{name,
           v.offset + static_cast<uint64_t>(b0) * v.batch_stride + static_cast<uint64_t>(h0) * v.head_stride,
           {v.batch_stride, v.head_stride, v.row_stride, v.col_stride},
           {static_cast<uint64_t>(b1 - b0), static_cast<uint64_t>(h1 - h0), static_cast<uint64_t>(p.q_len),
            static_cast<uint64_t>(p.kv_len)},
           element_bytes};
  return e;
}

// Builds the slice [b0,b1) x [g0,g1); on failure names the tensor that does not fit.
bool build_slice(const Problem& p, const SliceLimits& limits, uint64_t scratch_bytes_per_row, int64_t b0, int64_t b1,
                 int64_t g0, int64_t g1, Slice* slice, const char** failed, uint64_t* failed_bytes) {
  const int64_t group = p.group();
  const uint64_t element = p.element_size();
  // Paged K and V: every slice binds the pool's pages (any sequence may
  // name any page), for its kv heads.
  const int64_t kv_first = p.paged() ? 0 : b0, kv_end = p.paged() ? p.num_pages : b1;
  const int64_t kv_rows = p.paged() ? p.page_size : p.kv_len;
  // Packed queries: every slice binds all packed rows (its sequences'
  // rows are known at execution only), for its query heads.
  const int64_t q0 = p.packed_queries() ? 0 : b0, q1 = p.packed_queries() ? 1 : b1;
  const int64_t q_rows = p.packed_queries() ? p.packed_q_rows : p.q_len;
  slice->batch_begin = b0;
  slice->batch_end = b1;
  slice->kv_head_begin = g0;
  slice->kv_head_end = g1;
  struct Item {
    Extent extent;
    uint32_t binding;
    RelativeView* view;
    bool used;
  } items[] = {
      {tensor_extent("Q", p.q, q0, q1, g0 * group, g1 * group, q_rows, p.qk_dim, element), kBindingQ, &slice->q, true},
      {kv_extent("K", p.k, p.k_dtype, kv_first, kv_end, g0, g1, kv_rows, p.qk_dim), kBindingK, &slice->k, true},
      {kv_extent("V", p.v, p.v_dtype, kv_first, kv_end, g0, g1, kv_rows, p.v_dim), kBindingV, &slice->v, true},
      {tensor_extent("O", p.out, q0, q1, g0 * group, g1 * group, q_rows, p.v_dim, element), kBindingOut, &slice->out,
       true},
      {tensor_extent("LSE", p.lse, q0, q1, g0 * group, g1 * group, q_rows, 1, 4), kBindingLse, &slice->lse,
       p.has_lse},
      {mask_extent("the additive mask", p.additive_mask, p, b0, b1, g0 * group, g1 * group, 4), kBindingAdditiveMask,
       &slice->additive_mask, p.has_additive_mask},
      {mask_extent("the boolean mask", p.bool_mask, p, b0, b1, g0 * group, g1 * group, 1), kBindingBoolMask,
       &slice->bool_mask, p.has_bool_mask},
  };
  // The scratch rows of this slice (one record per query row and split).
  const uint64_t scratch = static_cast<uint64_t>(b1 - b0) * static_cast<uint64_t>((g1 - g0) * group) *
                           static_cast<uint64_t>(p.q_len) * scratch_bytes_per_row;
  if (scratch > limits.max_binding_bytes) {
    *failed = "the split-KV / key-chunk scratch";
    *failed_bytes = scratch;
    return false;
  }
  slice->windows[kBindingPartials] = Window{0, scratch};
  for (Item& item : items) {
    if (!item.used) continue;
    if (!make_window(item.extent, limits, &slice->windows[item.binding], item.view)) {
      *failed = item.extent.name;
      uint64_t last = item.extent.first;
      for (int a = 0; a < 4; ++a) last += (item.extent.counts[a] - 1) * item.extent.strides[a];
      *failed_bytes = (last + 1 - item.extent.first) * item.extent.element_bytes;
      return false;
    }
  }
  return true;
}

}  // namespace

Status plan_slices(const Problem& p, const SliceLimits& limits, uint32_t kv_splits, uint64_t scratch_bytes_per_row,
                   std::vector<Slice>* out) {
  out->clear();
  // Batches per slice: all, or one; kv heads per slice: halved until every
  // window fits (and the dispatch grid's y and z dimensions too).
  const int64_t max_batches_z = std::max<int64_t>(1, limits.max_groups_z / std::max<uint32_t>(kv_splits, 1));
  if (kv_splits > limits.max_groups_z) {
    return unsupported("%u key splits exceed maxComputeWorkGroupCount[2] = %u", kv_splits, limits.max_groups_z);
  }
  for (int64_t batches = std::min<int64_t>(p.batch, max_batches_z); batches >= 1;
       batches = batches == 1 ? 0 : std::max<int64_t>(1, batches / 2)) {
    for (int64_t heads = std::min<int64_t>(p.kv_heads, limits.max_groups_y); heads >= 1;
         heads = heads == 1 ? 0 : (heads + 1) / 2) {
      std::vector<Slice> slices;
      const char* failed = nullptr;
      uint64_t failed_bytes = 0;
      bool fits = true;
      for (int64_t b0 = 0; b0 < p.batch && fits; b0 += batches) {
        for (int64_t g0 = 0; g0 < p.kv_heads && fits; g0 += heads) {
          Slice slice;
          fits = build_slice(p, limits, scratch_bytes_per_row, b0, std::min(p.batch, b0 + batches), g0,
                             std::min(p.kv_heads, g0 + heads), &slice, &failed, &failed_bytes);
          if (fits) slices.push_back(slice);
        }
      }
      if (fits) {
        *out = std::move(slices);
        return Status();
      }
      if (batches == 1 && heads == 1) {
        return unsupported(
            "%s of one (batch, head) spans %llu bytes, more than this device's maxStorageBufferRange (%llu bytes) "
            "lets one shader binding address",
            failed, (unsigned long long)failed_bytes, (unsigned long long)limits.max_binding_bytes);
      }
    }
  }
  return internal_error("slice planning did not terminate");
}

}  // namespace vk
}  // namespace vkattn
