// Appending to a K/V cache (vkattn_append_plan_create, vkattn_append_execute)
// on every usable Vulkan device, validation on: every cache is read back
// whole and compared with the float64 append reference
// (tests/support/append_check.h): float caches bit for bit without RoPE,
// q8_0 / q4_0 blocks as vkattn_quantize writes them except codes one away
// where x / d lies at a rounding boundary (the device's f32 division, as
// include/vkattn.h documents), rotated keys within the f32 rotation's error,
// and every byte no row owns (the other half of a shared 32-bit word, the
// gaps between rows, the guard after the view) exactly as filled.
//
// Each distinct combination of types, page size and RoPE style is one
// pipeline, compiled in seconds on a CPU driver: each test case uses few.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "append_check.h"
#include "vulkan_test_support.h"

using namespace vkattn_test;

namespace {

// A validated context on one device; the test fails on any validation
// message, checked when it is destroyed.
struct DeviceContext {
  LogCollector log;
  vkattn_context context = nullptr;
  explicit DeviceContext(uint32_t device) {
    REQUIRE(create_validated_context(device, &log, nullptr, &context) == VKATTN_SUCCESS);
  }
  ~DeviceContext() {
    CHECK(vkattn_context_destroy(context) == VKATTN_SUCCESS);
    CHECK_MESSAGE(log.validation_messages.load() == 0, log.first_messages());
  }
  operator vkattn_context() const { return context; }
};

void use_pages(vkattn_append_desc* desc, int64_t page_size, int64_t num_pages) {
  desc->page_size = page_size;
  desc->max_pages = (desc->kv_len + page_size - 1) / page_size;
  desc->num_pages = num_pages;
  desc->k_layout = vkattn_layout_pages(desc->kv_heads, page_size, desc->qk_dim);
  desc->v_layout = vkattn_layout_pages(desc->kv_heads, page_size, desc->v_dim);
}

// The device's documented latitude, and no more: codes one away only at
// rounding boundaries (checked per code), and those rare.
#define CHECK_DEVICE_APPEND(check_expr)                                                   \
  do {                                                                                    \
    const CacheCheck check_ = (check_expr);                                               \
    CHECK_MESSAGE(check_.failure.empty(), check_.failure);                                \
    CHECK(check_.values > 0);                                                             \
    CHECK(check_.untouched_bytes > 0);                                                    \
    CHECK_MESSAGE(check_.codes_off_by_one * 1000 <= check_.codes,                         \
                  check_.codes_off_by_one << " of " << check_.codes << " codes one away"); \
  } while (0)

}  // namespace

TEST_CASE("append on Vulkan copies and converts into f32 and f16 caches bit for bit") {
  for (uint32_t device : usable_vulkan_devices()) {
    CAPTURE(device);
    DeviceContext context(device);
    // f32 sources: K copied, V rounded to nearest even (unit values, f16
    // subnormals, values near f16's largest).
    vkattn_append_desc desc = dense_append_desc(2, 3, 5, 16, 64, 40, VKATTN_DTYPE_F32, VKATTN_DTYPE_F32, VKATTN_DTYPE_F16);
    for (double magnitude : {1.0, 3e-5, 6e4}) {
      CAPTURE(magnitude);
      CHECK_DEVICE_APPEND(append_and_check(context, make_append_data(desc, {3, 11}, 1, magnitude), AppendExactness::kDevice));
    }
    CHECK_DEVICE_APPEND(append_and_check(context, make_append_data(desc, {0, 11}, 2), AppendExactness::kDevice));
    // Ties between two f16 values, f16's largest finite value and the first
    // that rounds to infinity.
    AppendData data = make_append_data(desc, {5, 2}, 4);
    plant_rounding_ties(&data, CacheKind::kKeys);
    plant_rounding_ties(&data, CacheKind::kValues);
    CHECK_DEVICE_APPEND(append_and_check(context, data, AppendExactness::kDevice));
    // f16 sources: K copied bit for bit, V widened exactly.
    desc = dense_append_desc(2, 3, 5, 16, 64, 40, VKATTN_DTYPE_F16, VKATTN_DTYPE_F16, VKATTN_DTYPE_F32);
    CHECK_DEVICE_APPEND(append_and_check(context, make_append_data(desc, {7, 1}, 3), AppendExactness::kDevice));
    // Odd sizes in buffers exactly the views' size (f16 sources of 222 and
    // 30 bytes, an f16 cache of 370 bytes: none a multiple of 4).
    desc = dense_append_desc(1, 1, 3, 5, 37, 5, VKATTN_DTYPE_F16, VKATTN_DTYPE_F16, VKATTN_DTYPE_F32);
    AppendBufferOptions exact;
    exact.guard_bytes = 0;
    CHECK_DEVICE_APPEND(append_and_check(context, make_append_data(desc, {2}, 5), AppendExactness::kDevice, exact));
  }
}

