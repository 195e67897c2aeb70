// libFuzzer target: descriptor and plan validation of the C API, then
// execution of every accepted plan on the CPU backend.
//
// The fuzzer builds a vkattn_attention_desc field by field from its input
// (sizes, strides, offsets, flags, struct_size, masks, windows, global keys,
// scale, soft-capping, ALiBi slopes, sinks, q8_0 / q4_0 K and V, linear
// attention with either feature map, Linformer with shared or per-head
// projections, block-sparse attention with shared or per-batch/head masks,
// top-k attention),
// mostly near the valid region so that plans get accepted and run. Checks:
//   - plan creation returns a defined status, and a message on failure;
//   - an accepted plan executes successfully with buffers sized exactly as
//     the header's layout rules say (computed here, independently of the
//     library), so any read or write past them is caught by ASan;
//   - kv_lens outside [0, kv_len], q_lens outside [0, q_len] and cu_seqlens_q
//     out of order or past packed_q_rows are refused at execution;
//   - with V = 0.5 everywhere and finite logits, every output element is 0.5
//     (a convex combination, softmax, top-k or linear; Linformer's F takes
//     key 0 alone, so V' = V) or 0 (a row that sees no key); with sinks,
//     anything in [0, 0.5] (the sink takes a share without a value).
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "vkattn.h"

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

vkattn_context cpu_context() {
  static vkattn_context context = [] {
    vkattn_context_options options;
    vkattn_context_options_init(&options);
    options.backend = VKATTN_BACKEND_CPU;
    options.cpu_threads = 1;
    vkattn_context created = nullptr;
    require(vkattn_context_create(&options, &created) == VKATTN_SUCCESS);
    return created;
  }();
  return context;
}

// Sizes mostly small (plans that run fast), sometimes anything.
int64_t pick_size(FuzzedDataProvider& in, int64_t small_max) {
  switch (in.ConsumeIntegralInRange<int>(0, 7)) {
    case 0: {
      static const int64_t kEdges[] = {-1, 0, 1, 255, 256, 257, 4096, 4097, int64_t{1} << 31, (int64_t{1} << 32) + 1,
                                       int64_t{1} << 62, std::numeric_limits<int64_t>::max(),
                                       std::numeric_limits<int64_t>::min()};
      return kEdges[in.ConsumeIntegralInRange<size_t>(0, sizeof(kEdges) / sizeof(kEdges[0]) - 1)];
    }
    case 1:
      return in.ConsumeIntegral<int64_t>();
    default:
      return in.ConsumeIntegralInRange<int64_t>(1, small_max);
  }
}

// A stride: the dense one, or the dense one plus a small gap, or anything.
int64_t pick_stride(FuzzedDataProvider& in, int64_t dense) {
  switch (in.ConsumeIntegralInRange<int>(0, 5)) {
    case 0: return in.ConsumeIntegral<int64_t>();
    case 1: return in.ConsumeIntegralInRange<int64_t>(-2, 2);
    case 2: return dense + in.ConsumeIntegralInRange<int64_t>(0, 8);
    default: return dense;
  }
}

void perturb(FuzzedDataProvider& in, vkattn_tensor_layout* layout) {
  if (!in.ConsumeBool()) return;
  layout->offset = in.ConsumeBool() ? in.ConsumeIntegralInRange<uint64_t>(0, 64) : in.ConsumeIntegral<uint64_t>();
  layout->batch_stride = pick_stride(in, layout->batch_stride);
  layout->head_stride = pick_stride(in, layout->head_stride);
  layout->seq_stride = pick_stride(in, layout->seq_stride);
}

void perturb(FuzzedDataProvider& in, vkattn_mask_layout* layout) {
  if (!in.ConsumeBool()) return;
  layout->offset = in.ConsumeIntegralInRange<uint64_t>(0, 64);
  layout->batch_stride = in.ConsumeBool() ? 0 : pick_stride(in, layout->batch_stride);
  layout->head_stride = in.ConsumeBool() ? 0 : pick_stride(in, layout->head_stride);
  layout->row_stride = in.ConsumeBool() ? 0 : pick_stride(in, layout->row_stride);
  layout->col_stride = pick_stride(in, layout->col_stride);
}

