#include "problem.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <utility>

#include "checked_math.h"
#include "enum_value.h"
#include "quant.h"

namespace vkattn {

size_t dtype_size(vkattn_dtype dtype) { return dtype == VKATTN_DTYPE_F16 ? 2 : 4; }

const char* dtype_name(vkattn_dtype dtype) {
  switch (dtype) {
    case VKATTN_DTYPE_F32: return "f32";
    case VKATTN_DTYPE_F16: return "f16";
    case VKATTN_DTYPE_Q8_0: return "q8_0";
    case VKATTN_DTYPE_Q4_0: return "q4_0";
  }
  return "unknown";
}

namespace {

struct Axis {
  const char* name;
  uint64_t extent;
  uint64_t stride;
};

}  // namespace

Status check_size(const char* desc, const char* field, int64_t value, int64_t max) {
  if (value < 1) return invalid_argument("%s.%s must be >= 1 (got %lld)", desc, field, (long long)value);
  if (value > max) {
    return invalid_argument("%s.%s (%lld) exceeds the maximum %lld", desc, field, (long long)value,
                            (long long)max);
  }
  return Status();
}

namespace {

Status check_stride(const char* desc, const char* layout, const char* axis, int64_t stride) {
  if (stride < 0) {
    return invalid_argument("%s.%s.%s must be >= 0 (got %lld)", desc, layout, axis, (long long)stride);
  }
  return Status();
}

// Computes the extent (one past the highest element touched) of a strided view
// and, if `injective`, rejects views where two indices address one element:
// sorted by stride, each axis must step past everything the smaller axes span.
Status view_extent(const char* desc, const char* layout, uint64_t offset, Axis* axes, int count, bool injective, uint64_t* extent) {
  uint64_t span = 0;  // highest index reached relative to offset
  for (int a = 0; a < count; ++a) {
    uint64_t reach = 0;
    if (!checked_mul(axes[a].extent - 1, axes[a].stride, &reach) || !checked_add(span, reach, &span)) {
      return invalid_argument("%s.%s: the view's index range overflows 64 bits (axis %s)", desc, layout,
                              axes[a].name);
    }
  }
  if (!checked_add(offset, span, extent) || !checked_add(*extent, uint64_t{1}, extent)) {
    return invalid_argument("%s.%s.offset (%llu) puts the view beyond 64-bit addressing", desc, layout,
                            (unsigned long long)offset);
  }
  if (!injective) return Status();
  std::sort(axes, axes + count, [](const Axis& x, const Axis& y) { return x.stride < y.stride; });
  uint64_t inner_span = 0;
  for (int a = 0; a < count; ++a) {
    if (axes[a].extent <= 1) continue;
    if (axes[a].stride <= inner_span) {
      return invalid_argument(
          "%s.%s overlaps itself: the %s stride (%llu) must exceed the %llu elements spanned by the "
          "axes inside it",
          desc, layout, axes[a].name, (unsigned long long)axes[a].stride, (unsigned long long)inner_span);
    }
    inner_span += (axes[a].extent - 1) * axes[a].stride;  // cannot overflow: bounded by span above
  }
  return Status();
}

}  // namespace

Status make_tensor_view(const char* desc, const char* layout_name, const vkattn_tensor_layout& layout, int64_t batch, int64_t heads,
                        int64_t seq, int64_t dim, TensorView* view) {
  VKATTN_RETURN_IF_ERROR(check_stride(desc, layout_name, "batch_stride", layout.batch_stride));
  VKATTN_RETURN_IF_ERROR(check_stride(desc, layout_name, "head_stride", layout.head_stride));
  VKATTN_RETURN_IF_ERROR(check_stride(desc, layout_name, "seq_stride", layout.seq_stride));
  Axis axes[4] = {
      {"batch", static_cast<uint64_t>(batch), static_cast<uint64_t>(layout.batch_stride)},
      {"head", static_cast<uint64_t>(heads), static_cast<uint64_t>(layout.head_stride)},
      {"seq", static_cast<uint64_t>(seq), static_cast<uint64_t>(layout.seq_stride)},
      {"dim", static_cast<uint64_t>(dim), 1},
  };
  view->offset = layout.offset;
  view->batch_stride = static_cast<uint64_t>(layout.batch_stride);
  view->head_stride = static_cast<uint64_t>(layout.head_stride);
  view->seq_stride = static_cast<uint64_t>(layout.seq_stride);
  return view_extent(desc, layout_name, layout.offset, axes, 4, /*injective=*/true, &view->extent);
}

namespace {

Status make_mask_view(const char* desc, const char* layout_name, const vkattn_mask_layout& layout, const Problem& p, MaskView* view) {
  VKATTN_RETURN_IF_ERROR(check_stride(desc, layout_name, "batch_stride", layout.batch_stride));
  VKATTN_RETURN_IF_ERROR(check_stride(desc, layout_name, "head_stride", layout.head_stride));
  VKATTN_RETURN_IF_ERROR(check_stride(desc, layout_name, "row_stride", layout.row_stride));
  VKATTN_RETURN_IF_ERROR(check_stride(desc, layout_name, "col_stride", layout.col_stride));
  Axis axes[4] = {
      {"batch", static_cast<uint64_t>(p.batch), static_cast<uint64_t>(layout.batch_stride)},
      {"head", static_cast<uint64_t>(p.q_heads), static_cast<uint64_t>(layout.head_stride)},
      {"row", static_cast<uint64_t>(p.q_len), static_cast<uint64_t>(layout.row_stride)},
      {"col", static_cast<uint64_t>(p.kv_len), static_cast<uint64_t>(layout.col_stride)},
  };
  view->offset = layout.offset;
  view->batch_stride = static_cast<uint64_t>(layout.batch_stride);
  view->head_stride = static_cast<uint64_t>(layout.head_stride);
  view->row_stride = static_cast<uint64_t>(layout.row_stride);
  view->col_stride = static_cast<uint64_t>(layout.col_stride);
  // Masks are read-only and broadcast by design: no overlap rule.
  return view_extent(desc, layout_name, layout.offset, axes, 4, /*injective=*/false, &view->extent);
}

}  // namespace

Status check_block_layout(const char* desc, const char* name, const vkattn_tensor_layout& l, vkattn_dtype dtype) {
  if (!is_block_dtype(dtype)) return Status();
  if (l.offset % kQuantBlock != 0 || l.batch_stride % kQuantBlock != 0 || l.head_stride % kQuantBlock != 0 ||
      l.seq_stride % kQuantBlock != 0) {
    return invalid_argument("%s.%s: a %s tensor's offset and strides must be multiples of %lld values (got offset "
                            "%llu, strides %lld, %lld, %lld)",
                            desc, name, dtype_name(dtype), (long long)kQuantBlock, (unsigned long long)l.offset,
                            (long long)l.batch_stride, (long long)l.head_stride, (long long)l.seq_stride);
  }
  return Status();
}

Status check_pages(const char* desc, int64_t page_size, int64_t num_pages, int64_t max_pages, int64_t kv_len) {
  if (page_size == 0) {
    if (num_pages != 0 || max_pages != 0) {
      return invalid_argument("%s.num_pages and max_pages must be 0 without page_size", desc);
    }
    return Status();
  }
  if (page_size < 1 || page_size > kMaxPageSize) {
    return invalid_argument("%s.page_size must be 0 (contiguous K/V) or 1 to %lld (got %lld)", desc,
                            (long long)kMaxPageSize, (long long)page_size);
  }
  VKATTN_RETURN_IF_ERROR(check_size(desc, "num_pages", num_pages, kMaxDimension));
  VKATTN_RETURN_IF_ERROR(check_size(desc, "max_pages", max_pages, kMaxDimension));
  if (kv_len > max_pages * page_size) {
    return invalid_argument("%s.kv_len (%lld) exceeds max_pages x page_size (%lld x %lld)", desc, (long long)kv_len,
                            (long long)max_pages, (long long)page_size);
  }
  return Status();
}

namespace {

// Rejects, naming the field, what `mode_name` does not define.
struct RejectedField {
  const char* field;
  bool set;
};
template <size_t N>
Status reject_fields(const RejectedField (&fields)[N], const char* mode_name, const char* why) {
  for (const RejectedField& r : fields) {
    if (r.set) return unsupported("vkattn_attention_desc.%s is not supported in %s mode (%s)", r.field, mode_name, why);
  }
  return Status();
}

// Linear attention's fields (problem.h); everything else is already in *p.
Status make_linear_mode(const vkattn_attention_desc& desc, Problem* p) {
  if (!(p->scale > 0.0f)) {
    return invalid_argument("vkattn_attention_desc.scale (%g) must be > 0 in linear mode (the feature map takes "
                            "sqrt(scale) q and sqrt(scale) k)",
                            static_cast<double>(p->scale));
  }
  const vkattn_linear_attention& linear = desc.linear;
  const int32_t map = enum_value(linear.feature_map);
  if (map != VKATTN_FEATURE_MAP_ELU && map != VKATTN_FEATURE_MAP_FAVOR) {
    return invalid_argument("vkattn_attention_desc.linear.feature_map (%d) must be VKATTN_FEATURE_MAP_ELU or "
                            "VKATTN_FEATURE_MAP_FAVOR in linear mode",
                            map);
  }
  p->feature_map = linear.feature_map;
  if (map == VKATTN_FEATURE_MAP_ELU) {
    if (linear.num_features != 0 || linear.features != nullptr) {
      return invalid_argument("vkattn_attention_desc.linear.num_features and .features must be 0 and NULL with the "
                              "ELU feature map (it has qk_dim features)");
    }
    p->num_features = p->qk_dim;
  } else {
    VKATTN_RETURN_IF_ERROR(check_size("vkattn_attention_desc.linear", "num_features", linear.num_features,
                                      VKATTN_MAX_FEATURES));
    if (linear.features == nullptr) {
      return invalid_argument("vkattn_attention_desc.linear.features is NULL (FAVOR+ needs W [num_features, qk_dim])");
    }
    p->num_features = linear.num_features;
    const size_t count = static_cast<size_t>(p->num_features * p->qk_dim);  // <= 4096 x 4096
    for (size_t e = 0; e < count; ++e) {
      if (!std::isfinite(linear.features[e])) {
        return invalid_argument("vkattn_attention_desc.linear.features[%zu] must be finite (got %g)", e,
                                static_cast<double>(linear.features[e]));
      }
    }
    p->features.assign(linear.features, linear.features + count);
  }
  // What the mode does not define: everything that acts on softmax logits,
  // and visibility other than lengths and causal masking (prefix sums).
  const RejectedField rejected[] = {{"window_left", p->window_left >= 0},
                                    {"window_right", p->window_right >= 0},
                                    {"global_keys", desc.global_keys != 0},
                                    {"has_additive_mask", p->has_additive_mask},
                                    {"has_bool_mask", p->has_bool_mask},
                                    {"has_lse", p->has_lse},
                                    {"softcap", p->softcap > 0.0f},
                                    {"alibi_slopes", !p->alibi_slopes.empty()},
                                    {"sinks", !p->sinks.empty()},
                                    {"rope", p->rope.enabled()}};
  return reject_fields(rejected, "linear",
                       "linear attention has no softmax logits and admits only key lengths and causal masking");
}

// Linformer's fields (problem.h).
Status make_linformer_mode(const vkattn_attention_desc& desc, Problem* p) {
  const vkattn_linformer& lf = desc.linformer;
  VKATTN_RETURN_IF_ERROR(check_size("vkattn_attention_desc.linformer", "proj_len", lf.proj_len, VKATTN_MAX_PROJECTION));
  if (lf.per_head > 1) {
    return invalid_argument("vkattn_attention_desc.linformer.per_head (%u) must be 0 or 1", lf.per_head);
  }
  if (lf.e == nullptr || lf.f == nullptr) {
    return invalid_argument("vkattn_attention_desc.linformer.%s is NULL (Linformer needs E and F [%sproj_len, kv_len])",
                            lf.e == nullptr ? "e" : "f", lf.per_head ? "kv_heads, " : "");
  }
  // proj_len <= 4096 and kv_len, kv_heads < 2^31: the product fits int64
  // only after the first check.
  const int64_t per_matrix = lf.proj_len * p->kv_len;
  if (per_matrix > VKATTN_MAX_PROJECTION_ELEMENTS ||
      (lf.per_head && per_matrix * p->kv_heads > VKATTN_MAX_PROJECTION_ELEMENTS)) {
    return unsupported("vkattn_attention_desc.linformer: E and F of %s%lld x %lld values each exceed "
                       "VKATTN_MAX_PROJECTION_ELEMENTS (%lld)",
                       lf.per_head ? "kv_heads x " : "", (long long)lf.proj_len, (long long)p->kv_len,
                       (long long)VKATTN_MAX_PROJECTION_ELEMENTS);
  }
  // K' and V' ([batch, kv_heads, proj_len, qk_dim + v_dim] f32 at most)
  // must be addressable; whether they fit is the backend's to say.
  uint64_t projected = 0;
  if (!checked_mul(static_cast<uint64_t>(p->batch) * static_cast<uint64_t>(p->kv_heads),
                   static_cast<uint64_t>(lf.proj_len) * static_cast<uint64_t>(p->qk_dim + p->v_dim) * 4, &projected)) {
    return unsupported("vkattn_attention_desc.linformer.proj_len (%lld): the projected keys and values of %lld batches "
                       "x %lld kv heads exceed 2^64 bytes",
                       (long long)lf.proj_len, (long long)p->batch, (long long)p->kv_heads);
  }
  const RejectedField rejected[] = {{"causal", p->causal != VKATTN_CAUSAL_NONE},
                                    {"window_left", p->window_left >= 0},
                                    {"window_right", p->window_right >= 0},
                                    {"global_keys", desc.global_keys != 0},
                                    {"has_additive_mask", p->has_additive_mask},
                                    {"has_bool_mask", p->has_bool_mask},
                                    {"alibi_slopes", !p->alibi_slopes.empty()},
                                    {"rope", p->rope.enabled()}};
  VKATTN_RETURN_IF_ERROR(reject_fields(rejected, "Linformer",
                                       "a projected key is a mix of every key and has no position"));
  const size_t count = static_cast<size_t>(per_matrix * (lf.per_head ? p->kv_heads : 1));
  for (const auto& [name, matrix] : {std::pair<const char*, const float*>{"e", lf.e}, {"f", lf.f}}) {
    for (size_t e = 0; e < count; ++e) {
      if (!std::isfinite(matrix[e])) {
        return invalid_argument("vkattn_attention_desc.linformer.%s[%zu] must be finite (got %g)", name, e,
                                static_cast<double>(matrix[e]));
      }
    }
  }
  p->proj_len = lf.proj_len;
  p->proj_per_head = lf.per_head != 0;
  p->proj_e = std::make_shared<const std::vector<float>>(lf.e, lf.e + count);
  p->proj_f = std::make_shared<const std::vector<float>>(lf.f, lf.f + count);
  return Status();
}

// Block-sparse attention's fields (problem.h).
Status make_block_sparse_mode(const vkattn_attention_desc& desc, Problem* p) {
  const vkattn_block_sparse& bs = desc.block_sparse;
  const struct {
    const char* field;
    int64_t size;
    int* shift;
  } sizes[] = {{"block_q", bs.block_q, &p->block_q_shift}, {"block_k", bs.block_k, &p->block_k_shift}};
  for (const auto& size : sizes) {
    if (size.size != 16 && size.size != 32 && size.size != 64 && size.size != 128) {
      return invalid_argument("vkattn_attention_desc.block_sparse.%s (%lld) must be 16, 32, 64 or 128", size.field,
                              (long long)size.size);
    }
    *size.shift = size.size == 16 ? 4 : size.size == 32 ? 5 : size.size == 64 ? 6 : 7;
  }
  if (bs.mask_batch != 1 && bs.mask_batch != p->batch) {
    return invalid_argument("vkattn_attention_desc.block_sparse.mask_batch (%lld) must be 1 or batch (%lld)",
                            (long long)bs.mask_batch, (long long)p->batch);
  }
  if (bs.mask_heads != 1 && bs.mask_heads != p->q_heads) {
    return invalid_argument("vkattn_attention_desc.block_sparse.mask_heads (%lld) must be 1 or q_heads (%lld)",
                            (long long)bs.mask_heads, (long long)p->q_heads);
  }
  if (bs.mask == nullptr) {
    return invalid_argument("vkattn_attention_desc.block_sparse.mask is NULL (block-sparse attention needs the block "
                            "mask)");
  }
  p->q_blocks = ceil_div(p->q_len, bs.block_q);
  p->k_blocks = ceil_div(p->kv_len, bs.block_k);
  // Each factor is below 2^31 and the blocks below 2^27: check the product
  // step by step.
  uint64_t bytes = 0;
  if (!checked_mul(static_cast<uint64_t>(bs.mask_batch) * static_cast<uint64_t>(bs.mask_heads),
                   static_cast<uint64_t>(p->q_blocks) * static_cast<uint64_t>(p->k_blocks), &bytes) ||
      bytes > static_cast<uint64_t>(VKATTN_MAX_BLOCK_MASK_BYTES)) {
    return unsupported("vkattn_attention_desc.block_sparse.mask: %lld x %lld x %lld x %lld blocks exceed "
                       "VKATTN_MAX_BLOCK_MASK_BYTES (%lld)",
                       (long long)bs.mask_batch, (long long)bs.mask_heads, (long long)p->q_blocks,
                       (long long)p->k_blocks, (long long)VKATTN_MAX_BLOCK_MASK_BYTES);
  }
  p->block_mask_batch = bs.mask_batch;
  p->block_mask_heads = bs.mask_heads;
  p->block_mask = std::make_shared<const std::vector<uint8_t>>(bs.mask, bs.mask + bytes);
  return Status();
}

// Top-k attention's field (problem.h).
Status make_topk_mode(const vkattn_attention_desc& desc, Problem* p) {
  if (desc.topk.k < 1 || desc.topk.k > VKATTN_MAX_TOPK) {
    return invalid_argument("vkattn_attention_desc.topk.k (%lld) must be in 1..VKATTN_MAX_TOPK (%d)",
                            (long long)desc.topk.k, VKATTN_MAX_TOPK);
  }
  p->topk = desc.topk.k;
  return Status();
}

// The mode and its fields; everything else is already in *p.
Status make_mode(const vkattn_attention_desc& desc, Problem* p) {
  const int32_t mode = enum_value(desc.mode);
  if (mode != VKATTN_MODE_EXACT && mode != VKATTN_MODE_LINEAR && mode != VKATTN_MODE_LINFORMER &&
      mode != VKATTN_MODE_BLOCK_SPARSE && mode != VKATTN_MODE_TOPK) {
    return invalid_argument("vkattn_attention_desc.mode (%d) is not a vkattn_attention_mode value", mode);
  }
  p->mode = desc.mode;
  if (p->linear()) return make_linear_mode(desc, p);
  if (p->linformer()) return make_linformer_mode(desc, p);
  if (p->block_sparse()) return make_block_sparse_mode(desc, p);
  if (p->topk_mode()) return make_topk_mode(desc, p);
  return Status();
}

}  // namespace

// Earlier descriptors: before the attention modes (ending before `mode`),
// before Linformer (ending before `linformer`), before block-sparse
// attention (ending before `block_sparse`) and before top-k attention
// (ending before `topk`).
constexpr size_t kAttentionDescSizeBeforeModes = offsetof(vkattn_attention_desc, mode);
constexpr size_t kAttentionDescSizeBeforeLinformer = offsetof(vkattn_attention_desc, linformer);
constexpr size_t kAttentionDescSizeBeforeBlockSparse = offsetof(vkattn_attention_desc, block_sparse);
constexpr size_t kAttentionDescSizeBeforeTopk = offsetof(vkattn_attention_desc, topk);

Status make_problem(const vkattn_attention_desc& caller_desc, Problem* out) {
  const char* const kDesc = "vkattn_attention_desc";
  if (caller_desc.struct_size != sizeof(vkattn_attention_desc) &&
      caller_desc.struct_size != kAttentionDescSizeBeforeModes &&
      caller_desc.struct_size != kAttentionDescSizeBeforeLinformer &&
      caller_desc.struct_size != kAttentionDescSizeBeforeBlockSparse &&
      caller_desc.struct_size != kAttentionDescSizeBeforeTopk) {
    return invalid_argument(
        "vkattn_attention_desc.struct_size is %zu but this library expects %zu (or %zu, %zu, %zu or %zu, the sizes "
        "before the mode fields, before `linformer`, before `block_sparse` and before `topk`); initialise the "
        "descriptor with vkattn_attention_desc_init()",
        caller_desc.struct_size, sizeof(vkattn_attention_desc), kAttentionDescSizeBeforeModes,
        kAttentionDescSizeBeforeLinformer, kAttentionDescSizeBeforeBlockSparse, kAttentionDescSizeBeforeTopk);
  }
  // Only struct_size bytes are the caller's; later fields take their
  // defaults (0: exact mode, no Linformer projections, no block mask, no
  // top-k).
  vkattn_attention_desc desc;
  std::memset(&desc, 0, sizeof(desc));
  std::memcpy(&desc, &caller_desc, caller_desc.struct_size);
  if (desc.flags != 0) return invalid_argument("vkattn_attention_desc.flags (0x%x) must be 0", desc.flags);

  Problem p;
  VKATTN_RETURN_IF_ERROR(check_size(kDesc, "batch", desc.batch, kMaxDimension));
  VKATTN_RETURN_IF_ERROR(check_size(kDesc, "q_heads", desc.q_heads, kMaxDimension));
  VKATTN_RETURN_IF_ERROR(check_size(kDesc, "kv_heads", desc.kv_heads, kMaxDimension));
  VKATTN_RETURN_IF_ERROR(check_size(kDesc, "q_len", desc.q_len, kMaxDimension));
  VKATTN_RETURN_IF_ERROR(check_size(kDesc, "kv_len", desc.kv_len, kMaxDimension));
  VKATTN_RETURN_IF_ERROR(check_size(kDesc, "qk_dim", desc.qk_dim, VKATTN_MAX_HEAD_DIM));
  VKATTN_RETURN_IF_ERROR(check_size(kDesc, "v_dim", desc.v_dim, VKATTN_MAX_HEAD_DIM));
  if (desc.q_heads % desc.kv_heads != 0) {
    return invalid_argument("vkattn_attention_desc.kv_heads (%lld) must divide q_heads (%lld)",
                            (long long)desc.kv_heads, (long long)desc.q_heads);
  }
  p.batch = desc.batch;
  p.q_heads = desc.q_heads;
  p.kv_heads = desc.kv_heads;
  p.q_len = desc.q_len;
  p.kv_len = desc.kv_len;
  p.qk_dim = desc.qk_dim;
  p.v_dim = desc.v_dim;

  const int32_t dtype = enum_value(desc.dtype);
  if (dtype != VKATTN_DTYPE_F32 && dtype != VKATTN_DTYPE_F16) {
    return invalid_argument("vkattn_attention_desc.dtype (%d) must be VKATTN_DTYPE_F32 or VKATTN_DTYPE_F16", dtype);
  }
  p.dtype = desc.dtype;
  // K and V storage: dtype, or a block type along a head dimension that
  // holds whole blocks.
  // (The fields are read as raw bits: a C caller may store any int there.)
  const struct {
    const char* name;
    const vkattn_dtype* field;
    int64_t dim;
    const char* dim_name;
    vkattn_dtype* target;
  } kv_types[] = {{"k_dtype", &desc.k_dtype, desc.qk_dim, "qk_dim", &p.k_dtype},
                  {"v_dtype", &desc.v_dtype, desc.v_dim, "v_dim", &p.v_dtype}};
  for (const auto& kv : kv_types) {
    const int32_t value = enum_value(*kv.field);
    if (value == 0 || value == dtype) {
      *kv.target = p.dtype;
      continue;
    }
    if (value != VKATTN_DTYPE_F32 && value != VKATTN_DTYPE_F16 && value != VKATTN_DTYPE_Q8_0 &&
        value != VKATTN_DTYPE_Q4_0) {
      return invalid_argument("vkattn_attention_desc.%s (%d) is not a vkattn_dtype value", kv.name, value);
    }
    const vkattn_dtype type = static_cast<vkattn_dtype>(value);  // a valid enumerator now
    if (value == VKATTN_DTYPE_F32 || value == VKATTN_DTYPE_F16) {
      return unsupported("vkattn_attention_desc.%s (%s) must equal dtype (%s) or be a block type: float K/V of "
                         "another type than Q are not supported",
                         kv.name, dtype_name(type), dtype_name(p.dtype));
    }
    if (kv.dim % kQuantBlock != 0) {
      return unsupported("vkattn_attention_desc.%s %s needs %s to be a multiple of %lld (got %lld)", kv.name,
                         dtype_name(type), kv.dim_name, (long long)kQuantBlock, (long long)kv.dim);
    }
    *kv.target = type;
  }

  if (!std::isfinite(desc.scale)) return invalid_argument("vkattn_attention_desc.scale must be finite");
  p.scale = desc.scale != 0.0f ? desc.scale : static_cast<float>(1.0 / std::sqrt(static_cast<double>(desc.qk_dim)));

  const int32_t causal = enum_value(desc.causal);
  if (causal != VKATTN_CAUSAL_NONE && causal != VKATTN_CAUSAL_BOTTOM_RIGHT && causal != VKATTN_CAUSAL_TOP_LEFT) {
    return invalid_argument("vkattn_attention_desc.causal (%d) is not a vkattn_causal value", causal);
  }
  p.causal = desc.causal;
  if (desc.window_left < -1) {
    return invalid_argument("vkattn_attention_desc.window_left must be -1 (unbounded) or >= 0 (got %lld)",
                            (long long)desc.window_left);
  }
  if (desc.window_right < -1) {
    return invalid_argument("vkattn_attention_desc.window_right must be -1 (unbounded) or >= 0 (got %lld)",
                            (long long)desc.window_right);
  }
  // A window wider than both sequences together hides nothing; normalising it
  // to unbounded keeps the index arithmetic in key_range() small.
  if (desc.global_keys < 0) {
    return invalid_argument("vkattn_attention_desc.global_keys must be >= 0 (got %lld)", (long long)desc.global_keys);
  }
  p.global_keys = std::min(desc.global_keys, desc.kv_len);
  const int64_t widest = p.q_len + p.kv_len;
  p.window_left = desc.window_left > widest ? -1 : desc.window_left;
  p.window_right = desc.window_right > widest ? -1 : desc.window_right;

  struct Flag {
    const char* name;
    uint32_t value;
    bool* target;
  } flags[] = {{"has_additive_mask", desc.has_additive_mask, &p.has_additive_mask},
               {"has_bool_mask", desc.has_bool_mask, &p.has_bool_mask},
               {"has_kv_lens", desc.has_kv_lens, &p.has_kv_lens},
               {"has_lse", desc.has_lse, &p.has_lse},
               {"has_q_lens", desc.has_q_lens, &p.has_q_lens}};
  for (const Flag& flag : flags) {
    if (flag.value > 1) return invalid_argument("vkattn_attention_desc.%s must be 0 or 1 (got %u)", flag.name, flag.value);
    *flag.target = flag.value == 1;
  }

  if (!std::isfinite(desc.softcap) || desc.softcap < 0.0f) {
    return invalid_argument("vkattn_attention_desc.softcap must be 0 (off) or finite and > 0 (got %g)",
                            static_cast<double>(desc.softcap));
  }
  p.softcap = desc.softcap;
  const struct {
    const char* name;
    const float* values;
    std::vector<float>* target;
  } head_arrays[] = {{"alibi_slopes", desc.alibi_slopes, &p.alibi_slopes}, {"sinks", desc.sinks, &p.sinks}};
  for (const auto& array : head_arrays) {
    if (array.values == nullptr) continue;
    for (int64_t h = 0; h < p.q_heads; ++h) {
      if (!std::isfinite(array.values[h])) {
        return invalid_argument("vkattn_attention_desc.%s[%lld] must be finite (got %g)", array.name, (long long)h,
                                static_cast<double>(array.values[h]));
      }
    }
    array.target->assign(array.values, array.values + p.q_heads);
  }

  VKATTN_RETURN_IF_ERROR(make_rope("vkattn_attention_desc", desc.rope, p.qk_dim, "qk_dim", &p.rope));

  VKATTN_RETURN_IF_ERROR(check_block_layout(kDesc, "k_layout", desc.k_layout, p.k_dtype));
  VKATTN_RETURN_IF_ERROR(check_block_layout(kDesc, "v_layout", desc.v_layout, p.v_dtype));
  // Packed queries: Q, O and LSE are [1, q_heads, packed_q_rows, dim].
  if (desc.packed_q_rows < 0 || desc.packed_q_rows > kMaxDimension) {
    return invalid_argument("vkattn_attention_desc.packed_q_rows must be 0 (padded queries) or in [1, %lld] (got %lld)",
                            (long long)kMaxDimension, (long long)desc.packed_q_rows);
  }
  p.packed_q_rows = desc.packed_q_rows;
  if (p.packed_queries()) {
    if (p.has_q_lens) {
      return invalid_argument("vkattn_attention_desc.has_q_lens must be 0 with packed_q_rows > 0 (the query counts "
                              "come from cu_seqlens_q)");
    }
    const struct {
      const char* name;
      const vkattn_tensor_layout& layout;
      bool used;
    } query_layouts[] = {{"q_layout", desc.q_layout, true},
                         {"out_layout", desc.out_layout, true},
                         {"lse_layout", desc.lse_layout, p.has_lse}};
    for (const auto& layout : query_layouts) {
      if (layout.used && layout.layout.batch_stride != 0) {
        return invalid_argument("vkattn_attention_desc.%s.batch_stride must be 0 with packed_q_rows > 0 (got %lld): "
                                "packed rows are found through cu_seqlens_q",
                                layout.name, (long long)layout.layout.batch_stride);
      }
    }
  }
  const int64_t query_batches = p.packed_queries() ? 1 : p.batch;
  const int64_t query_rows = p.packed_queries() ? p.packed_q_rows : p.q_len;
  VKATTN_RETURN_IF_ERROR(
      make_tensor_view(kDesc, "q_layout", desc.q_layout, query_batches, p.q_heads, query_rows, p.qk_dim, &p.q));
  // Paged K/V: the layouts describe pools [num_pages, kv_heads, page_size, dim].
  VKATTN_RETURN_IF_ERROR(check_pages(kDesc, desc.page_size, desc.num_pages, desc.max_pages, desc.kv_len));
  if (desc.page_size != 0 && !p.has_kv_lens) {
    return invalid_argument("vkattn_attention_desc.page_size > 0 needs has_kv_lens (each sequence's key count)");
  }
  p.page_size = desc.page_size;
  p.num_pages = desc.num_pages;
  p.max_pages = desc.max_pages;
  const int64_t kv_outer = p.paged() ? p.num_pages : p.batch;    // batch or page axis
  const int64_t kv_rows = p.paged() ? p.page_size : p.kv_len;    // keys per (batch or page, head)
  VKATTN_RETURN_IF_ERROR(make_tensor_view(kDesc, "k_layout", desc.k_layout, kv_outer, p.kv_heads, kv_rows, p.qk_dim, &p.k));
  VKATTN_RETURN_IF_ERROR(make_tensor_view(kDesc, "v_layout", desc.v_layout, kv_outer, p.kv_heads, kv_rows, p.v_dim, &p.v));
  VKATTN_RETURN_IF_ERROR(
      make_tensor_view(kDesc, "out_layout", desc.out_layout, query_batches, p.q_heads, query_rows, p.v_dim, &p.out));
  if (p.has_lse) {
    VKATTN_RETURN_IF_ERROR(
        make_tensor_view(kDesc, "lse_layout", desc.lse_layout, query_batches, p.q_heads, query_rows, 1, &p.lse));
  }
  if (p.has_additive_mask) {
    VKATTN_RETURN_IF_ERROR(make_mask_view(kDesc, "additive_mask_layout", desc.additive_mask_layout, p, &p.additive_mask));
  }
  if (p.has_bool_mask) {
    VKATTN_RETURN_IF_ERROR(make_mask_view(kDesc, "bool_mask_layout", desc.bool_mask_layout, p, &p.bool_mask));
  }
  // Byte sizes must be representable too (buffers are addressed in bytes;
  // a block type's extent is a multiple of 32 and takes at most 34/32
  // bytes per value).
  const struct {
    const char* name;
    uint64_t extent;
    size_t element;
  } byte_checks[] = {{"q_layout", p.q.extent, p.element_size()},
                     {"k_layout", p.k.extent, is_block_dtype(p.k_dtype) ? 2 : dtype_size(p.k_dtype)},
                     {"v_layout", p.v.extent, is_block_dtype(p.v_dtype) ? 2 : dtype_size(p.v_dtype)},
                     {"out_layout", p.out.extent, p.element_size()},
                     {"lse_layout", p.lse.extent, 4},
                     {"additive_mask_layout", p.additive_mask.extent, 4},
                     {"bool_mask_layout", p.bool_mask.extent, 1}};
  for (const auto& check : byte_checks) {
    uint64_t bytes = 0;
    if (!checked_mul(check.extent, check.element, &bytes)) {
      return invalid_argument("vkattn_attention_desc.%s addresses more than 2^64 bytes", check.name);
    }
  }
  VKATTN_RETURN_IF_ERROR(make_mode(desc, &p));
  *out = p;
  return Status();
}

Status make_rope(const char* desc_name, const vkattn_rope& rope, int64_t head_dim, const char* dim_name, Rope* out) {
  const int32_t style = enum_value(rope.style);
  if (style != VKATTN_ROPE_NONE && style != VKATTN_ROPE_NEOX && style != VKATTN_ROPE_GPTJ) {
    return invalid_argument("%s.rope.style (%d) is not a vkattn_rope_style value", desc_name, style);
  }
  if (style == VKATTN_ROPE_NONE) {
    *out = Rope();
    return Status();
  }
  if (!std::isfinite(rope.theta) || rope.theta < 0.0f) {
    return invalid_argument("%s.rope.theta must be 0 (10000) or finite and > 0 (got %g)", desc_name,
                            static_cast<double>(rope.theta));
  }
  const int64_t dims = rope.dims != 0 ? rope.dims : head_dim;
  if (dims < 2 || dims > head_dim || dims % 2 != 0) {
    return invalid_argument("%s.rope.dims (%lld, 0 = %s) must be even and in [2, %s = %lld]", desc_name,
                            (long long)dims, dim_name, dim_name, (long long)head_dim);
  }
  *out = Rope::make(static_cast<vkattn_rope_style>(style), rope.theta != 0.0f ? rope.theta : 10000.0, dims);
  return Status();
}

void alibi_default_slopes(int64_t heads, float* out) {
  // Press et al.: for n a power of two, slope k (1-based) is 2^(-8k/n). For
  // other n, the slopes of the largest power of two p below n, then every
  // other slope of 2p (2^(-8k/2p) for k = 1, 3, 5, ...), n - p of them.
  int64_t p = 1;
  while (p * 2 <= heads) p *= 2;
  for (int64_t k = 1; k <= p; ++k) out[k - 1] = static_cast<float>(std::exp2(-8.0 * k / p));
  for (int64_t m = 0; m < heads - p; ++m) out[p + m] = static_cast<float>(std::exp2(-4.0 * (2 * m + 1) / p));
}

Problem linformer_attend_problem(const Problem& lf, vkattn_dtype kv_dtype) {
  Problem p = lf;
  p.mode = VKATTN_MODE_EXACT;
  p.kv_len = lf.proj_len;
  p.k_dtype = kv_dtype;
  p.v_dtype = kv_dtype;
  p.has_kv_lens = false;
  p.page_size = p.num_pages = p.max_pages = 0;
  p.proj_len = 0;
  p.proj_per_head = false;
  p.proj_e.reset();
  p.proj_f.reset();
  // [batch, kv_heads, proj_len, dim], dense (b, h, p < 2^31 and dim <=
  // 4096; the plan checks the bytes).
  auto dense = [&](int64_t dim) {
    TensorView view;
    view.seq_stride = static_cast<uint64_t>(dim);
    view.head_stride = view.seq_stride * static_cast<uint64_t>(lf.proj_len);
    view.batch_stride = view.head_stride * static_cast<uint64_t>(lf.kv_heads);
    view.extent = view.batch_stride * static_cast<uint64_t>(lf.batch);
    return view;
  };
  p.k = dense(lf.qk_dim);
  p.v = dense(lf.v_dim);
  return p;
}

uint64_t count_range_visible_pairs(const Problem& p, const int32_t* kv_lens, const int32_t* q_lens) {
  uint64_t pairs = 0;
  for (int64_t b = 0; b < p.batch; ++b) {
    const SequenceLengths seq = p.sequence(kv_lens, q_lens, b);
    uint64_t per_head = 0;
    for (int64_t i = 0; i < seq.queries; ++i) {
      KeyRange spans[2];
      const int count = p.visible_spans(i, seq, spans);
      for (int s = 0; s < count; ++s) per_head += static_cast<uint64_t>(spans[s].end - spans[s].begin);
    }
    pairs += per_head * static_cast<uint64_t>(p.q_heads);
  }
  return pairs;
}

}  // namespace vkattn
