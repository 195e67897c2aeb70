// Appending to a K/V cache (vkattn_append_plan_create, vkattn_append_execute)
// on the CPU backend, through the public API: every cache type, RoPE,
// strided sources, odd offsets, paged caches, attention over what was
// appended, and the validation of descriptors and bindings. Every cache is
// read back whole and compared with the float64 append reference
// (tests/support/append_check.h): the written rows value by value (bitwise
// without RoPE) and every other byte against its initial fill.
#include <doctest/doctest.h>

#include <cstring>
#include <utility>
#include <limits>
#include <string>
#include <vector>

#include "api_helpers.h"
#include "append_check.h"
#include "batch_check.h"
#include "vkattn.h"

using namespace vkattn_test;

namespace {

const char* type_name(vkattn_dtype dtype) {
  switch (dtype) {
    case VKATTN_DTYPE_F32: return "f32";
    case VKATTN_DTYPE_F16: return "f16";
    case VKATTN_DTYPE_Q8_0: return "q8_0";
    case VKATTN_DTYPE_Q4_0: return "q4_0";
  }
  return "default";
}

#define CHECK_APPEND(check_expr)                                  \
  do {                                                            \
    const CacheCheck check_ = (check_expr);                       \
    CHECK_MESSAGE(check_.failure.empty(), check_.failure);        \
    CHECK(check_.values > 0);                                     \
    CHECK(check_.untouched_bytes > 0);                            \
  } while (0)

// A small valid append problem and buffers for the validation tests.
struct ValidationSetup {
  CpuContext context;
  vkattn_append_desc desc = dense_append_desc(2, 2, 3, 8, 32, 32, VKATTN_DTYPE_F32, VKATTN_DTYPE_F32, VKATTN_DTYPE_F32);
  Buffer k_src{context, 2 * 2 * 3 * 32 * 4}, v_src{context, 2 * 2 * 3 * 32 * 4};
  Buffer k_cache{context, 2 * 2 * 8 * 32 * 4}, v_cache{context, 2 * 2 * 8 * 32 * 4};
  int32_t positions[2] = {0, 5};
  vkattn_append_bindings bindings() const {
    vkattn_append_bindings b;
    vkattn_append_bindings_init(&b);
    b.k_src = k_src;
    b.v_src = v_src;
    b.k_cache = k_cache;
    b.v_cache = v_cache;
    b.positions = positions;
    return b;
  }
};

}  // namespace

TEST_CASE("append copies f32 keys and values into f32 caches bit for bit and leaves every other byte alone") {
  CpuContext context;
  const vkattn_append_desc desc =
      dense_append_desc(2, 3, 5, 16, 40, 24, VKATTN_DTYPE_F32, VKATTN_DTYPE_F32, VKATTN_DTYPE_F32);
  CHECK_APPEND(append_and_check(context, make_append_data(desc, {3, 11}, 1), AppendExactness::kHost));
  // The last slots of the cache, and the very first.
  CHECK_APPEND(append_and_check(context, make_append_data(desc, {0, 11}, 2, 1e30), AppendExactness::kHost));
}

TEST_CASE("append converts to every cache type exactly as vkattn_quantize and round-to-nearest-even f16 do") {
  CpuContext context;
  const vkattn_dtype f32 = VKATTN_DTYPE_F32, f16 = VKATTN_DTYPE_F16, q8 = VKATTN_DTYPE_Q8_0, q4 = VKATTN_DTYPE_Q4_0;
  const struct {
    vkattn_dtype src, k, v;
  } types[] = {{f32, f16, f16}, {f16, f16, f16}, {f16, f32, f32}, {f32, q8, q8}, {f32, q4, q4},
               {f16, q8, q8},  {f16, q4, q4},  {f32, q8, q4},  {f32, f16, q8}, {f16, q4, f32}};
  // Unit values, f16 subnormals, and values near f16's largest.
  const double magnitudes[] = {1.0, 3e-5, 6e4};
  uint64_t seed = 10;
  for (const auto& t : types) {
    for (double magnitude : magnitudes) {
      CAPTURE(type_name(t.src));
      CAPTURE(type_name(t.k));
      CAPTURE(type_name(t.v));
      CAPTURE(magnitude);
      const vkattn_append_desc desc = dense_append_desc(2, 3, 5, 16, 64, 32, t.src, t.k, t.v);
      CHECK_APPEND(append_and_check(context, make_append_data(desc, {3, 11}, ++seed, magnitude), AppendExactness::kHost));
    }
    // Values on the rounding boundaries of each conversion.
    const vkattn_append_desc desc = dense_append_desc(2, 3, 5, 16, 64, 32, t.src, t.k, t.v);
    AppendData data = make_append_data(desc, {3, 11}, ++seed);
    plant_rounding_ties(&data, CacheKind::kKeys);
    plant_rounding_ties(&data, CacheKind::kValues);
    CHECK_APPEND(append_and_check(context, data, AppendExactness::kHost));
  }
  // k_dtype and v_dtype 0: the source type.
  const vkattn_append_desc desc = dense_append_desc(1, 2, 4, 8, 32, 32, f16, static_cast<vkattn_dtype>(0),
                                             static_cast<vkattn_dtype>(0));
  CHECK_APPEND(append_and_check(context, make_append_data(desc, {2}, 3), AppendExactness::kHost));
}

