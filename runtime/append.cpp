#include "append.h"

#include "checked_math.h"
#include "enum_value.h"
#include "quant.h"

namespace vkattn {

namespace {

const char* const kDesc = "vkattn_append_desc";

// A cache's storage type: 0 = the sources' type, else any vkattn_dtype; a
// block type needs whole blocks along the head dimension.
Status cache_dtype(const char* field, const vkattn_dtype& value_field, vkattn_dtype src, int64_t dim, const char* dim_name,
                   vkattn_dtype* out) {
  const int32_t value = enum_value(value_field);
  if (value == 0) {
    *out = src;
    return Status();
  }
  if (value != VKATTN_DTYPE_F32 && value != VKATTN_DTYPE_F16 && value != VKATTN_DTYPE_Q8_0 &&
      value != VKATTN_DTYPE_Q4_0) {
    return invalid_argument("%s.%s (%d) is not a vkattn_dtype value", kDesc, field, value);
  }
  const vkattn_dtype type = static_cast<vkattn_dtype>(value);
  if (is_block_dtype(type) && dim % kQuantBlock != 0) {
    return unsupported("%s.%s %s needs %s to be a multiple of %lld (got %lld)", kDesc, field, dtype_name(type),
                       dim_name, (long long)kQuantBlock, (long long)dim);
  }
  *out = type;
  return Status();
}

}  // namespace

Status make_append_problem(const vkattn_append_desc& desc, AppendProblem* out) {
  if (desc.struct_size != sizeof(vkattn_append_desc)) {
    return invalid_argument(
        "%s.struct_size is %zu but this library expects %zu; initialise the descriptor with vkattn_append_desc_init()",
        kDesc, desc.struct_size, sizeof(vkattn_append_desc));
  }
  if (desc.flags != 0) return invalid_argument("%s.flags (0x%x) must be 0", kDesc, desc.flags);
  AppendProblem p;
  VKATTN_RETURN_IF_ERROR(check_size(kDesc, "batch", desc.batch, kMaxDimension));
  VKATTN_RETURN_IF_ERROR(check_size(kDesc, "kv_heads", desc.kv_heads, kMaxDimension));
  VKATTN_RETURN_IF_ERROR(check_size(kDesc, "new_tokens", desc.new_tokens, kMaxDimension));
  VKATTN_RETURN_IF_ERROR(check_size(kDesc, "kv_len", desc.kv_len, kMaxDimension));
  VKATTN_RETURN_IF_ERROR(check_size(kDesc, "qk_dim", desc.qk_dim, VKATTN_MAX_HEAD_DIM));
  VKATTN_RETURN_IF_ERROR(check_size(kDesc, "v_dim", desc.v_dim, VKATTN_MAX_HEAD_DIM));
  if (desc.new_tokens > desc.kv_len) {
    return invalid_argument("%s.new_tokens (%lld) exceeds kv_len (%lld): the tokens cannot fit the cache", kDesc,
                            (long long)desc.new_tokens, (long long)desc.kv_len);
  }
  p.batch = desc.batch;
  p.kv_heads = desc.kv_heads;
  p.new_tokens = desc.new_tokens;
  p.kv_len = desc.kv_len;
  p.qk_dim = desc.qk_dim;
  p.v_dim = desc.v_dim;

  const int32_t src = enum_value(desc.src_dtype);
  if (src != VKATTN_DTYPE_F32 && src != VKATTN_DTYPE_F16) {
    return invalid_argument("%s.src_dtype (%d) must be VKATTN_DTYPE_F32 or VKATTN_DTYPE_F16", kDesc, src);
  }
  p.src_dtype = static_cast<vkattn_dtype>(src);
  VKATTN_RETURN_IF_ERROR(cache_dtype("k_dtype", desc.k_dtype, p.src_dtype, p.qk_dim, "qk_dim", &p.k_dtype));
  VKATTN_RETURN_IF_ERROR(cache_dtype("v_dtype", desc.v_dtype, p.src_dtype, p.v_dim, "v_dim", &p.v_dtype));
  VKATTN_RETURN_IF_ERROR(make_rope(kDesc, desc.rope, p.qk_dim, "qk_dim", &p.rope));

  VKATTN_RETURN_IF_ERROR(check_pages(kDesc, desc.page_size, desc.num_pages, desc.max_pages, desc.kv_len));
  p.page_size = desc.page_size;
  p.num_pages = desc.num_pages;
  p.max_pages = desc.max_pages;

  VKATTN_RETURN_IF_ERROR(check_block_layout(kDesc, "k_layout", desc.k_layout, p.k_dtype));
  VKATTN_RETURN_IF_ERROR(check_block_layout(kDesc, "v_layout", desc.v_layout, p.v_dtype));
  VKATTN_RETURN_IF_ERROR(make_tensor_view(kDesc, "k_src_layout", desc.k_src_layout, p.batch, p.kv_heads,
                                          p.new_tokens, p.qk_dim, &p.k_src));
  VKATTN_RETURN_IF_ERROR(make_tensor_view(kDesc, "v_src_layout", desc.v_src_layout, p.batch, p.kv_heads,
                                          p.new_tokens, p.v_dim, &p.v_src));
  const int64_t outer = p.paged() ? p.num_pages : p.batch;
  const int64_t rows = p.paged() ? p.page_size : p.kv_len;
  VKATTN_RETURN_IF_ERROR(make_tensor_view(kDesc, "k_layout", desc.k_layout, outer, p.kv_heads, rows, p.qk_dim, &p.k));
  VKATTN_RETURN_IF_ERROR(make_tensor_view(kDesc, "v_layout", desc.v_layout, outer, p.kv_heads, rows, p.v_dim, &p.v));
  const struct {
    const char* name;
    uint64_t extent;
    uint64_t element;
  } byte_checks[] = {{"k_src_layout", p.k_src.extent, dtype_size(p.src_dtype)},
                     {"v_src_layout", p.v_src.extent, dtype_size(p.src_dtype)},
                     {"k_layout", p.k.extent, is_block_dtype(p.k_dtype) ? 2 : dtype_size(p.k_dtype)},
                     {"v_layout", p.v.extent, is_block_dtype(p.v_dtype) ? 2 : dtype_size(p.v_dtype)}};
  for (const auto& check : byte_checks) {
    uint64_t bytes = 0;
    if (!checked_mul(check.extent, check.element, &bytes)) {
      return invalid_argument("%s.%s addresses more than 2^64 bytes", kDesc, check.name);
    }
  }
  *out = std::move(p);
  return Status();
}

}  // namespace vkattn
