// Descriptor and binding validation: every bad field is rejected with
// INVALID_ARGUMENT and a message that names it.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <limits>
#include <vector>

#include "api_helpers.h"
#include "conformance.h"
#include "vkattn.h"

using namespace vkattn_test;

namespace {

// Tries to create a plan from `desc`; expects INVALID_ARGUMENT naming `field`.
void expect_rejected(vkattn_context context, const vkattn_attention_desc& desc, const char* field) {
  vkattn_plan plan = nullptr;
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &desc, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, field);
  CHECK(plan == nullptr);
  vkattn_plan_destroy(plan);
}

}  // namespace

TEST_CASE("plan creation rejects each invalid descriptor field by name") {
  CpuContext context;
  vkattn_attention_desc d;

  d = small_desc(); d.struct_size = sizeof(d) - 4; expect_rejected(context, d, "struct_size");
  d = small_desc(); d.struct_size = 0; expect_rejected(context, d, "struct_size");
  d = small_desc(); d.flags = 4; expect_rejected(context, d, "flags");
  d = small_desc(); d.batch = 0; expect_rejected(context, d, "batch");
  d = small_desc(); d.batch = -3; expect_rejected(context, d, "batch");
  d = small_desc(); d.q_heads = 0; expect_rejected(context, d, "q_heads");
  d = small_desc(); d.kv_heads = -1; expect_rejected(context, d, "kv_heads");
  d = small_desc(); d.q_len = 0; expect_rejected(context, d, "q_len");
  d = small_desc(); d.kv_len = -7; expect_rejected(context, d, "kv_len");
  d = small_desc(); d.qk_dim = 0; expect_rejected(context, d, "qk_dim");
  d = small_desc(); d.qk_dim = VKATTN_MAX_HEAD_DIM + 1; expect_rejected(context, d, "qk_dim");
  d = small_desc(); d.v_dim = -64; expect_rejected(context, d, "v_dim");
  d = small_desc(); d.q_len = int64_t{1} << 40; expect_rejected(context, d, "q_len");
  d = small_desc(); d.q_heads = 8; d.kv_heads = 3; expect_rejected(context, d, "kv_heads (3) must divide q_heads (8)");
  d = small_desc(); d.dtype = static_cast<vkattn_dtype>(9); expect_rejected(context, d, "dtype");
  d = small_desc(); d.scale = std::numeric_limits<float>::quiet_NaN(); expect_rejected(context, d, "scale");
  d = small_desc(); d.scale = std::numeric_limits<float>::infinity(); expect_rejected(context, d, "scale");
  d = small_desc(); d.causal = static_cast<vkattn_causal>(5); expect_rejected(context, d, "causal");
  d = small_desc(); d.window_left = -2; expect_rejected(context, d, "window_left");
  d = small_desc(); d.window_right = -9; expect_rejected(context, d, "window_right");
  d = small_desc(); d.has_additive_mask = 2; expect_rejected(context, d, "has_additive_mask");
  d = small_desc(); d.has_lse = 7; expect_rejected(context, d, "has_lse");
  d = small_desc(); d.softcap = -1.0f; expect_rejected(context, d, "softcap");
  d = small_desc(); d.global_keys = -2; expect_rejected(context, d, "global_keys");
  d = small_desc(); d.softcap = std::numeric_limits<float>::quiet_NaN(); expect_rejected(context, d, "softcap");
  d = small_desc(); d.softcap = std::numeric_limits<float>::infinity(); expect_rejected(context, d, "softcap");
  std::vector<float> heads(static_cast<size_t>(small_desc().q_heads), 0.25f);
  heads.back() = std::numeric_limits<float>::quiet_NaN();
  const std::string last = "[" + std::to_string(heads.size() - 1) + "]";
  d = small_desc(); d.alibi_slopes = heads.data(); expect_rejected(context, d, ("alibi_slopes" + last).c_str());
  heads.back() = -std::numeric_limits<float>::infinity();
  d = small_desc(); d.sinks = heads.data(); expect_rejected(context, d, ("sinks" + last).c_str());
  d = small_desc(); d.rope.style = static_cast<vkattn_rope_style>(3); expect_rejected(context, d, "rope.style");
  d = small_desc(); d.rope.style = VKATTN_ROPE_NEOX; d.rope.dims = 7; expect_rejected(context, d, "rope.dims");
  d = small_desc(); d.rope.style = VKATTN_ROPE_GPTJ; d.rope.dims = d.qk_dim + 2; expect_rejected(context, d, "rope.dims");
  d = small_desc(); d.rope.style = VKATTN_ROPE_NEOX; d.rope.dims = -2; expect_rejected(context, d, "rope.dims");
  d = small_desc(); d.rope.style = VKATTN_ROPE_NEOX; d.rope.theta = -1.0f; expect_rejected(context, d, "rope.theta");
  d = small_desc(); d.rope.style = VKATTN_ROPE_NEOX; d.rope.theta = std::numeric_limits<float>::infinity();
  expect_rejected(context, d, "rope.theta");
  d = small_desc(); d.qk_dim = 33; d.rope.style = VKATTN_ROPE_NEOX; expect_rejected(context, d, "rope.dims");
}