TEST_CASE("append turns keys with NEOX and GPTJ RoPE at their cache positions and leaves values unturned") {
  CpuContext context;
  const vkattn_dtype types[] = {VKATTN_DTYPE_F32, VKATTN_DTYPE_F16, VKATTN_DTYPE_Q8_0, VKATTN_DTYPE_Q4_0};
  const struct {
    int64_t dims;
    float theta;
  } ropes[] = {{0, 0.0f}, {32, 500000.0f}, {2, 10.0f}};
  uint64_t seed = 100;
  for (vkattn_rope_style style : {VKATTN_ROPE_NEOX, VKATTN_ROPE_GPTJ}) {
    for (vkattn_dtype type : types) {
      for (const auto& r : ropes) {
        CAPTURE(style);
        CAPTURE(type_name(type));
        CAPTURE(r.dims);
        CAPTURE(r.theta);
        vkattn_append_desc desc = dense_append_desc(2, 2, 6, 12, 64, 32, VKATTN_DTYPE_F32, type, type);
        desc.rope.style = style;
        desc.rope.dims = r.dims;
        desc.rope.theta = r.theta;
        CHECK_APPEND(append_and_check(context, make_append_data(desc, {0, 5}, ++seed), AppendExactness::kHost));
      }
    }
  }
}

TEST_CASE("append turns keys at large positions with f32 accuracy") {
  // Positions near 30000 in a paged cache (only the pages written exist;
  // the other block-table entries are never read).
  CpuContext context;
  for (vkattn_rope_style style : {VKATTN_ROPE_NEOX, VKATTN_ROPE_GPTJ}) {
    for (vkattn_dtype type : {VKATTN_DTYPE_F32, VKATTN_DTYPE_F16, VKATTN_DTYPE_Q8_0}) {
      CAPTURE(style);
      CAPTURE(type_name(type));
      vkattn_append_desc desc = dense_append_desc(2, 2, 5, 30016, 64, 32, VKATTN_DTYPE_F32, type, type);
      desc.page_size = 16;
      desc.max_pages = 30016 / 16;
      desc.num_pages = 5;
      desc.k_layout = vkattn_layout_pages(2, 16, 64);
      desc.v_layout = vkattn_layout_pages(2, 16, 32);
      desc.rope.style = style;
      AppendData data = make_append_data(desc, {29998, 12345}, 7);
      data.block_table.assign(static_cast<size_t>(2 * desc.max_pages), -1);
      data.block_table[29998 / 16] = 3;
      data.block_table[29998 / 16 + 1] = 0;
      data.block_table[static_cast<size_t>(desc.max_pages) + 12345 / 16] = 4;
      CHECK_APPEND(append_and_check(context, data, AppendExactness::kHost));
    }
  }
}