// Elements a layout addresses, by the header's rules (all strides of an
// accepted plan are >= 0); UINT64_MAX when it does not fit in 64 bits.
uint64_t span(uint64_t offset, std::initializer_list<std::pair<int64_t, int64_t>> axes, int64_t inner) {
  unsigned __int128 last = offset;
  for (const auto& [extent, stride] : axes) {
    require(stride >= 0);
    last += static_cast<unsigned __int128>(extent - 1) * static_cast<uint64_t>(stride);
  }
  last += static_cast<uint64_t>(inner);
  return last > std::numeric_limits<uint64_t>::max() ? std::numeric_limits<uint64_t>::max() : static_cast<uint64_t>(last);
}

struct OwnedBuffer {
  vkattn_buffer buffer = nullptr;
  ~OwnedBuffer() { vkattn_buffer_destroy(buffer); }
};

bool make_buffer(uint64_t bytes, OwnedBuffer* out, const std::vector<uint8_t>& fill) {
  if (vkattn_buffer_create(cpu_context(), bytes, 0, &out->buffer) != VKATTN_SUCCESS) return false;
  void* mapped = nullptr;
  require(vkattn_buffer_map(out->buffer, &mapped) == VKATTN_SUCCESS);
  auto* bytes_out = static_cast<uint8_t*>(mapped);
  for (uint64_t i = 0; i < bytes; ++i) bytes_out[i] = fill.empty() ? 0 : fill[i % fill.size()];
  require(vkattn_buffer_unmap(out->buffer) == VKATTN_SUCCESS);
  return true;
}