TEST_CASE("vkattn_alibi_slopes gives the ALiBi paper's slopes bit for bit, and checks its arguments") {
  // Powers of two: 2^(-8k/n) exactly.
  float eight[8];
  REQUIRE(vkattn_alibi_slopes(8, eight) == VKATTN_SUCCESS);
  for (int k = 0; k < 8; ++k) CHECK(eight[k] == std::ldexp(1.0f, -(k + 1)));
  // Six heads: the slopes of four (2^-2, 2^-4, 2^-6, 2^-8), then every
  // other slope of eight (2^-1, 2^-3).
  float six[6];
  REQUIRE(vkattn_alibi_slopes(6, six) == VKATTN_SUCCESS);
  const float expected_six[6] = {0.25f, 0.0625f, 0.015625f, 0.00390625f, 0.5f, 0.125f};
  for (int k = 0; k < 6; ++k) CHECK(six[k] == expected_six[k]);
  // Every head count up to 128 against the tests' own transcription of the
  // paper's reference code.
  for (int64_t n = 1; n <= 128; ++n) {
    CAPTURE(n);
    std::vector<float> slopes(static_cast<size_t>(n));
    REQUIRE(vkattn_alibi_slopes(n, slopes.data()) == VKATTN_SUCCESS);
    CHECK(slopes == paper_alibi_slopes(n));
  }
  float one;
  CHECK_STATUS_MENTIONS(vkattn_alibi_slopes(0, &one), VKATTN_ERROR_INVALID_ARGUMENT, "heads");
  CHECK_STATUS_MENTIONS(vkattn_alibi_slopes(4, nullptr), VKATTN_ERROR_INVALID_ARGUMENT, "slopes");
}

TEST_CASE("layouts that overlap, go negative or overflow are rejected by name") {
  CpuContext context;
  vkattn_attention_desc d;

  d = small_desc(); d.q_layout.seq_stride = -32; expect_rejected(context, d, "q_layout.seq_stride");
  d = small_desc(); d.k_layout.batch_stride = -1; expect_rejected(context, d, "k_layout.batch_stride");
  // Rows shorter than the head dimension share elements.
  d = small_desc(); d.q_layout.seq_stride = 16; expect_rejected(context, d, "q_layout overlaps itself");
  // Two heads at the same place.
  d = small_desc(); d.v_layout.head_stride = 0; expect_rejected(context, d, "v_layout overlaps itself");
  // The output may not overlap itself either.
  d = small_desc(); d.out_layout.batch_stride = 32; expect_rejected(context, d, "out_layout overlaps itself");
  d = small_desc(); d.has_lse = 1; d.lse_layout.seq_stride = 0; expect_rejected(context, d, "lse_layout overlaps itself");
  // Index products beyond 64 bits.
  d = small_desc();
  d.k_layout.batch_stride = std::numeric_limits<int64_t>::max();
  expect_rejected(context, d, "k_layout");
  d = small_desc(); d.q_layout.offset = UINT64_MAX - 10; expect_rejected(context, d, "q_layout.offset");
  d = small_desc();
  d.batch = (int64_t{1} << 31) - 1;
  d.q_layout.batch_stride = std::numeric_limits<int64_t>::max() / 2;
  expect_rejected(context, d, "q_layout: the view's index range overflows 64 bits");
  // Masks may broadcast (stride 0) but not run backwards.
  d = small_desc(); d.has_bool_mask = 1; d.bool_mask_layout.row_stride = -1;
  expect_rejected(context, d, "bool_mask_layout.row_stride");
  // Masks may broadcast, so stride 0 is fine.
  d = small_desc();
  d.has_additive_mask = 1;
  d.additive_mask_layout.batch_stride = 0;
  d.additive_mask_layout.head_stride = 0;
  vkattn_plan plan = nullptr;
  CHECK(vkattn_plan_create(context, &d, 0, &plan) == VKATTN_SUCCESS);
  vkattn_plan_destroy(plan);
}

