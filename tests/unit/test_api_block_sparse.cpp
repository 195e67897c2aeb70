// Block-sparse attention through the public API: descriptors are validated
// by field name, a descriptor compiled before the block-sparse fields keeps
// its mode, the Longformer and BigBird helpers draw the documented
// patterns, and the mask's two extremes give exact attention and empty
// rows. (Block-sparse attention against the float64 reference is the
// conformance matrix's "block_sparse" group.)
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "api_helpers.h"
#include "vkattn.h"

using namespace vkattn_test;

namespace {

// small_desc() (Sq 16, Skv 32) in block-sparse mode, blocks of 16 x 16: a
// mask [1, 1, 1, 2] in `mask`.
vkattn_attention_desc block_desc(std::vector<uint8_t>* mask) {
  vkattn_attention_desc d = small_desc();
  d.mode = VKATTN_MODE_BLOCK_SPARSE;
  d.block_sparse.block_q = 16;
  d.block_sparse.block_k = 16;
  d.block_sparse.mask_batch = 1;
  d.block_sparse.mask_heads = 1;
  mask->assign(2, 1);
  d.block_sparse.mask = mask->data();
  return d;
}

}  // namespace

TEST_CASE("block-sparse descriptors are validated by field name") {
  CpuContext context;
  vkattn_plan plan = nullptr;
  std::vector<uint8_t> mask;
  vkattn_attention_desc d = block_desc(&mask);
  d.block_sparse.block_q = 24;
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT,
                        "block_sparse.block_q (24) must be 16, 32, 64 or 128");
  d = block_desc(&mask);
  d.block_sparse.block_k = 256;
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "block_sparse.block_k");
  d = block_desc(&mask);
  d.block_sparse.mask_batch = 3;
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT,
                        "block_sparse.mask_batch (3) must be 1 or batch (2)");
  d = block_desc(&mask);
  d.block_sparse.mask_heads = 2;
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT,
                        "block_sparse.mask_heads (2) must be 1 or q_heads (4)");
  d = block_desc(&mask);
  d.block_sparse.mask = nullptr;
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT,
                        "block_sparse.mask is NULL");
  // A mask beyond VKATTN_MAX_BLOCK_MASK_BYTES is refused before it is read.
  d = block_desc(&mask);
  d.q_len = d.kv_len = 1 << 20;
  d.block_sparse.mask_heads = d.q_heads;
  vkattn_attention_desc_set_dense_layouts(&d);
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_UNSUPPORTED,
                        "VKATTN_MAX_BLOCK_MASK_BYTES");
  CHECK(plan == nullptr);
}

TEST_CASE("a descriptor that ends before the block-sparse fields is accepted and keeps its mode") {
  CpuContext context;
  vkattn_plan plan = nullptr;
  std::vector<uint8_t> mask;
  // Exact attention from a descriptor without `block_sparse`: whatever
  // lies past its size (here a block size that would be invalid) is not read.
  vkattn_attention_desc d = block_desc(&mask);
  d.mode = VKATTN_MODE_EXACT;
  d.block_sparse.block_q = 3;
  d.struct_size = offsetof(vkattn_attention_desc, block_sparse);
  REQUIRE(vkattn_plan_create(context, &d, 0, &plan) == VKATTN_SUCCESS);
  vkattn_plan_destroy(plan);
  plan = nullptr;
  // Block-sparse attention from such a descriptor has no block sizes.
  d.mode = VKATTN_MODE_BLOCK_SPARSE;
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "block_sparse.block_q (0)");
  CHECK(plan == nullptr);
}

TEST_CASE("a block mask of ones is exact attention, and one of zeros gives zeros and LSE -inf") {
  CpuContext context;
  std::vector<uint8_t> mask;
  vkattn_attention_desc exact = small_desc();
  exact.has_lse = 1;
  exact.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
  vkattn_attention_desc_set_dense_layouts(&exact);
  vkattn_attention_desc d = block_desc(&mask);
  d.has_lse = 1;
  d.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
  vkattn_attention_desc_set_dense_layouts(&d);
  std::vector<float> want_lse, got_lse;
  const std::vector<float> want = run_small_host(context, exact, &want_lse);
  const std::vector<float> got = run_small_host(context, d, &got_lse);
  const RunDifference difference = run_difference(got, want, got_lse, want_lse);
  CHECK(difference.relative_error <= 1e-5);
  CHECK(difference.lse_error <= 1e-5);
  mask.assign(2, 0);
  const std::vector<float> none = run_small_host(context, d, &got_lse);
  for (float x : none) CHECK(x == 0.0f);
  for (float x : got_lse) CHECK((std::isinf(x) && x < 0));
}

TEST_CASE("vkattn_block_mask_longformer and _bigbird draw windows, global blocks and seeded random blocks") {
  const int64_t n = 12, window = 1, global = 2, random = 3;
  std::vector<uint8_t> longformer(n * n), bigbird(n * n), again(n * n), other(n * n);
  REQUIRE(vkattn_block_mask_longformer(n, n, window, global, longformer.data()) == VKATTN_SUCCESS);
  for (int64_t a = 0; a < n; ++a) {
    for (int64_t c = 0; c < n; ++c) {
      INFO("block " << a << ", " << c);
      const bool expected = std::llabs(a - c) <= window || c < global || a < global;
      CHECK(longformer[a * n + c] == (expected ? 1 : 0));
    }
  }
  REQUIRE(vkattn_block_mask_bigbird(n, n, window, global, random, 5, bigbird.data()) == VKATTN_SUCCESS);
  REQUIRE(vkattn_block_mask_bigbird(n, n, window, global, random, 5, again.data()) == VKATTN_SUCCESS);
  REQUIRE(vkattn_block_mask_bigbird(n, n, window, global, random, 6, other.data()) == VKATTN_SUCCESS);
  CHECK(bigbird == again);
  CHECK(bigbird != other);
  for (int64_t a = 0; a < n; ++a) {
    INFO("query block " << a);
    int64_t pattern = 0, extra = 0;
    for (int64_t c = 0; c < n; ++c) {
      CHECK(bigbird[a * n + c] >= longformer[a * n + c]);  // Longformer's blocks, and more
      pattern += longformer[a * n + c];
      extra += bigbird[a * n + c] - longformer[a * n + c];
    }
    CHECK(extra == std::min<int64_t>(random, n - pattern));  // random blocks where that many remain
  }
  CHECK_STATUS_MENTIONS(vkattn_block_mask_longformer(0, n, 1, 1, longformer.data()), VKATTN_ERROR_INVALID_ARGUMENT,
                        "q_blocks");
  CHECK_STATUS_MENTIONS(vkattn_block_mask_bigbird(n, n, -1, 1, 1, 0, bigbird.data()), VKATTN_ERROR_INVALID_ARGUMENT,
                        "window_blocks");
  CHECK_STATUS_MENTIONS(vkattn_block_mask_longformer(n, n, 1, 1, nullptr), VKATTN_ERROR_INVALID_ARGUMENT,
                        "mask is NULL");
}