TEST_CASE("append on Vulkan quantizes into q8_0 and q4_0 caches as vkattn_quantize does up to boundary codes") {
  for (uint32_t device : usable_vulkan_devices()) {
    CAPTURE(device);
    DeviceContext context(device);
    uint64_t codes = 0, off = 0, tie_codes = 0, ties_off = 0;
    for (vkattn_dtype src : {VKATTN_DTYPE_F32, VKATTN_DTYPE_F16}) {
      CAPTURE(src);
      const vkattn_dtype k = src == VKATTN_DTYPE_F32 ? VKATTN_DTYPE_Q8_0 : VKATTN_DTYPE_Q4_0;
      const vkattn_dtype v = src == VKATTN_DTYPE_F32 ? VKATTN_DTYPE_Q4_0 : VKATTN_DTYPE_Q8_0;
      const vkattn_append_desc desc = dense_append_desc(2, 4, 32, 40, 128, 64, src, k, v);
      for (double magnitude : {1.0, 3e-5, 300.0}) {
        CAPTURE(magnitude);
        const CacheCheck check =
            append_and_check(context, make_append_data(desc, {1, 8}, static_cast<uint64_t>(magnitude * 7) + src, magnitude),
                             AppendExactness::kDevice);
        CHECK_DEVICE_APPEND(check);
        codes += check.codes;
        off += check.codes_off_by_one;
      }
      // Scales that are powers of two, codes at x / d = k + 1/2 exactly
      // (roundf goes away from zero) and q4_0's clamp. Every such code lies
      // on a rounding boundary, where the documented latitude applies (a
      // device division one ulp off moves it): counted and reported, and
      // bitwise on a device whose division is exact.
      AppendData data = make_append_data(desc, {0, 7}, 9);
      plant_rounding_ties(&data, CacheKind::kKeys);
      plant_rounding_ties(&data, CacheKind::kValues);
      const CacheCheck ties = append_and_check(context, data, AppendExactness::kDevice);
      CHECK_MESSAGE(ties.failure.empty(), ties.failure);
      CHECK(ties.codes > 0);
      tie_codes += ties.codes;
      ties_off += ties.codes_off_by_one;
    }
    MESSAGE("Vulkan device ", device, " (", vulkan_device_info(device).name, "): ", off, " of ", codes,
            " random q8_0 / q4_0 codes and ", ties_off, " of ", tie_codes,
            " codes at exact ties one away from vkattn_quantize's");
  }
}

TEST_CASE("append on Vulkan writes f16 rows at odd offsets without disturbing the neighbouring halves") {
  // Rows of 37 and 5 f16 values starting mid-word: the first and last value
  // of a row share 32-bit words with bytes no row owns, or with the
  // neighbouring row, or with the other cache.
  for (uint32_t device : usable_vulkan_devices()) {
    CAPTURE(device);
    DeviceContext context(device);
    for (vkattn_rope_style style : {VKATTN_ROPE_NONE, VKATTN_ROPE_NEOX}) {
      CAPTURE(style);
      vkattn_append_desc desc = dense_append_desc(2, 3, 4, 9, 37, 5, VKATTN_DTYPE_F32, VKATTN_DTYPE_F16, VKATTN_DTYPE_F16);
      desc.rope.style = style;
      desc.rope.dims = style == VKATTN_ROPE_NONE ? 0 : 36;
      desc.k_layout.offset = 3;
      desc.k_layout.seq_stride = 39;
      desc.k_layout.head_stride = 39 * 9 + 1;
      desc.k_layout.batch_stride = (39 * 9 + 1) * 3 + 2;
      desc.v_layout.offset = 1;
      CHECK_DEVICE_APPEND(append_and_check(context, make_append_data(desc, {0, 5}, 20), AppendExactness::kDevice));
      // Consecutive tokens in adjacent rows (seq_stride 37, odd): each
      // shared word is written half by one row and half by the next.
      desc.k_layout = vkattn_layout_bhsd(3, 9, 37);
      desc.k_layout.offset = 1;
      AppendBufferOptions exact;
      exact.guard_bytes = 0;  // buffers exactly the views' size
      CHECK_DEVICE_APPEND(append_and_check(context, make_append_data(desc, {2, 3}, 21), AppendExactness::kDevice, exact));
      // K and V in one buffer, V starting in the word where K ends.
      desc = dense_append_desc(1, 3, 3, 7, 37, 5, VKATTN_DTYPE_F32, VKATTN_DTYPE_F16, VKATTN_DTYPE_F16);
      desc.rope.style = style;
      desc.rope.dims = style == VKATTN_ROPE_NONE ? 0 : 36;
      desc.v_layout.offset = 3 * 7 * 37;
      AppendBufferOptions shared;
      shared.shared_caches = true;
      CHECK_DEVICE_APPEND(append_and_check(context, make_append_data(desc, {4}, 22), AppendExactness::kDevice, shared));
    }
  }
}