TEST_CASE("plan creation checks its own arguments") {
  CpuContext context;
  vkattn_attention_desc d = small_desc();
  vkattn_plan plan = nullptr;
  CHECK_STATUS_MENTIONS(vkattn_plan_create(nullptr, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "context");
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, nullptr, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "desc");
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, nullptr), VKATTN_ERROR_INVALID_ARGUMENT, "out_plan");
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0x80u, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "flags");
  CHECK(plan == nullptr);
}

TEST_CASE("execution rejects missing, foreign, small or overlapping buffers by name") {
  CpuContext context;
  vkattn_attention_desc d = small_desc();
  d.has_lse = 1;
  vkattn_plan plan = nullptr;
  REQUIRE(vkattn_plan_create(context, &d, 0, &plan) == VKATTN_SUCCESS);
  const uint64_t q_bytes = 2 * 4 * 16 * 32 * 4;
  const uint64_t kv_bytes = 2 * 2 * 32 * 32 * 4;
  const uint64_t lse_bytes = 2 * 4 * 16 * 4;
  Buffer q(context, q_bytes), k(context, kv_bytes), v(context, kv_bytes), out(context, q_bytes),
      lse(context, lse_bytes), small(context, q_bytes - 4);
  vkattn_bindings b;
  auto reset = [&]() {
    vkattn_bindings_init(&b);
    b.q = q;
    b.k = k;
    b.v = v;
    b.out = out;
    b.lse = lse;
  };
  reset();
  CHECK(vkattn_plan_execute(plan, &b) == VKATTN_SUCCESS);

  reset(); b.struct_size = 8;
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "struct_size");
  reset(); b.v = nullptr;
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "vkattn_bindings.v is NULL");
  reset(); b.lse = nullptr;
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "lse");
  reset(); b.q = small;
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "vkattn_bindings.q holds");
  reset(); b.additive_mask = q;
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "has_additive_mask");
  int32_t lens[2] = {3, 4};
  reset(); b.kv_lens = lens;
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "has_kv_lens");
  reset(); b.out = q;
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "out overlaps");
  reset(); b.lse = k;
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "lse overlaps");
  reset(); b.k = reinterpret_cast<vkattn_buffer>(plan);
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "not a live vkattn_buffer");

  CpuContext other;
  Buffer foreign(other, kv_bytes);
  reset(); b.k = foreign;
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "another context");

  void* mapped = nullptr;
  REQUIRE(vkattn_buffer_map(v, &mapped) == VKATTN_SUCCESS);
  reset();
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &b), VKATTN_ERROR_FAILED_PRECONDITION, "mapped");
  REQUIRE(vkattn_buffer_unmap(v) == VKATTN_SUCCESS);
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, nullptr), VKATTN_ERROR_INVALID_ARGUMENT, "bindings");
  vkattn_plan_destroy(plan);
}

TEST_CASE("kv_lens values outside [0, kv_len] are rejected by index") {
  CpuContext context;
  vkattn_attention_desc d = small_desc();
  d.has_kv_lens = 1;
  vkattn_plan plan = nullptr;
  REQUIRE(vkattn_plan_create(context, &d, 0, &plan) == VKATTN_SUCCESS);
  const SmallBuffers buffers(context);
  vkattn_bindings b = buffers.bindings();
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "kv_lens is NULL");
  int32_t too_long[2] = {32, 33};
  b.kv_lens = too_long;
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "kv_lens[1] = 33");
  int32_t negative[2] = {-1, 3};
  b.kv_lens = negative;
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "kv_lens[0] = -1");
  int32_t fine[2] = {0, 32};
  b.kv_lens = fine;
  CHECK(vkattn_plan_execute(plan, &b) == VKATTN_SUCCESS);
  vkattn_plan_destroy(plan);
}