TEST_CASE("append turns keys at positions near 10^9 with f32 accuracy") {
  // Far beyond 2^24, where an f32 position or angle has no fractional bits
  // left: pages of 256, one written page in a table of millions.
  CpuContext context;
  for (vkattn_rope_style style : {VKATTN_ROPE_NEOX, VKATTN_ROPE_GPTJ}) {
    CAPTURE(style);
    const int32_t position = 1000000007;
    vkattn_append_desc desc = dense_append_desc(1, 2, 3, int64_t{position} + 8, 64, 32, VKATTN_DTYPE_F32,
                                         VKATTN_DTYPE_F32, VKATTN_DTYPE_F16);
    desc.page_size = 256;
    desc.max_pages = (desc.kv_len + 255) / 256;
    desc.num_pages = 2;
    desc.k_layout = vkattn_layout_pages(2, 256, 64);
    desc.v_layout = vkattn_layout_pages(2, 256, 32);
    desc.rope.style = style;
    AppendData data = make_append_data(desc, {position}, 8);
    data.block_table.assign(static_cast<size_t>(desc.max_pages), -1);
    data.block_table[position / 256] = 1;
    CHECK_APPEND(append_and_check(context, data, AppendExactness::kHost));
  }
}

TEST_CASE("append writes f16 caches with odd head dimensions at odd offsets and strides") {
  // Rows start at odd f16 indices (mid-word) and end mid-word; the halves
  // beside them must keep their fill.
  CpuContext context;
  for (vkattn_dtype src : {VKATTN_DTYPE_F32, VKATTN_DTYPE_F16}) {
    for (int64_t rope_dims : {0, 36, 20}) {
      CAPTURE(type_name(src));
      CAPTURE(rope_dims);
      vkattn_append_desc desc = dense_append_desc(2, 3, 4, 9, 37, 5, src, VKATTN_DTYPE_F16, VKATTN_DTYPE_F16);
      desc.k_layout.offset = 3;
      desc.k_layout.seq_stride = 39;
      desc.k_layout.head_stride = 39 * 9 + 1;
      desc.k_layout.batch_stride = (39 * 9 + 1) * 3 + 2;
      desc.v_layout.offset = 1;  // dense rows of 5: every other row starts mid-word
      if (rope_dims != 0) {
        desc.rope.style = rope_dims == 36 ? VKATTN_ROPE_NEOX : VKATTN_ROPE_GPTJ;
        desc.rope.dims = rope_dims;
      }
      CHECK_APPEND(append_and_check(context, make_append_data(desc, {0, 5}, 20 + rope_dims), AppendExactness::kHost));
      // Buffers exactly the size of their views.
      AppendBufferOptions exact;
      exact.guard_bytes = 0;
      CHECK_APPEND(append_and_check(context, make_append_data(desc, {2, 3}, 21 + rope_dims), AppendExactness::kHost, exact));
    }
  }
  // f32 caches with odd sizes too.
  vkattn_append_desc desc = dense_append_desc(1, 2, 3, 7, 37, 5, VKATTN_DTYPE_F32, VKATTN_DTYPE_F32, VKATTN_DTYPE_F32);
  desc.k_layout.offset = 1;
  CHECK_APPEND(append_and_check(context, make_append_data(desc, {4}, 30), AppendExactness::kHost));
}

TEST_CASE("append reads strided BSHD and padded sources and writes BSHD caches") {
  CpuContext context;
  for (vkattn_dtype type : {VKATTN_DTYPE_F32, VKATTN_DTYPE_F16, VKATTN_DTYPE_Q8_0}) {
    CAPTURE(type_name(type));
    vkattn_append_desc desc = dense_append_desc(2, 3, 5, 16, 64, 32, VKATTN_DTYPE_F32, type, type);
    desc.k_src_layout = vkattn_layout_bshd(3, 5, 64);
    desc.v_src_layout.offset = 7;
    desc.v_src_layout.seq_stride = 40;
    desc.v_src_layout.head_stride = 5 * 40 + 3;
    desc.v_src_layout.batch_stride = 3 * (5 * 40 + 3) + 11;
    desc.k_layout = vkattn_layout_bshd(3, 16, 64);
    desc.v_layout = vkattn_layout_bshd(3, 16, 32);
    desc.rope.style = VKATTN_ROPE_NEOX;
    CHECK_APPEND(append_and_check(context, make_append_data(desc, {1, 9}, 40), AppendExactness::kHost));
  }
  // Packed QKV sources: one buffer [batch, tokens, 1 + 2 + 2 heads, dim], K
  // and V heads interleaved with the (unused) query head.
  vkattn_append_desc desc = dense_append_desc(2, 2, 4, 8, 32, 32, VKATTN_DTYPE_F16, VKATTN_DTYPE_F16, VKATTN_DTYPE_F16);
  const vkattn_tensor_layout packed = vkattn_layout_bshd(5, 4, 32);
  desc.k_src_layout = packed;
  desc.k_src_layout.offset = 32;
  desc.v_src_layout = packed;
  desc.v_src_layout.offset = 3 * 32;
  AppendBufferOptions shared;
  shared.shared_sources = true;
  CHECK_APPEND(append_and_check(context, make_append_data(desc, {0, 4}, 41), AppendExactness::kHost, shared));
}