TEST_CASE("append on Vulkan writes q8_0 and q4_0 blocks that start 2 bytes into a word without disturbing their neighbours") {
  // Blocks of 34 and 18 bytes: every other block starts 2 bytes into a
  // 32-bit word, whose first half belongs to the previous block, to
  // another row, to the other cache, or to no row at all.
  for (uint32_t device : usable_vulkan_devices()) {
    CAPTURE(device);
    DeviceContext context(device);
    vkattn_append_desc desc =
        dense_append_desc(2, 3, 5, 9, 96, 32, VKATTN_DTYPE_F32, VKATTN_DTYPE_Q8_0, VKATTN_DTYPE_Q4_0);
    desc.rope.style = VKATTN_ROPE_GPTJ;
    desc.rope.dims = 64;
    // Rows of 3 blocks (odd), padded by one block, at an odd block offset.
    desc.k_layout.offset = 32;
    desc.k_layout.seq_stride = 128;
    desc.k_layout.head_stride = 128 * 9 + 32;
    desc.k_layout.batch_stride = (128 * 9 + 32) * 3 + 96;
    desc.v_layout.offset = 3 * 32;
    CHECK_DEVICE_APPEND(append_and_check(context, make_append_data(desc, {0, 4}, 30), AppendExactness::kDevice));
    // Dense rows, K and V in one buffer: K is 3 x 9 x 3 = 81 blocks of 34
    // bytes (2754 bytes, ending 2 bytes into a word), and V's first q4_0
    // block (153 x 18 = 2754) starts right there, in the same word.
    desc = dense_append_desc(1, 3, 5, 9, 96, 32, VKATTN_DTYPE_F32, VKATTN_DTYPE_Q8_0, VKATTN_DTYPE_Q4_0);
    desc.rope.style = VKATTN_ROPE_GPTJ;
    desc.rope.dims = 64;
    desc.v_layout.offset = 153 * 32;
    AppendBufferOptions shared;
    shared.shared_caches = true;
    shared.guard_bytes = 0;
    CHECK_DEVICE_APPEND(append_and_check(context, make_append_data(desc, {4}, 31), AppendExactness::kDevice, shared));
  }
}

TEST_CASE("append on Vulkan turns keys at their cache positions up to position 30000 with f32 accuracy") {
  for (uint32_t device : usable_vulkan_devices()) {
    CAPTURE(device);
    DeviceContext context(device);
    for (vkattn_rope_style style : {VKATTN_ROPE_NEOX, VKATTN_ROPE_GPTJ}) {
      CAPTURE(style);
      // f32 keys, f16 values; pages of 16, only those written exist.
      vkattn_append_desc desc = dense_append_desc(2, 2, 5, 30016, 64, 32, VKATTN_DTYPE_F32, VKATTN_DTYPE_F32,
                                           VKATTN_DTYPE_F16);
      use_pages(&desc, 16, 6);
      desc.rope.style = style;
      for (const auto& rope : {vkattn_rope{style, 0.0f, 0}, vkattn_rope{style, 500000.0f, 32}}) {
        CAPTURE(rope.dims);
        desc.rope = rope;
        AppendData data = make_append_data(desc, {29998, 12345}, 40 + rope.dims);
        data.block_table.assign(static_cast<size_t>(2 * desc.max_pages), -1);
        data.block_table[29998 / 16] = 5;
        data.block_table[29998 / 16 + 1] = 0;
        data.block_table[static_cast<size_t>(desc.max_pages) + 12345 / 16] = 3;
        CHECK_DEVICE_APPEND(append_and_check(context, data, AppendExactness::kDevice));
        data = make_append_data(desc, {0, 17}, 41 + rope.dims);  // from position 0
        data.block_table.assign(static_cast<size_t>(2 * desc.max_pages), -1);
        data.block_table[static_cast<size_t>(desc.max_pages) + 1] = 5;
        data.block_table[0] = 2;  // positions 0-4 and 17-21
        CHECK_DEVICE_APPEND(append_and_check(context, data, AppendExactness::kDevice));
      }
    }
  }
}