TEST_CASE("q_lens values outside [0, q_len] and q_lens without has_q_lens are rejected by name") {
  CpuContext context;
  vkattn_attention_desc d = small_desc();
  vkattn_plan plain = nullptr;
  REQUIRE(vkattn_plan_create(context, &d, 0, &plain) == VKATTN_SUCCESS);
  d.has_q_lens = 1;
  vkattn_plan plan = nullptr;
  REQUIRE(vkattn_plan_create(context, &d, 0, &plan) == VKATTN_SUCCESS);
  const SmallBuffers buffers(context);
  vkattn_bindings b = buffers.bindings();
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "q_lens is NULL");
  int32_t too_long[2] = {16, 17};
  b.q_lens = too_long;
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "q_lens[1] = 17");
  int32_t negative[2] = {-1, 3};
  b.q_lens = negative;
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "q_lens[0] = -1");
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plain, &b), VKATTN_ERROR_INVALID_ARGUMENT, "has_q_lens");
  int32_t fine[2] = {0, 16};
  b.q_lens = fine;
  CHECK(vkattn_plan_execute(plan, &b) == VKATTN_SUCCESS);
  d.has_q_lens = 2;
  expect_rejected(context, d, "has_q_lens");
  vkattn_plan_destroy(plan);
  vkattn_plan_destroy(plain);
}

TEST_CASE("packed queries: bad packed_q_rows and layouts are rejected by name at plan creation") {
  CpuContext context;
  vkattn_attention_desc d = small_desc();
  d.packed_q_rows = -1;
  expect_rejected(context, d, "packed_q_rows");
  d = small_desc();
  d.packed_q_rows = 40;
  expect_rejected(context, d, "q_layout.batch_stride must be 0");  // the dense layouts are padded ones
  d.q_layout = vkattn_layout_thd(d.q_heads, d.qk_dim);
  expect_rejected(context, d, "out_layout.batch_stride must be 0");
  d.out_layout = vkattn_layout_thd(d.q_heads, d.v_dim);
  d.has_q_lens = 1;
  expect_rejected(context, d, "has_q_lens must be 0 with packed_q_rows");
  d.has_q_lens = 0;
  d.has_lse = 1;
  expect_rejected(context, d, "lse_layout.batch_stride must be 0");
  d.lse_layout = vkattn_layout_thd(d.q_heads, 1);
  vkattn_plan plan = nullptr;
  CHECK(vkattn_plan_create(context, &d, 0, &plan) == VKATTN_SUCCESS);
  vkattn_plan_destroy(plan);
}

TEST_CASE("packed queries: cu_seqlens_q out of order or past packed_q_rows is rejected by name") {
  CpuContext context;
  vkattn_attention_desc d = small_desc();  // batch 2, q_len 16
  d.packed_q_rows = 24;
  d.q_layout = vkattn_layout_thd(d.q_heads, d.qk_dim);
  d.out_layout = vkattn_layout_thd(d.q_heads, d.v_dim);
  vkattn_plan plan = nullptr, plain = nullptr;
  REQUIRE(vkattn_plan_create(context, &d, 0, &plan) == VKATTN_SUCCESS);
  vkattn_attention_desc padded = small_desc();
  REQUIRE(vkattn_plan_create(context, &padded, 0, &plain) == VKATTN_SUCCESS);
  const SmallBuffers buffers(context);
  vkattn_bindings b = buffers.bindings();
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "cu_seqlens_q is NULL");
  int32_t negative[3] = {-1, 3, 5};
  b.cu_seqlens_q = negative;
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "cu_seqlens_q[0] = -1");
  int32_t decreasing[3] = {0, 8, 7};
  b.cu_seqlens_q = decreasing;
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT,
                        "cu_seqlens_q[2] - cu_seqlens_q[1] = -1");
  int32_t too_long[3] = {0, 17, 20};
  b.cu_seqlens_q = too_long;
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "= 17 (sequence 0's queries)");
  int32_t past_end[3] = {2, 12, 25};
  b.cu_seqlens_q = past_end;
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT,
                        "cu_seqlens_q[2] = 25 exceeds packed_q_rows (24)");
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plain, &b), VKATTN_ERROR_INVALID_ARGUMENT, "without packed_q_rows");
  int32_t fine[3] = {3, 3, 19};  // counts 0 and 16 = q_len
  b.cu_seqlens_q = fine;
  CHECK(vkattn_plan_execute(plan, &b) == VKATTN_SUCCESS);
  vkattn_plan_destroy(plan);
  vkattn_plan_destroy(plain);
}