TEST_CASE("append writes K and V caches that share one buffer") {
  // V's view starts where K's ends, at an odd f16 index and at a block
  // boundary 2 bytes into a word.
  CpuContext context;
  AppendBufferOptions shared;
  shared.shared_caches = true;
  vkattn_append_desc desc = dense_append_desc(1, 3, 3, 7, 37, 5, VKATTN_DTYPE_F32, VKATTN_DTYPE_F16, VKATTN_DTYPE_F16);
  desc.v_layout.offset = 3 * 7 * 37;  // K's extent, odd: K's last value and V's first share a word
  CHECK_APPEND(append_and_check(context, make_append_data(desc, {4}, 50), AppendExactness::kHost, shared));
  desc = dense_append_desc(2, 2, 3, 6, 32, 64, VKATTN_DTYPE_F32, VKATTN_DTYPE_Q8_0, VKATTN_DTYPE_Q4_0);
  desc.v_layout.offset = 47 * 32;  // q4_0 block 47: byte 846, past K's 816 bytes, 2 bytes into a word
  desc.rope.style = VKATTN_ROPE_GPTJ;
  CHECK_APPEND(append_and_check(context, make_append_data(desc, {0, 3}, 51), AppendExactness::kHost, shared));
}

TEST_CASE("append writes paged caches through a shuffled block table with tokens crossing page boundaries") {
  CpuContext context;
  const int64_t page_sizes[] = {1, 7, 16};
  uint64_t seed = 60;
  for (int64_t page : page_sizes) {
    for (vkattn_dtype type : {VKATTN_DTYPE_F32, VKATTN_DTYPE_F16, VKATTN_DTYPE_Q4_0}) {
      for (bool vllm : {true, false}) {
        CAPTURE(page);
        CAPTURE(type_name(type));
        CAPTURE(vllm);
        const int64_t kv_len = 32, max_pages = (kv_len + page - 1) / page;
        vkattn_append_desc desc = dense_append_desc(3, 2, 9, kv_len, 64, 32, VKATTN_DTYPE_F32, type, type);
        desc.page_size = page;
        desc.max_pages = max_pages;
        desc.num_pages = 3 * max_pages + 2;
        desc.k_layout = vllm ? vkattn_layout_pages(2, page, 64) : vkattn_layout_bhsd(2, page, 64);
        desc.v_layout = vllm ? vkattn_layout_pages(2, page, 32) : vkattn_layout_bhsd(2, page, 32);
        desc.rope.style = VKATTN_ROPE_NEOX;
        AppendData data = make_append_data(desc, {0, 5, 23}, ++seed);
        data.block_table = shuffled_block_table(3, max_pages, desc.num_pages, seed);
        CHECK_APPEND(append_and_check(context, data, AppendExactness::kHost));
      }
    }
  }
}

TEST_CASE("append lets two sequences that share a page write different slots of it") {
  // Sequences 0 and 1 both start with page 2 (a shared prefix) and append
  // to slots 3-4 and 5-6 of it; sequence 1 then continues into its own page.
  CpuContext context;
  for (vkattn_dtype type : {VKATTN_DTYPE_F16, VKATTN_DTYPE_Q8_0}) {
    CAPTURE(type_name(type));
    const int64_t qk_dim = type == VKATTN_DTYPE_F16 ? 37 : 32;
    vkattn_append_desc desc = dense_append_desc(2, 2, 2, 16, qk_dim, 32, VKATTN_DTYPE_F32, type, type);
    desc.page_size = 7;
    desc.max_pages = 3;
    desc.num_pages = 4;
    desc.k_layout = vkattn_layout_pages(2, 7, qk_dim);
    desc.v_layout = vkattn_layout_pages(2, 7, 32);
    desc.rope.style = VKATTN_ROPE_GPTJ;
    desc.rope.dims = 16;
    AppendData data = make_append_data(desc, {3, 5}, 70);
    data.block_table = {2, 0, 1, 2, 3, 1};
    CHECK_APPEND(append_and_check(context, data, AppendExactness::kHost));
    data = make_append_data(desc, {3, 6}, 71);  // sequence 1's second token goes to page 3
    data.block_table = {2, 0, 1, 2, 3, 1};
    CHECK_APPEND(append_and_check(context, data, AppendExactness::kHost));
  }
}