TEST_CASE("append on Vulkan turns keys at positions near 10^9 with f32 accuracy") {
  // Far beyond 2^24, where an f32 position or angle has no fractional bits
  // left: pages of 256, one written page in a table of millions.
  for (uint32_t device : usable_vulkan_devices()) {
    CAPTURE(device);
    DeviceContext context(device);
    for (vkattn_rope_style style : {VKATTN_ROPE_NEOX, VKATTN_ROPE_GPTJ}) {
      CAPTURE(style);
      const int32_t position = 1000000007;
      vkattn_append_desc desc = dense_append_desc(1, 2, 3, int64_t{position} + 8, 64, 32, VKATTN_DTYPE_F32,
                                           VKATTN_DTYPE_F32, VKATTN_DTYPE_F16);
      use_pages(&desc, 256, 2);
      desc.rope.style = style;
      AppendData data = make_append_data(desc, {position}, 8);
      data.block_table.assign(static_cast<size_t>(desc.max_pages), -1);
      data.block_table[position / 256] = 1;
      CHECK_DEVICE_APPEND(append_and_check(context, data, AppendExactness::kDevice));
    }
  }
}

TEST_CASE("append on Vulkan of more rows than one dispatch covers") {
  for (uint32_t device : usable_vulkan_devices()) {
    CAPTURE(device);
    DeviceContext context(device);
    // 70000 rows of 2 values: more workgroups than maxComputeWorkGroupCount[1]
    // (65535 on most devices) allows in one dispatch.
    const vkattn_append_desc desc =
        dense_append_desc(1, 1, 70000, 70003, 2, 2, VKATTN_DTYPE_F32, VKATTN_DTYPE_F16, VKATTN_DTYPE_F16);
    AppendRunner runner(context, desc);
    REQUIRE_MESSAGE(runner.ready(), runner.error());
    vkattn_plan_info info;
    vkattn_plan_info_init(&info);
    REQUIRE(vkattn_plan_get_info(runner.plan(), &info) == VKATTN_SUCCESS);
    MESSAGE("Vulkan device ", device, ": ", info.dispatches, " dispatches for 70000 rows");
    CHECK_DEVICE_APPEND(append_and_check(context, make_append_data(desc, {3}, 70), AppendExactness::kDevice));
  }
}

TEST_CASE("append on Vulkan of rows of the largest head dimension") {
  for (uint32_t device : usable_vulkan_devices()) {
    CAPTURE(device);
    DeviceContext context(device);
    // Rows of 4096 values: many workgroups per row.
    vkattn_append_desc desc = dense_append_desc(2, 1, 2, 3, VKATTN_MAX_HEAD_DIM, VKATTN_MAX_HEAD_DIM - 1, VKATTN_DTYPE_F32, VKATTN_DTYPE_F16,
                      VKATTN_DTYPE_F16);
    desc.rope.style = VKATTN_ROPE_NEOX;
    AppendRunner runner(context, desc);
    REQUIRE_MESSAGE(runner.ready(), runner.error());
    CHECK_DEVICE_APPEND(append_and_check(context, make_append_data(desc, {1, 0}, 71), AppendExactness::kDevice));
    // The plan reports its dispatches and times its execution.
    vkattn_plan_info info;
    vkattn_plan_info_init(&info);
    REQUIRE(vkattn_plan_get_info(runner.plan(), &info) == VKATTN_SUCCESS);
    CHECK(info.dispatches >= 1);
    double ms = -1.0;
    CHECK(vkattn_plan_get_last_time(runner.plan(), &ms) == VKATTN_ERROR_FAILED_PRECONDITION);
    REQUIRE(runner.append(make_append_data(desc, {0, 1}, 72)));
    const vkattn_status timed = vkattn_plan_get_last_time(runner.plan(), &ms);
    CHECK((timed == VKATTN_SUCCESS || timed == VKATTN_ERROR_UNSUPPORTED));
    if (timed == VKATTN_SUCCESS) CHECK(ms >= 0.0);
  }
}