TEST_CASE("paged K/V descriptors and block tables are validated by name") {
  CpuContext context;
  // Two sequences of up to 32 keys in pages of 8: 4 pages per sequence, a
  // pool of 6 pages [6, 8, 2, 32] (vLLM's layout).
  auto paged_desc = [] {
    vkattn_attention_desc d = small_desc();
    d.has_kv_lens = 1;
    d.page_size = 8;
    d.num_pages = 6;
    d.max_pages = 4;
    d.k_layout = d.v_layout = vkattn_layout_pages(d.kv_heads, 8, 32);
    return d;
  };
  vkattn_attention_desc d;
  d = paged_desc(); d.page_size = 257; expect_rejected(context, d, "page_size");
  d = paged_desc(); d.page_size = -1; expect_rejected(context, d, "page_size");
  d = paged_desc(); d.num_pages = 0; expect_rejected(context, d, "num_pages");
  d = paged_desc(); d.max_pages = 3; expect_rejected(context, d, "kv_len (32) exceeds max_pages x page_size");
  d = paged_desc(); d.has_kv_lens = 0; expect_rejected(context, d, "has_kv_lens");
  d = paged_desc(); d.page_size = 0; expect_rejected(context, d, "num_pages and max_pages must be 0");
  d = paged_desc(); d.k_layout.head_stride = 8; expect_rejected(context, d, "k_layout overlaps itself");

  d = paged_desc();
  vkattn_plan plan = nullptr;
  REQUIRE(vkattn_plan_create(context, &d, 0, &plan) == VKATTN_SUCCESS);
  // The pool needs 6 pages x 8 keys x 2 heads x 32 floats; Q and O are dense.
  Buffer q(context, 2 * 4 * 16 * 32 * 4), out(context, 2 * 4 * 16 * 32 * 4);
  Buffer pool(context, 6 * 8 * 2 * 32 * 4), short_pool(context, 6 * 8 * 2 * 32 * 4 - 4);
  std::vector<float> zeros(6 * 8 * 2 * 32, 0.0f);
  REQUIRE(vkattn_buffer_write(pool, 0, zeros.data(), zeros.size() * 4) == VKATTN_SUCCESS);
  vkattn_bindings bindings;
  vkattn_bindings_init(&bindings);
  bindings.q = q;
  bindings.k = pool;
  bindings.v = pool;
  bindings.out = out;
  const int32_t lens[2] = {20, 9};  // 3 pages, then 2
  bindings.kv_lens = lens;
  int32_t table[8] = {5, 0, 3, -1, 1, 2, 77, -9};  // unused entries may hold anything
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &bindings), VKATTN_ERROR_INVALID_ARGUMENT, "vkattn_bindings.block_table is NULL");
  bindings.block_table = table;
  bindings.k = short_pool;  // one float short of the pool
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &bindings), VKATTN_ERROR_INVALID_ARGUMENT, "vkattn_bindings.k");
  bindings.k = pool;
  CHECK(vkattn_plan_execute(plan, &bindings) == VKATTN_SUCCESS);
  table[5] = 6;  // batch 1, page 1: used (keys 8..15 of 9), outside the pool
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &bindings), VKATTN_ERROR_INVALID_ARGUMENT,
                        "vkattn_bindings.block_table[5] (batch 1, page 1) = 6");
  table[5] = -1;
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &bindings), VKATTN_ERROR_INVALID_ARGUMENT, "block_table[5]");
  vkattn_plan_destroy(plan);

  // A contiguous plan refuses a block table.
  d = small_desc();
  REQUIRE(vkattn_plan_create(context, &d, 0, &plan) == VKATTN_SUCCESS);
  Buffer k(context, 2 * 2 * 32 * 32 * 4);
  bindings.k = bindings.v = k;
  bindings.kv_lens = nullptr;
  bindings.block_table = table;
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &bindings), VKATTN_ERROR_INVALID_ARGUMENT, "no paged K/V");
  vkattn_plan_destroy(plan);
}