TEST_CASE("a block holding NaN or Inf gets a NaN scale and zero codes and float caches keep the NaN or Inf") {
  CpuContext context;
  for (vkattn_dtype type : {VKATTN_DTYPE_F32, VKATTN_DTYPE_F16, VKATTN_DTYPE_Q8_0, VKATTN_DTYPE_Q4_0}) {
    for (vkattn_rope_style style : {VKATTN_ROPE_NONE, VKATTN_ROPE_NEOX, VKATTN_ROPE_GPTJ}) {
      CAPTURE(type_name(type));
      CAPTURE(style);
      vkattn_append_desc desc = dense_append_desc(1, 2, 3, 8, 64, 64, VKATTN_DTYPE_F32, type, type);
      desc.rope.style = style;
      AppendData data = make_append_data(desc, {2}, 80);
      // Row (head 0, token 0): a NaN in the first block (with NEOX its pair
      // partner lies in the second block). Row (head 1, token 2): +Inf in
      // the second block. Values: NaN and -Inf.
      data.k_src[3] = std::numeric_limits<float>::quiet_NaN();
      data.k_src[(1 * 3 + 2) * 64 + 40] = std::numeric_limits<float>::infinity();
      data.v_src[64 + 7] = -std::numeric_limits<float>::infinity();
      data.v_src[(1 * 3 + 1) * 64 + 33] = std::numeric_limits<float>::quiet_NaN();
      CHECK_APPEND(append_and_check(context, data, AppendExactness::kHost));
    }
  }
}

TEST_CASE("attention after append sees the new keys turned at their positions") {
  CpuContext context;
  AppendAttentionSpec spec;
  spec.batch = 2;
  spec.q_heads = 4;
  spec.kv_heads = 2;
  spec.new_tokens = 5;
  spec.kv_len = 40;
  spec.dim = 64;
  spec.prefix = {7, 20};
  spec.rope.style = VKATTN_ROPE_NEOX;
  SUBCASE("f32 contiguous caches") {}
  SUBCASE("f32 paged caches") { spec.page_size = 7; }
  SUBCASE("f16 caches with GPTJ RoPE over part of the head") {
    spec.dtype = VKATTN_DTYPE_F16;
    spec.rope.style = VKATTN_ROPE_GPTJ;
    spec.rope.dims = 32;
    spec.rope.theta = 500000.0f;
  }
  SUBCASE("q8_0 keys and q4_0 values in pages of 16") {
    spec.k_dtype = VKATTN_DTYPE_Q8_0;
    spec.v_dtype = VKATTN_DTYPE_Q4_0;
    spec.page_size = 16;
  }
  SUBCASE("decode steps of one token") {
    spec.batch = 3;
    spec.new_tokens = 1;
    spec.steps = 4;
    spec.prefix = {0, 9, 30};
    spec.page_size = 16;
  }
  const AppendAttentionResult result = append_then_attend(context, spec, AppendExactness::kHost);
  CHECK_MESSAGE(result.failure.empty(), result.failure);
  CHECK(result.caches.values > 0);
  CHECK(result.allowed > 0.0);
}

TEST_CASE("an append plan describes itself and times its last execution") {
  CpuContext context;
  const vkattn_append_desc desc = dense_append_desc(1, 2, 3, 8, 32, 32, VKATTN_DTYPE_F32, VKATTN_DTYPE_F32, VKATTN_DTYPE_F32);
  AppendRunner runner(context, desc);
  REQUIRE_MESSAGE(runner.ready(), runner.error());
  double ms = -1.0;
  CHECK(vkattn_plan_get_last_time(runner.plan(), &ms) == VKATTN_ERROR_FAILED_PRECONDITION);
  vkattn_plan_info info;
  vkattn_plan_info_init(&info);
  REQUIRE(vkattn_plan_get_info(runner.plan(), &info) == VKATTN_SUCCESS);
  CHECK(std::strlen(info.kernel) > 0);
  REQUIRE(runner.append(make_append_data(desc, {1}, 90)));
  CHECK(vkattn_plan_get_last_time(runner.plan(), &ms) == VKATTN_SUCCESS);
  CHECK(ms >= 0.0);
}