TEST_CASE("append on Vulkan writes paged caches through a shuffled block table with pages of 1 and 7 keys") {
  for (uint32_t device : usable_vulkan_devices()) {
    CAPTURE(device);
    DeviceContext context(device);
    // Pages of 7: f16 rows of odd length, tokens crossing page boundaries,
    // vLLM's layout and a head-major one.
    for (bool vllm : {true, false}) {
      CAPTURE(vllm);
      vkattn_append_desc desc = dense_append_desc(3, 2, 9, 32, 37, 5, VKATTN_DTYPE_F32, VKATTN_DTYPE_F16, VKATTN_DTYPE_F16);
      use_pages(&desc, 7, 3 * 5 + 2);
      if (!vllm) {
        desc.k_layout = vkattn_layout_bhsd(2, 7, 37);
        desc.v_layout = vkattn_layout_bhsd(2, 7, 5);
      }
      desc.rope.style = VKATTN_ROPE_NEOX;
      desc.rope.dims = 20;
      AppendData data = make_append_data(desc, {0, 5, 23}, 50 + vllm);
      data.block_table = shuffled_block_table(3, desc.max_pages, desc.num_pages, 50 + vllm);
      CHECK_DEVICE_APPEND(append_and_check(context, data, AppendExactness::kDevice));
    }
    {
      // Two sequences sharing their first page append to slots 3-4 and 5-6 of it.
      vkattn_append_desc desc = dense_append_desc(2, 2, 2, 16, 37, 5, VKATTN_DTYPE_F32, VKATTN_DTYPE_F16, VKATTN_DTYPE_F16);
      use_pages(&desc, 7, 4);
      desc.rope.style = VKATTN_ROPE_NEOX;
      desc.rope.dims = 20;
      AppendData data = make_append_data(desc, {3, 5}, 52);
      data.block_table = {2, 0, 1, 2, 3, 1};
      CHECK_DEVICE_APPEND(append_and_check(context, data, AppendExactness::kDevice));
    }
    // Pages of one key, q4_0 keys and q8_0 values.
    vkattn_append_desc desc = dense_append_desc(2, 2, 6, 12, 64, 32, VKATTN_DTYPE_F16, VKATTN_DTYPE_Q4_0, VKATTN_DTYPE_Q8_0);
    use_pages(&desc, 1, 2 * 12 + 3);
    AppendData data = make_append_data(desc, {0, 6}, 53);
    data.block_table = shuffled_block_table(2, desc.max_pages, desc.num_pages, 53);
    CHECK_DEVICE_APPEND(append_and_check(context, data, AppendExactness::kDevice));
  }
}

TEST_CASE("append on Vulkan gives a block holding NaN or Inf a NaN scale and zero codes") {
  for (uint32_t device : usable_vulkan_devices()) {
    CAPTURE(device);
    DeviceContext context(device);
    for (vkattn_rope_style style : {VKATTN_ROPE_NONE, VKATTN_ROPE_NEOX}) {
      CAPTURE(style);
      vkattn_append_desc desc = dense_append_desc(1, 2, 3, 8, 64, 64, VKATTN_DTYPE_F32, VKATTN_DTYPE_Q8_0, VKATTN_DTYPE_Q4_0);
      desc.rope.style = style;
      AppendData data = make_append_data(desc, {2}, 60);
      data.k_src[3] = std::numeric_limits<float>::quiet_NaN();
      data.k_src[(1 * 3 + 2) * 64 + 40] = std::numeric_limits<float>::infinity();
      data.v_src[64 + 7] = -std::numeric_limits<float>::infinity();
      data.v_src[(1 * 3 + 1) * 64 + 33] = std::numeric_limits<float>::quiet_NaN();
      CHECK_DEVICE_APPEND(append_and_check(context, data, AppendExactness::kDevice));
    }
  }
}

