// q8_0 / q4_0 K and V through the public API: the quantizer is llama.cpp's
// bit for bit, the helpers check their arguments, and descriptors with block
// types are validated by name. (Attention over quantized K/V against the
// float64 reference is the conformance matrix's "quantized" group.)
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "api_helpers.h"
#include "quant_blocks.h"
#include "vkattn.h"

using namespace vkattn_test;

namespace {

// splitmix64, for reproducible blocks.
uint64_t next_random(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Blocks that reach every branch of the formulas: random values over many
// magnitudes, all zeros, a single nonzero, equal magnitudes of both signs
// (q4_0 takes the first), values landing exactly on rounding ties (x * id
// = k + 0.5 for q8_0; x * id + 8.5 an integer for q4_0), the largest and
// smallest magnitudes an f16 scale can carry, and subnormal scales.
std::vector<float> test_blocks() {
  std::vector<float> values;
  uint64_t state = 12345;
  for (int block = 0; block < 2000; ++block) {
    const double magnitude = std::ldexp(1.0, static_cast<int>(next_random(&state) % 40) - 20);
    for (int j = 0; j < kBlockValues; ++j) {
      const double unit = static_cast<double>(next_random(&state) >> 11) / 9007199254740992.0 * 2.0 - 1.0;
      values.push_back(static_cast<float>(unit * magnitude));
    }
  }
  auto block_of = [&](auto value_at) {
    for (int j = 0; j < kBlockValues; ++j) values.push_back(value_at(j));
  };
  block_of([](int) { return 0.0f; });
  block_of([](int j) { return j == 7 ? -3.5f : 0.0f; });
  block_of([](int j) { return j % 2 == 0 ? 2.0f : -2.0f; });            // ties of magnitude, + first
  block_of([](int j) { return j % 2 == 0 ? -2.0f : 2.0f; });            // ties of magnitude, - first
  block_of([](int j) { return j == 0 ? 127.0f : static_cast<float>(j) + 0.5f; });  // q8_0: d = 1, halves
  block_of([](int j) { return j == 0 ? -8.0f : static_cast<float>(j % 16) - 8.5f; });  // q4_0: d = 1, ties
  block_of([](int j) { return j == 3 ? 65504.0f * 127.0f : static_cast<float>(j); });  // q8_0 scale at f16 max (q4_0: infinite)
  block_of([](int j) { return static_cast<float>(j - 16) * 1e-9f; });  // subnormal f16 scale
  block_of([](int j) { return static_cast<float>(j) * 1e-12f; });       // scale that rounds to 0
  return values;
}

}  // namespace

TEST_CASE("vkattn_quantize writes llama.cpp's q8_0 and q4_0 blocks bit for bit, and vkattn_dequantize reads them exactly") {
  const std::vector<float> values = test_blocks();
  const uint64_t count = values.size();
  for (vkattn_dtype dtype : {VKATTN_DTYPE_Q8_0, VKATTN_DTYPE_Q4_0}) {
    CAPTURE(dtype);
    uint64_t bytes = 0;
    REQUIRE(vkattn_dtype_bytes(dtype, count, &bytes) == VKATTN_SUCCESS);
    REQUIRE(bytes == count / 32 * (dtype == VKATTN_DTYPE_Q8_0 ? 34 : 18));
    std::vector<uint8_t> blocks(bytes, 0xaa);
    REQUIRE(vkattn_quantize(dtype, values.data(), count, blocks.data()) == VKATTN_SUCCESS);
    std::vector<uint8_t> expected(bytes);
    const uint64_t block_bytes = block_size_bytes(dtype);
    for (uint64_t b = 0; b < count / kBlockValues; ++b) encode_block(dtype, &values[b * kBlockValues], &expected[b * block_bytes]);
    uint64_t differing_blocks = 0;
    for (uint64_t b = 0; b < count / kBlockValues; ++b) {
      differing_blocks += std::equal(&blocks[b * block_bytes], &blocks[b * block_bytes] + block_bytes,
                                     &expected[b * block_bytes])
                              ? 0
                              : 1;
    }
    CHECK(differing_blocks == 0);

    std::vector<float> decoded(count, std::numeric_limits<float>::quiet_NaN());
    REQUIRE(vkattn_dequantize(dtype, blocks.data(), count, decoded.data()) == VKATTN_SUCCESS);
    uint64_t differing_values = 0;
    for (uint64_t e = 0; e < count; ++e) {
      const float want = decode_block_value(dtype, &expected[e / kBlockValues * block_bytes], static_cast<int>(e % kBlockValues));
      // Bit for bit: a q4_0 scale beyond f16 is infinite, and code 8 then reads NaN in both.
      differing_values += std::memcmp(&decoded[e], &want, 4) == 0 ? 0 : 1;
    }
    CHECK(differing_values == 0);
  }

  // Hand-checked blocks. q8_0 of 0, 1, ..., 31 scaled to amax 127: d = 1,
  // codes 0..31. q4_0 of a block whose largest magnitude is -8: d = 1,
  // code(x) = x + 8.
  std::vector<float> ramp(32);
  for (int j = 0; j < 32; ++j) ramp[j] = j == 31 ? 127.0f : static_cast<float>(j);
  uint8_t q8[34];
  REQUIRE(vkattn_quantize(VKATTN_DTYPE_Q8_0, ramp.data(), 32, q8) == VKATTN_SUCCESS);
  CHECK(q8[0] == 0x00);  // f16 1.0 = 0x3c00, little-endian
  CHECK(q8[1] == 0x3c);
  for (int j = 0; j < 31; ++j) CHECK(q8[2 + j] == j);
  CHECK(q8[33] == 127);
  std::vector<float> nibbles(32);
  for (int j = 0; j < 32; ++j) nibbles[j] = static_cast<float>(j % 16) - 8.0f;  // -8..7, twice
  uint8_t q4[18];
  REQUIRE(vkattn_quantize(VKATTN_DTYPE_Q4_0, nibbles.data(), 32, q4) == VKATTN_SUCCESS);
  CHECK(q4[0] == 0x00);
  CHECK(q4[1] == 0x3c);
  for (int j = 0; j < 16; ++j) CHECK(q4[2 + j] == (j | (j << 4)));
}

TEST_CASE("vkattn_quantize, vkattn_dequantize and vkattn_dtype_bytes reject bad arguments by name") {
  std::vector<float> values(64, 1.0f);
  std::vector<uint8_t> blocks(68);
  uint64_t bytes = 0;
  CHECK_STATUS_MENTIONS(vkattn_quantize(VKATTN_DTYPE_F16, values.data(), 64, blocks.data()),
                        VKATTN_ERROR_INVALID_ARGUMENT, "dtype");
  CHECK_STATUS_MENTIONS(vkattn_quantize(VKATTN_DTYPE_Q8_0, values.data(), 48, blocks.data()),
                        VKATTN_ERROR_INVALID_ARGUMENT, "count (48)");
  CHECK_STATUS_MENTIONS(vkattn_quantize(VKATTN_DTYPE_Q4_0, nullptr, 64, blocks.data()), VKATTN_ERROR_INVALID_ARGUMENT,
                        "NULL");
  values[40] = std::numeric_limits<float>::infinity();
  CHECK_STATUS_MENTIONS(vkattn_quantize(VKATTN_DTYPE_Q8_0, values.data(), 64, blocks.data()),
                        VKATTN_ERROR_INVALID_ARGUMENT, "values[40]");
  CHECK_STATUS_MENTIONS(vkattn_dequantize(static_cast<vkattn_dtype>(7), blocks.data(), 64, values.data()),
                        VKATTN_ERROR_INVALID_ARGUMENT, "dtype");
  CHECK_STATUS_MENTIONS(vkattn_dequantize(VKATTN_DTYPE_Q8_0, blocks.data(), 64, nullptr),
                        VKATTN_ERROR_INVALID_ARGUMENT, "NULL");
  CHECK_STATUS_MENTIONS(vkattn_dtype_bytes(VKATTN_DTYPE_Q4_0, 33, &bytes), VKATTN_ERROR_INVALID_ARGUMENT, "count (33)");
  CHECK_STATUS_MENTIONS(vkattn_dtype_bytes(VKATTN_DTYPE_F32, UINT64_MAX, &bytes), VKATTN_ERROR_INVALID_ARGUMENT,
                        "2^64");
  CHECK_STATUS_MENTIONS(vkattn_dtype_bytes(VKATTN_DTYPE_F16, 3, nullptr), VKATTN_ERROR_INVALID_ARGUMENT, "out_bytes");
  REQUIRE(vkattn_dtype_bytes(VKATTN_DTYPE_F16, 3, &bytes) == VKATTN_SUCCESS);
  CHECK(bytes == 6);
}

TEST_CASE("descriptors with q8_0 or q4_0 K or V are validated by field name") {
  CpuContext context;
  vkattn_plan plan = nullptr;
  vkattn_attention_desc d;

  d = small_desc();
  d.qk_dim = 48;
  vkattn_attention_desc_set_dense_layouts(&d);
  d.k_dtype = VKATTN_DTYPE_Q8_0;
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_UNSUPPORTED, "k_dtype q8_0 needs qk_dim");
  d = small_desc();
  d.v_dim = 40;
  vkattn_attention_desc_set_dense_layouts(&d);
  d.v_dtype = VKATTN_DTYPE_Q4_0;
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_UNSUPPORTED, "v_dtype q4_0 needs v_dim");
  d = small_desc();
  d.k_dtype = VKATTN_DTYPE_F16;  // dtype is f32
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_UNSUPPORTED, "k_dtype (f16)");
  d = small_desc();
  d.v_dtype = static_cast<vkattn_dtype>(12);
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "v_dtype (12)");
  d = small_desc();
  d.dtype = VKATTN_DTYPE_Q8_0;  // Q and O are float
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "dtype");
  d = small_desc();
  d.k_dtype = VKATTN_DTYPE_Q4_0;
  d.k_layout.offset = 16;
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT,
                        "k_layout: a q4_0 tensor's offset and strides must be multiples of 32");
  d = small_desc();
  d.v_dtype = VKATTN_DTYPE_Q8_0;
  d.v_layout.seq_stride = 48;
  d.v_layout.head_stride = 48 * 32;
  d.v_layout.batch_stride = 2 * 48 * 32;
  CHECK_STATUS_MENTIONS(vkattn_plan_create(context, &d, 0, &plan), VKATTN_ERROR_INVALID_ARGUMENT, "v_layout");
  CHECK(plan == nullptr);

  // Buffers are sized in blocks: K of 2 x 2 x 32 rows of one q8_0 block is
  // 128 blocks of 34 bytes; one byte less is rejected.
  d = small_desc();
  d.k_dtype = VKATTN_DTYPE_Q8_0;
  d.v_dtype = VKATTN_DTYPE_Q4_0;
  REQUIRE(vkattn_plan_create(context, &d, 0, &plan) == VKATTN_SUCCESS);
  Buffer q(context, 2 * 4 * 16 * 32 * 4), out(context, 2 * 4 * 16 * 32 * 4);
  Buffer k(context, 128 * 34), v(context, 128 * 18), short_k(context, 128 * 34 - 1), short_v(context, 128 * 18 - 1);
  vkattn_bindings bindings;
  vkattn_bindings_init(&bindings);
  bindings.q = q;
  bindings.out = out;
  bindings.k = short_k;
  bindings.v = v;
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &bindings), VKATTN_ERROR_INVALID_ARGUMENT, "vkattn_bindings.k");
  bindings.k = k;
  bindings.v = short_v;
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &bindings), VKATTN_ERROR_INVALID_ARGUMENT, "vkattn_bindings.v");
  bindings.v = v;
  CHECK(vkattn_plan_execute(plan, &bindings) == VKATTN_SUCCESS);
  vkattn_plan_destroy(plan);
}