TEST_CASE("append descriptors are validated by field name") {
  CpuContext context;
  vkattn_plan plan = nullptr;
  const vkattn_append_desc good =
      dense_append_desc(2, 2, 3, 8, 32, 32, VKATTN_DTYPE_F32, VKATTN_DTYPE_F32, VKATTN_DTYPE_F32);
  vkattn_append_desc d;

  d = good;
  d.struct_size = sizeof(d) - 8;
  CHECK_STATUS_MENTIONS(vkattn_append_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "struct_size");
  d = good;
  d.flags = 1;
  CHECK_STATUS_MENTIONS(vkattn_append_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "flags");
  CHECK_STATUS_MENTIONS(vkattn_append_plan_create(context, &good, 4, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "flags");
  CHECK_STATUS_MENTIONS(vkattn_append_plan_create(context, nullptr, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "desc");
  d = good;
  d.new_tokens = 9;
  CHECK_STATUS_MENTIONS(vkattn_append_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "new_tokens");
  d = good;
  d.new_tokens = 0;
  CHECK_STATUS_MENTIONS(vkattn_append_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "new_tokens");
  d = good;
  d.batch = -1;
  CHECK_STATUS_MENTIONS(vkattn_append_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "batch");
  d = good;
  d.src_dtype = VKATTN_DTYPE_Q8_0;
  CHECK_STATUS_MENTIONS(vkattn_append_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "src_dtype");
  d = good;
  d.k_dtype = static_cast<vkattn_dtype>(9);
  CHECK_STATUS_MENTIONS(vkattn_append_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "k_dtype");
  d = dense_append_desc(2, 2, 3, 8, 48, 32, VKATTN_DTYPE_F32, VKATTN_DTYPE_Q8_0, VKATTN_DTYPE_F32);
  CHECK_STATUS_MENTIONS(vkattn_append_plan_create(context, &d, 0, &plan), VKATTN_ERROR_UNSUPPORTED, "k_dtype");
  d = dense_append_desc(2, 2, 3, 8, 32, 40, VKATTN_DTYPE_F32, VKATTN_DTYPE_F32, VKATTN_DTYPE_Q4_0);
  CHECK_STATUS_MENTIONS(vkattn_append_plan_create(context, &d, 0, &plan), VKATTN_ERROR_UNSUPPORTED, "v_dtype");
  d = good;
  d.k_dtype = VKATTN_DTYPE_Q8_0;
  d.k_layout.offset = 16;
  CHECK_STATUS_MENTIONS(vkattn_append_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "k_layout");
  d = good;
  d.v_src_layout.seq_stride = 0;
  CHECK_STATUS_MENTIONS(vkattn_append_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT,
                        "v_src_layout");
  d = good;
  d.rope.style = VKATTN_ROPE_NEOX;
  d.rope.dims = 7;
  CHECK_STATUS_MENTIONS(vkattn_append_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "rope.dims");
  d.rope.dims = 34;
  CHECK_STATUS_MENTIONS(vkattn_append_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "rope.dims");
  d = dense_append_desc(2, 2, 3, 8, 37, 32, VKATTN_DTYPE_F32, VKATTN_DTYPE_F32, VKATTN_DTYPE_F32);
  d.rope.style = VKATTN_ROPE_GPTJ;  // dims 0 = qk_dim 37: odd
  CHECK_STATUS_MENTIONS(vkattn_append_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "rope.dims");
  d = good;
  d.rope.style = VKATTN_ROPE_NEOX;
  d.rope.theta = -1.0f;
  CHECK_STATUS_MENTIONS(vkattn_append_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "rope.theta");
  d.rope.theta = std::numeric_limits<float>::infinity();
  CHECK_STATUS_MENTIONS(vkattn_append_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "rope.theta");
  d = good;
  d.rope.style = static_cast<vkattn_rope_style>(3);
  CHECK_STATUS_MENTIONS(vkattn_append_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "rope.style");
  d = good;
  d.page_size = 257;
  d.num_pages = 4;
  d.max_pages = 1;
  CHECK_STATUS_MENTIONS(vkattn_append_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "page_size");
  d = good;
  d.page_size = 2;
  d.num_pages = 4;
  d.max_pages = 3;  // 3 x 2 < kv_len 8
  d.k_layout = vkattn_layout_pages(2, 2, 32);
  d.v_layout = vkattn_layout_pages(2, 2, 32);
  CHECK_STATUS_MENTIONS(vkattn_append_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "kv_len");
  d = good;
  d.num_pages = 3;  // without page_size
  CHECK_STATUS_MENTIONS(vkattn_append_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "num_pages");
  CHECK(plan == nullptr);
}

TEST_CASE("append bindings are validated by field name and a rejected append writes nothing") {
  ValidationSetup s;
  vkattn_plan plan = nullptr;
  REQUIRE(vkattn_append_plan_create(s.context, &s.desc, 0, &plan) == VKATTN_SUCCESS);
  const std::vector<uint8_t> fill = fill_pattern(2 * 2 * 8 * 32 * 4);
  REQUIRE(vkattn_buffer_write(s.k_cache, 0, fill.data(), fill.size()) == VKATTN_SUCCESS);
  REQUIRE(vkattn_buffer_write(s.v_cache, 0, fill.data(), fill.size()) == VKATTN_SUCCESS);
  vkattn_append_bindings b;

  b = s.bindings();
  b.struct_size = 8;
  CHECK_STATUS_MENTIONS(vkattn_append_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "struct_size");
  CHECK_STATUS_MENTIONS(vkattn_append_execute(plan, nullptr), VKATTN_ERROR_INVALID_ARGUMENT, "bindings");
  b = s.bindings();
  b.positions = nullptr;
  CHECK_STATUS_MENTIONS(vkattn_append_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "positions");
  s.positions[1] = 6;  // 6 + 3 > kv_len 8
  b = s.bindings();
  CHECK_STATUS_MENTIONS(vkattn_append_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "positions[1]");
  s.positions[1] = 5;
  s.positions[0] = -1;
  b = s.bindings();
  CHECK_STATUS_MENTIONS(vkattn_append_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "positions[0]");
  s.positions[0] = 0;
  b = s.bindings();
  b.v_src = nullptr;
  CHECK_STATUS_MENTIONS(vkattn_append_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "v_src");
  b = s.bindings();
  b.k_cache = s.k_src;  // too small for the cache
  CHECK_STATUS_MENTIONS(vkattn_append_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "k_cache");
  const int32_t table[] = {0, 1};
  b = s.bindings();
  b.block_table = table;
  CHECK_STATUS_MENTIONS(vkattn_append_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "block_table");
  {
    // The cache and a source in one buffer, overlapping.
    Buffer both(s.context, 2 * 2 * 8 * 32 * 4);
    b = s.bindings();
    b.k_cache = both;
    b.k_src = both;
    CHECK_STATUS_MENTIONS(vkattn_append_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "k_cache");
    b = s.bindings();
    b.v_cache = b.k_cache;
    CHECK_STATUS_MENTIONS(vkattn_append_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "v_cache");
  }
  {
    CpuContext other;
    Buffer foreign(other, 2 * 2 * 8 * 32 * 4);
    b = s.bindings();
    b.v_cache = foreign;
    CHECK_STATUS_MENTIONS(vkattn_append_execute(plan, &b), VKATTN_ERROR_INVALID_ARGUMENT, "v_cache");
  }
  // Nothing was written by the rejected calls.
  std::vector<uint8_t> k(fill.size()), v(fill.size());
  REQUIRE(vkattn_buffer_read(s.k_cache, 0, k.data(), k.size()) == VKATTN_SUCCESS);
  REQUIRE(vkattn_buffer_read(s.v_cache, 0, v.data(), v.size()) == VKATTN_SUCCESS);
  CHECK(k == fill);
  CHECK(v == fill);
  b = s.bindings();
  CHECK(vkattn_append_execute(plan, &b) == VKATTN_SUCCESS);
  vkattn_plan_destroy(plan);
}

TEST_CASE("paged append bindings reject block table entries out of range and slots written twice") {
  CpuContext context;
  vkattn_append_desc desc = dense_append_desc(2, 2, 3, 16, 32, 32, VKATTN_DTYPE_F32, VKATTN_DTYPE_F16, VKATTN_DTYPE_F16);
  desc.page_size = 4;
  desc.max_pages = 4;
  desc.num_pages = 5;
  desc.k_layout = vkattn_layout_pages(2, 4, 32);
  desc.v_layout = vkattn_layout_pages(2, 4, 32);
  AppendRunner runner(context, desc);
  REQUIRE_MESSAGE(runner.ready(), runner.error());
  const std::vector<uint8_t> fill = fill_pattern(runner.cache_buffer_bytes(CacheKind::kKeys));
  REQUIRE(runner.write_cache(CacheKind::kKeys, fill));
  Buffer source(context, 2 * 2 * 3 * 32 * 4);
  int32_t positions[2] = {2, 8};
  // Sequence 0 writes pages 0 and 1 of its row (positions 2-4), sequence 1
  // page 2 of its row (positions 8-10).
  int32_t table[8] = {0, 1, -5, 99, 7, 7, 2, 7};
  vkattn_append_bindings b;
  vkattn_append_bindings_init(&b);
  b.k_src = b.v_src = source;
  b.k_cache = runner.cache(CacheKind::kKeys);
  b.v_cache = runner.cache(CacheKind::kValues);
  b.positions = positions;
  b.block_table = table;
  CHECK(vkattn_append_execute(runner.plan(), &b) == VKATTN_SUCCESS);  // unread entries may hold anything
  table[1] = 5;  // == num_pages
  CHECK_STATUS_MENTIONS(vkattn_append_execute(runner.plan(), &b), VKATTN_ERROR_INVALID_ARGUMENT, "block_table");
  table[1] = -1;
  CHECK_STATUS_MENTIONS(vkattn_append_execute(runner.plan(), &b), VKATTN_ERROR_INVALID_ARGUMENT, "block_table[1]");
  table[1] = 1;
  table[6] = 0;  // sequence 1's positions 8-10 land on page 0, slots 0-2: sequence 0 writes slot 2
  CHECK_STATUS_MENTIONS(vkattn_append_execute(runner.plan(), &b), VKATTN_ERROR_INVALID_ARGUMENT, "block_table");
  positions[1] = 9;  // positions 9-11: slots 1-3 of page 0, where sequence 0 writes slots 2-3
  CHECK_STATUS_MENTIONS(vkattn_append_execute(runner.plan(), &b), VKATTN_ERROR_INVALID_ARGUMENT, "block_table");
  positions[0] = 1;  // sequence 0: page 0 slots 1-3; sequence 1: slots 1-3 again
  CHECK_STATUS_MENTIONS(vkattn_append_execute(runner.plan(), &b), VKATTN_ERROR_INVALID_ARGUMENT, "block_table");
  b.block_table = nullptr;
  CHECK_STATUS_MENTIONS(vkattn_append_execute(runner.plan(), &b), VKATTN_ERROR_INVALID_ARGUMENT, "block_table");
}

TEST_CASE("append and attention plans refuse each other's execute call") {
  ValidationSetup s;
  vkattn_plan append_plan = nullptr, attention_plan = nullptr;
  REQUIRE(vkattn_append_plan_create(s.context, &s.desc, 0, &append_plan) == VKATTN_SUCCESS);
  vkattn_attention_desc attention = small_desc();
  REQUIRE(vkattn_plan_create(s.context, &attention, 0, &attention_plan) == VKATTN_SUCCESS);
  vkattn_bindings bindings;
  vkattn_bindings_init(&bindings);
  bindings.q = s.k_cache;
  bindings.k = s.k_cache;
  bindings.v = s.v_cache;
  bindings.out = s.v_cache;
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(append_plan, &bindings), VKATTN_ERROR_INVALID_ARGUMENT,
                        "vkattn_append_execute");
  const vkattn_append_bindings append_bindings = s.bindings();
  CHECK_STATUS_MENTIONS(vkattn_append_execute(attention_plan, &append_bindings), VKATTN_ERROR_INVALID_ARGUMENT,
                        "vkattn_plan_execute");
  vkattn_plan_destroy(append_plan);
  vkattn_plan_destroy(attention_plan);
}

TEST_CASE("an append and an attention batched into one submission match the reference") {
  CpuContext context;
  CHECK(check_batched_decode_step(context) == "");
}