TEST_CASE("append on Vulkan of a 300-token prefill then a query on the device attends to the turned keys") {
  // One query (at the last key's position) over all 313 keys: attention with RoPE on
  // more than one query is a slow pipeline to compile on CPU drivers.
  for (uint32_t device : usable_vulkan_devices()) {
    CAPTURE(device);
    DeviceContext context(device);
    AppendAttentionSpec spec;
    spec.batch = 1;
    spec.q_heads = 4;
    spec.kv_heads = 2;
    spec.new_tokens = 300;
    spec.q_len = 1;
    spec.kv_len = 320;
    spec.dim = 64;
    spec.dtype = VKATTN_DTYPE_F16;
    spec.prefix = {13};
    spec.rope.style = VKATTN_ROPE_NEOX;
    const AppendAttentionResult result = append_then_attend(context, spec, AppendExactness::kDevice);
    CHECK_MESSAGE(result.failure.empty(), result.failure);
    CHECK(result.caches.values == 2 * 300 * 2 * 64);
  }
}

TEST_CASE("append on Vulkan of one decode token per sequence then attention on the device reads the caches") {
  for (uint32_t device : usable_vulkan_devices()) {
    CAPTURE(device);
    DeviceContext context(device);
    AppendAttentionSpec spec;
    spec.batch = 3;
    spec.q_heads = 4;
    spec.kv_heads = 2;
    spec.new_tokens = 1;
    spec.kv_len = 64;
    spec.dim = 64;
    spec.k_dtype = VKATTN_DTYPE_Q8_0;
    spec.prefix = {0, 17, 60};
    spec.steps = 3;
    spec.page_size = 16;
    spec.rope.style = VKATTN_ROPE_GPTJ;
    const AppendAttentionResult result = append_then_attend(context, spec, AppendExactness::kDevice);
    CHECK_MESSAGE(result.failure.empty(), result.failure);
    CHECK(result.caches.values == 3 * 3 * 2 * 2 * 64);
    CHECK(result.caches.codes_off_by_one * 1000 <= result.caches.codes);
  }
}

TEST_CASE("append on Vulkan into caches larger than maxStorageBufferRange writes them through windows per batch and head") {
  for (uint32_t device : usable_vulkan_devices()) {
    CAPTURE(device);
    DeviceContext context(device);
    vkattn_device_info info;
    vkattn_device_info_init(&info);
    REQUIRE(vkattn_context_get_info(context, &info) == VKATTN_SUCCESS);
    CAPTURE(info.max_binding_bytes);
    // f32 K caches of 143 MB (D 128; V D 32), a sequence appending at its
    // end: 2 sequences x 1 head x 140000 keys (one sequence per slice on a
    // 128 MiB range), and 1 sequence x 2 heads with RoPE (one head per
    // slice). Where one binding holds the whole cache the window path is
    // not what runs; the device is passed over with a message.
    vkattn_append_desc by_batch = dense_append_desc(2, 1, 3, 140000, 128, 32, VKATTN_DTYPE_F32, VKATTN_DTYPE_F32,
                                                    VKATTN_DTYPE_F32);
    vkattn_append_desc by_head = dense_append_desc(1, 2, 3, 140000, 128, 32, VKATTN_DTYPE_F16, VKATTN_DTYPE_F32,
                                                   VKATTN_DTYPE_F32);
    by_head.rope.style = VKATTN_ROPE_GPTJ;
    for (const vkattn_append_desc* desc : {&by_batch, &by_head}) {
      const uint64_t cache_bytes = storage_bytes(cache_dtype(*desc, CacheKind::kKeys), cache_extent(*desc, CacheKind::kKeys));
      CAPTURE(cache_bytes);
      if (cache_bytes <= info.max_binding_bytes) {
        MESSAGE("Vulkan device ", device, " binds ", info.max_binding_bytes, " bytes at once: no windows to test");
        continue;
      }
      AppendRunner runner(context, *desc);
      REQUIRE_MESSAGE(runner.ready(), runner.error());
      vkattn_plan_info plan_info;
      vkattn_plan_info_init(&plan_info);
      REQUIRE(vkattn_plan_get_info(runner.plan(), &plan_info) == VKATTN_SUCCESS);
      CHECK(plan_info.dispatches >= 2);  // a dispatch per slice
      std::vector<int32_t> positions = {static_cast<int32_t>(desc->kv_len - 3)};
      if (desc->batch == 2) positions.push_back(5);
      CHECK_DEVICE_APPEND(append_and_check(context, make_append_data(*desc, positions, 80), AppendExactness::kDevice));
    }
  }
}