// One storage unit holding `value` (0.25 or 0.5): an element, or for the
// block types a whole block whose every value is 0.5 (scale 0.5, code 1;
// q4_0 code 9), which the fill repeats block by block.
std::vector<uint8_t> repeated_value(float value, vkattn_dtype dtype) {
  if (dtype == VKATTN_DTYPE_Q8_0) {
    std::vector<uint8_t> block(34, 1);
    block[0] = 0x00, block[1] = 0x38;
    return block;
  }
  if (dtype == VKATTN_DTYPE_Q4_0) {
    std::vector<uint8_t> block(18, 0x99);
    block[0] = 0x00, block[1] = 0x38;
    return block;
  }
  if (dtype == VKATTN_DTYPE_F16) {
    // 0.5 and 0.25 are exact in f16: sign 0, exponents 14 and 13.
    const uint16_t half = value == 0.5f ? 0x3800 : 0x3400;
    return {static_cast<uint8_t>(half & 0xff), static_cast<uint8_t>(half >> 8)};
  }
  std::vector<uint8_t> bytes(4);
  std::memcpy(bytes.data(), &value, 4);
  return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  vkattn_attention_desc desc;
  vkattn_attention_desc_init(&desc);
  desc.batch = pick_size(in, 3);
  desc.kv_heads = pick_size(in, 3);
  // A multiple of kv_heads (wrapping like the C caller's arithmetic would).
  desc.q_heads = in.ConsumeBool() ? static_cast<int64_t>(static_cast<uint64_t>(desc.kv_heads) *
                                                         in.ConsumeIntegralInRange<uint64_t>(1, 4))
                                  : pick_size(in, 8);
  desc.q_len = pick_size(in, 40);
  desc.kv_len = pick_size(in, 70);
  desc.qk_dim = pick_size(in, 72);
  desc.v_dim = in.ConsumeBool() ? desc.qk_dim : pick_size(in, 72);
  desc.dtype = static_cast<vkattn_dtype>(in.ConsumeIntegralInRange<int>(0, 2));
  desc.causal = static_cast<vkattn_causal>(in.ConsumeIntegralInRange<int>(0, 3));
  desc.scale = in.ConsumeBool() ? 0.0f : in.ConsumeFloatingPoint<float>();
  desc.window_left = in.ConsumeBool() ? -1 : in.ConsumeIntegralInRange<int64_t>(-3, 80);
  desc.window_right = in.ConsumeBool() ? -1 : in.ConsumeIntegralInRange<int64_t>(-3, 80);
  desc.global_keys = in.ConsumeBool() ? 0 : in.ConsumeIntegralInRange<int64_t>(-2, 80);
  // K/V storage: mostly as Q, sometimes a block type or something invalid.
  const vkattn_dtype kv_types[] = {static_cast<vkattn_dtype>(0), VKATTN_DTYPE_Q8_0, VKATTN_DTYPE_Q4_0,
                                   VKATTN_DTYPE_F16, static_cast<vkattn_dtype>(7)};  // 7: not a dtype, within the enum's range
  if (in.ConsumeIntegralInRange<int>(0, 3) == 0) desc.k_dtype = kv_types[in.ConsumeIntegralInRange<int>(0, 4)];
  if (in.ConsumeIntegralInRange<int>(0, 3) == 0) desc.v_dtype = kv_types[in.ConsumeIntegralInRange<int>(0, 4)];
  if (in.ConsumeIntegralInRange<int>(0, 3) == 0) {
    desc.softcap = in.ConsumeBool() ? in.ConsumeFloatingPointInRange<float>(0.5f, 50.0f) : in.ConsumeFloatingPoint<float>();
  }
  if (in.ConsumeIntegralInRange<int>(0, 3) == 0) {  // RoPE on Q: mostly valid, sometimes not
    desc.rope.style = static_cast<vkattn_rope_style>(in.ConsumeIntegralInRange<int>(0, 3));
    desc.rope.theta = in.ConsumeBool() ? 0.0f : in.ConsumeFloatingPoint<float>();
    desc.rope.dims = in.ConsumeBool() ? 0 : in.ConsumeIntegralInRange<int64_t>(-2, 80);
  }
  // Per-head arrays of q_heads floats (when q_heads is small enough to hold).
  std::vector<float> slopes, sinks;
  if (desc.q_heads > 0 && desc.q_heads <= 64) {
    if (in.ConsumeIntegralInRange<int>(0, 3) == 0) {
      for (int64_t h = 0; h < desc.q_heads; ++h) slopes.push_back(in.ConsumeFloatingPointInRange<float>(0.0f, 1.0f));
      desc.alibi_slopes = slopes.data();
    }
    if (in.ConsumeIntegralInRange<int>(0, 3) == 0) {
      for (int64_t h = 0; h < desc.q_heads; ++h) {
        sinks.push_back(in.ConsumeBool() ? in.ConsumeFloatingPointInRange<float>(-20.0f, 20.0f) : in.ConsumeFloatingPoint<float>());
      }
      desc.sinks = sinks.data();
    }
  }
  // Linear attention: sometimes, with either feature map (FAVOR+ with a
  // small W), or invalid modes, maps and feature counts.
  std::vector<float> features;
  // (The mode as an int: a value outside the enum is never loaded as one.)
  int mode = VKATTN_MODE_EXACT;
  if (in.ConsumeIntegralInRange<int>(0, 4) == 0) {
    mode = in.ConsumeIntegralInRange<int>(0, 5);
    desc.mode = static_cast<vkattn_attention_mode>(mode);
    desc.linear.feature_map = static_cast<vkattn_feature_map>(in.ConsumeIntegralInRange<int>(0, 3));
    if (desc.linear.feature_map == VKATTN_FEATURE_MAP_FAVOR && desc.qk_dim > 0 && desc.qk_dim <= 256) {
      desc.linear.num_features = in.ConsumeIntegralInRange<int64_t>(-1, 48);
      if (desc.linear.num_features > 0 && in.ConsumeIntegralInRange<int>(0, 7) != 0) {
        features.resize(static_cast<size_t>(desc.linear.num_features * desc.qk_dim));
        for (float& w : features) w = in.ConsumeFloatingPointInRange<float>(-2.0f, 2.0f);
        desc.linear.features = features.data();
      }
    }
  }
  // Linformer: when the mode is, a small E from the input and F = key 0
  // alone (every row [1, 0, ...]: V' = V where a sequence has a key), or
  // invalid lengths, flags and missing matrices.
  std::vector<float> proj_e, proj_f;
  if (mode == VKATTN_MODE_LINFORMER) {
    desc.linformer.proj_len = in.ConsumeIntegralInRange<int64_t>(-1, 40);
    desc.linformer.per_head = in.ConsumeIntegralInRange<uint32_t>(0, 8) == 8 ? 2u : in.ConsumeIntegralInRange<uint32_t>(0, 1);
    const int64_t matrices = desc.linformer.per_head == 1 ? desc.kv_heads : 1;
    if (desc.linformer.proj_len > 0 && desc.kv_len > 0 && matrices > 0 &&
        double(desc.linformer.proj_len) * double(desc.kv_len) * double(matrices) <= double(1 << 16) &&
        in.ConsumeIntegralInRange<int>(0, 7) != 0) {
      proj_e.resize(static_cast<size_t>(desc.linformer.proj_len * desc.kv_len * matrices));
      proj_f.assign(proj_e.size(), 0.0f);
      for (float& x : proj_e) x = in.ConsumeFloatingPointInRange<float>(-2.0f, 2.0f);
      for (size_t row = 0; row < proj_f.size(); row += static_cast<size_t>(desc.kv_len)) proj_f[row] = 1.0f;
      desc.linformer.e = proj_e.data();
      desc.linformer.f = proj_f.data();
    }
  }
  // Block-sparse: when the mode is, block sizes (sometimes invalid), a
  // shared or per-batch / per-head mask of random blocks from the input.
  std::vector<uint8_t> block_mask;
  if (mode == VKATTN_MODE_BLOCK_SPARSE) {
    const int64_t sizes[] = {16, 32, 64, 128, 8, 0};
    desc.block_sparse.block_q = sizes[in.ConsumeIntegralInRange<int>(0, 5)];
    desc.block_sparse.block_k = sizes[in.ConsumeIntegralInRange<int>(0, 5)];
    desc.block_sparse.mask_batch = in.ConsumeBool() ? 1 : desc.batch;
    desc.block_sparse.mask_heads = in.ConsumeBool() ? 1 : desc.q_heads;
    if (desc.block_sparse.block_q > 0 && desc.block_sparse.block_k > 0 && desc.q_len > 0 && desc.kv_len > 0 &&
        desc.block_sparse.mask_batch > 0 && desc.block_sparse.mask_heads > 0) {
      auto blocks = [](int64_t n, int64_t size) { return n / size + (n % size != 0 ? 1 : 0); };  // no overflow
      const int64_t q_blocks = blocks(desc.q_len, desc.block_sparse.block_q);
      const int64_t k_blocks = blocks(desc.kv_len, desc.block_sparse.block_k);
      const double entries = double(desc.block_sparse.mask_batch) * double(desc.block_sparse.mask_heads) *
                             double(q_blocks) * double(k_blocks);
      if (entries <= double(1 << 16) && in.ConsumeIntegralInRange<int>(0, 7) != 0) {
        block_mask.resize(static_cast<size_t>(entries));
        for (uint8_t& x : block_mask) x = in.ConsumeIntegral<uint8_t>() & 1;
        desc.block_sparse.mask = block_mask.data();
      }
    }
  }
  // Top-k: when the mode is, k in range or just outside it.
  if (mode == VKATTN_MODE_TOPK) desc.topk.k = in.ConsumeIntegralInRange<int64_t>(-1, VKATTN_MAX_TOPK + 1);
  desc.has_additive_mask = in.ConsumeIntegralInRange<uint32_t>(0, 2) == 2;
  desc.has_bool_mask = in.ConsumeIntegralInRange<uint32_t>(0, 2) == 2;
  desc.has_kv_lens = in.ConsumeBool();
  desc.has_q_lens = in.ConsumeIntegralInRange<uint32_t>(0, 4) == 4 ? in.ConsumeIntegralInRange<uint32_t>(1, 2) : 0;
  desc.has_lse = in.ConsumeBool();
  const bool small = desc.batch > 0 && desc.batch < 1000 && desc.q_heads > 0 && desc.q_heads < 1000 &&
                     desc.kv_heads > 0 && desc.kv_heads < 1000 && desc.q_len > 0 && desc.q_len < 100000 &&
                     desc.kv_len > 0 && desc.kv_len < 100000 && desc.qk_dim > 0 && desc.qk_dim < 10000 &&
                     desc.v_dim > 0 && desc.v_dim < 10000;
  if (small) vkattn_attention_desc_set_dense_layouts(&desc);
  if (in.ConsumeIntegralInRange<int>(0, 4) == 4) {  // packed queries: [T, heads, dim] Q, O and LSE
    desc.packed_q_rows = in.ConsumeIntegralInRange<int64_t>(-1, small ? 3 * desc.q_len + 2 : 1 << 20);
  }
  if (small && desc.packed_q_rows != 0) {
    desc.q_layout = vkattn_layout_thd(desc.q_heads, desc.qk_dim);
    desc.out_layout = vkattn_layout_thd(desc.q_heads, desc.v_dim);
    desc.lse_layout = vkattn_layout_thd(desc.q_heads, 1);
  }
  perturb(in, &desc.q_layout);
  perturb(in, &desc.k_layout);
  perturb(in, &desc.v_layout);
  perturb(in, &desc.out_layout);
  perturb(in, &desc.lse_layout);
  perturb(in, &desc.additive_mask_layout);
  perturb(in, &desc.bool_mask_layout);
  if (in.ConsumeIntegralInRange<int>(0, 15) == 0) desc.flags = in.ConsumeIntegral<uint32_t>();
  if (in.ConsumeIntegralInRange<int>(0, 15) == 0) desc.struct_size = in.ConsumeIntegralInRange<size_t>(0, 1024);
  const uint32_t plan_flags = in.ConsumeIntegralInRange<int>(0, 15) == 0 ? in.ConsumeIntegral<uint32_t>() : 0;

  vkattn_plan plan = nullptr;
  const vkattn_status created = vkattn_plan_create(cpu_context(), &desc, plan_flags, &plan);
  if (created != VKATTN_SUCCESS) {
    require(created == VKATTN_ERROR_INVALID_ARGUMENT || created == VKATTN_ERROR_UNSUPPORTED ||
            created == VKATTN_ERROR_OUT_OF_HOST_MEMORY);
    require(plan == nullptr);
    require(vkattn_last_error()[0] != '\0');
    return 0;
  }
  require(plan != nullptr);

  // Execute it if it is small enough to be quick.
  const int64_t b = desc.batch, hq = desc.q_heads, hkv = desc.kv_heads, sq = desc.q_len, skv = desc.kv_len;
  const uint64_t item = desc.dtype == VKATTN_DTYPE_F16 ? 2 : 4;
  // Bytes of `elements` values of K or V's storage (an accepted block-typed
  // layout addresses whole blocks: a multiple of 32 values).
  const vkattn_dtype k_type = desc.k_dtype == 0 ? desc.dtype : desc.k_dtype;
  const vkattn_dtype v_type = desc.v_dtype == 0 ? desc.dtype : desc.v_dtype;
  auto storage_bytes = [&](vkattn_dtype type, uint64_t elements) -> uint64_t {
    if (type == VKATTN_DTYPE_Q8_0 || type == VKATTN_DTYPE_Q4_0) {
      require(elements % 32 == 0);
      return elements / 32 * (type == VKATTN_DTYPE_Q8_0 ? 34 : 18);
    }
    return elements * item;
  };
  const vkattn_tensor_layout& ql = desc.q_layout;
  const vkattn_tensor_layout& kl = desc.k_layout;
  const vkattn_tensor_layout& vl = desc.v_layout;
  const vkattn_tensor_layout& ol = desc.out_layout;
  const vkattn_tensor_layout& ll = desc.lse_layout;
  const vkattn_mask_layout& am = desc.additive_mask_layout;
  const vkattn_mask_layout& bm = desc.bool_mask_layout;
  // Q, O and LSE rows: [b, sq], or [1, packed_q_rows] with packed queries.
  const bool packed = desc.packed_q_rows > 0;
  const int64_t q_batches = packed ? 1 : b, q_rows = packed ? desc.packed_q_rows : sq;
  const uint64_t q_elems =
      span(ql.offset, {{q_batches, ql.batch_stride}, {hq, ql.head_stride}, {q_rows, ql.seq_stride}}, desc.qk_dim);
  const uint64_t k_elems = span(kl.offset, {{b, kl.batch_stride}, {hkv, kl.head_stride}, {skv, kl.seq_stride}}, desc.qk_dim);
  const uint64_t v_elems = span(vl.offset, {{b, vl.batch_stride}, {hkv, vl.head_stride}, {skv, vl.seq_stride}}, desc.v_dim);
  const uint64_t o_elems =
      span(ol.offset, {{q_batches, ol.batch_stride}, {hq, ol.head_stride}, {q_rows, ol.seq_stride}}, desc.v_dim);
  // Layouts of optional tensors are only checked (and only meaningful) when used.
  const uint64_t l_elems =
      desc.has_lse ? span(ll.offset, {{q_batches, ll.batch_stride}, {hq, ll.head_stride}, {q_rows, ll.seq_stride}}, 1)
                   : 0;
  const uint64_t am_elems =
      desc.has_additive_mask
          ? span(am.offset, {{b, am.batch_stride}, {hq, am.head_stride}, {sq, am.row_stride}, {skv, am.col_stride}}, 1)
          : 0;
  const uint64_t bm_elems =
      desc.has_bool_mask
          ? span(bm.offset, {{b, bm.batch_stride}, {hq, bm.head_stride}, {sq, bm.row_stride}, {skv, bm.col_stride}}, 1)
          : 0;
  constexpr uint64_t kMaxElements = uint64_t{1} << 21;
  const bool linformer = mode == VKATTN_MODE_LINFORMER;
  const double keys_seen = linformer ? double(desc.linformer.proj_len) : double(skv);
  const double work = (double(b) * hq * sq * keys_seen +
                       (linformer ? double(b) * hkv * skv * double(desc.linformer.proj_len) : 0.0)) *
                      double(desc.qk_dim + desc.v_dim);
  const bool runnable = work < 2e7 && q_elems < kMaxElements && k_elems < kMaxElements && v_elems < kMaxElements &&
                        o_elems < kMaxElements && l_elems < kMaxElements && am_elems < kMaxElements &&
                        bm_elems < kMaxElements;
  if (!runnable) {
    require(vkattn_plan_destroy(plan) == VKATTN_SUCCESS);
    return 0;
  }
  // Q and K 0.25, V 0.5; masks from the input (finite additive values or -inf).
  std::vector<uint8_t> additive, boolean;
  for (int i = 0; i < 16; ++i) {
    const float value = in.ConsumeBool() ? -INFINITY : in.ConsumeFloatingPointInRange<float>(-1e4f, 1e4f);
    additive.insert(additive.end(), reinterpret_cast<const uint8_t*>(&value), reinterpret_cast<const uint8_t*>(&value) + 4);
    boolean.push_back(in.ConsumeIntegral<uint8_t>() & 1);
  }
  OwnedBuffer q, k, v, out, lse, amask, bmask;
  require(make_buffer(q_elems * item, &q, repeated_value(0.25f, desc.dtype)));
  require(make_buffer(storage_bytes(k_type, k_elems), &k, repeated_value(0.25f, k_type)));
  require(make_buffer(storage_bytes(v_type, v_elems), &v, repeated_value(0.5f, v_type)));
  require(make_buffer(o_elems * item, &out, {}));
  vkattn_bindings bindings;
  vkattn_bindings_init(&bindings);
  bindings.q = q.buffer;
  bindings.k = k.buffer;
  bindings.v = v.buffer;
  bindings.out = out.buffer;
  if (desc.has_lse) require(make_buffer(l_elems * 4, &lse, {})), bindings.lse = lse.buffer;
  if (desc.has_additive_mask) require(make_buffer(am_elems * 4, &amask, additive)), bindings.additive_mask = amask.buffer;
  if (desc.has_bool_mask) require(make_buffer(bm_elems, &bmask, boolean)), bindings.bool_mask = bmask.buffer;
  std::vector<int32_t> kv_lens(static_cast<size_t>(b));
  bool lens_valid = true;
  for (int32_t& len : kv_lens) {
    len = static_cast<int32_t>(in.ConsumeIntegralInRange<int64_t>(-1, skv + 1));
    lens_valid = lens_valid && len >= 0 && len <= skv;
  }
  if (desc.has_kv_lens) bindings.kv_lens = kv_lens.data();
  std::vector<int32_t> q_lens(static_cast<size_t>(b));  // ragged: rows past a count stay as filled
  bool q_lens_valid = true;
  for (int32_t& len : q_lens) {
    len = static_cast<int32_t>(in.ConsumeIntegralInRange<int64_t>(-1, sq + 1));
    q_lens_valid = q_lens_valid && len >= 0 && len <= sq;
  }
  if (desc.has_q_lens) bindings.q_lens = q_lens.data();
  std::vector<int32_t> cu_seqlens_q(1, static_cast<int32_t>(in.ConsumeIntegralInRange<int64_t>(-1, 2)));
  bool cu_valid = cu_seqlens_q[0] >= 0;
  for (int64_t s = 0; s < b; ++s) {
    const int64_t count = in.ConsumeIntegralInRange<int64_t>(-1, sq + 1);
    cu_valid = cu_valid && count >= 0 && count <= sq;
    cu_seqlens_q.push_back(static_cast<int32_t>(cu_seqlens_q.back() + count));
  }
  cu_valid = cu_valid && cu_seqlens_q.back() <= desc.packed_q_rows;
  if (packed) bindings.cu_seqlens_q = cu_seqlens_q.data();
  const vkattn_status executed = vkattn_plan_execute(plan, &bindings);
  if ((desc.has_kv_lens && !lens_valid) || (desc.has_q_lens && !q_lens_valid) || (packed && !cu_valid)) {
    require(executed == VKATTN_ERROR_INVALID_ARGUMENT);
  } else {
    require(executed == VKATTN_SUCCESS);
    // Logits stay finite when |scale| * |q.k| + |mask| is far from overflow.
    const float scale = desc.scale == 0.0f ? 1.0f / std::sqrt(float(desc.qk_dim)) : desc.scale;
    // (Linformer's keys are sums of up to skv keys times E's |values| <= 2.)
    const bool finite_logits =
        std::fabs(double(scale)) * 0.0625 * double(desc.qk_dim) * (linformer ? 2.0 * double(skv) : 1.0) < 1e30;
    if (finite_logits) {
      void* mapped = nullptr;
      require(vkattn_buffer_map(out.buffer, &mapped) == VKATTN_SUCCESS);
      for (int64_t bi = 0; bi < q_batches; ++bi)
        for (int64_t h = 0; h < hq; ++h)
          for (int64_t s = 0; s < q_rows; ++s)
            for (int64_t c = 0; c < desc.v_dim; ++c) {
              const uint64_t at = ol.offset + bi * ol.batch_stride + h * ol.head_stride + s * ol.seq_stride + c;
              float value;
              if (desc.dtype == VKATTN_DTYPE_F16) {
                uint16_t half;
                std::memcpy(&half, static_cast<uint8_t*>(mapped) + at * 2, 2);
                const int exponent = (half >> 10) & 0x1f, mantissa = half & 0x3ff;
                value = exponent == 0x1f ? NAN
                        : exponent == 0  ? std::ldexp(float(mantissa), -24)
                                         : std::ldexp(1.0f + float(mantissa) / 1024.0f, exponent - 15);
                if (half & 0x8000) value = -value;
              } else {
                std::memcpy(&value, static_cast<uint8_t*>(mapped) + at * 4, 4);
              }
              if (desc.sinks != nullptr) {
                require(value >= 0.0f && value <= 0.5f + 1e-5f);
              } else {
                require(value == 0.0f || std::fabs(value - 0.5f) < 1e-5f);
              }
            }
      require(vkattn_buffer_unmap(out.buffer) == VKATTN_SUCCESS);
    }
  }
  require(vkattn_plan_destroy(plan) == VKATTN_SUCCESS);
  return 0;
}
