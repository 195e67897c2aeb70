// The CPU backend's row kernels, for every instruction-set level this CPU
// can run: exp accuracy, the online-softmax step, conversions, products.
// All levels must agree bitwise, so results never depend on the machine.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "f16.h"
#include "quant_blocks.h"
#include "runtime/cpu/row_ops.h"

using vkattn::cpu::RowOps;

namespace {

std::vector<const RowOps*> all_levels() {
  const RowOps* ops[8];
  const int count = vkattn::cpu::available_row_ops(ops, 8);
  return std::vector<const RowOps*>(ops, ops + count);
}

std::vector<float> ramp(int n, float scale) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[i] = std::sin(0.37f * i) * scale;
  return v;
}

}  // namespace

TEST_CASE("the chosen level is the widest available, and the baseline is always there") {
  const std::vector<const RowOps*> levels = all_levels();
  REQUIRE(!levels.empty());
  CHECK(&vkattn::cpu::row_ops() == levels.front());
#if defined(__aarch64__)
  CHECK(std::strcmp(levels.back()->isa, "neon") == 0);  // the portable build, with NEON on every arm64 CPU
#else
  CHECK(std::strcmp(levels.back()->isa, "baseline") == 0);
#endif
  MESSAGE("row kernels chosen for this CPU: ", vkattn::cpu::row_ops().isa);
}

TEST_CASE("exp_nonpositive is accurate to 2e-7 relative on [-87.3, 0] at every level") {
  for (const RowOps* ops : all_levels()) {
    CAPTURE(ops->isa);
    double worst = 0.0;
    for (int i = 0; i <= 2000000; ++i) {
      const float x = -87.3f * static_cast<float>(i) / 2000000.0f;
      const double want = std::exp(static_cast<double>(x));
      worst = std::fmax(worst, std::fabs(ops->exp_nonpositive(x) - want) / want);
    }
    CHECK(worst < 2e-7);
    CHECK(ops->exp_nonpositive(-std::numeric_limits<float>::infinity()) == 0.0f);
    CHECK(ops->exp_nonpositive(-1000.0f) == 0.0f);
    CHECK(ops->exp_nonpositive(-3.4e38f) == 0.0f);
    CHECK(ops->exp_nonpositive(0.0f) == 1.0f);
    CHECK(std::isnan(ops->exp_nonpositive(std::numeric_limits<float>::quiet_NaN())));
  }
}

TEST_CASE("softmax_step keeps the running max and sum of a split row exact") {
  // Two parts of one row processed in turn give the normaliser of the whole.
  std::vector<float> row = {0.5f, -1.0f, 3.0f, 2.0f, -7.0f, 1.25f, 0.0f, 4.5f, -2.0f, 0.1f,
                            0.2f, 0.3f, -0.4f, 2.2f, 1.1f, -3.3f, 0.7f, 0.9f, 1.9f, -0.8f};
  double want_max = -1e300, want_sum = 0;
  for (float s : row) want_max = std::fmax(want_max, s);
  for (float s : row) want_sum += std::exp(s - want_max);
  for (const RowOps* ops : all_levels()) {
    CAPTURE(ops->isa);
    float m = vkattn::cpu::kScoreFloor, l = 0.0f;
    std::vector<float> first(row.begin(), row.begin() + 7), second(row.begin() + 7, row.end());
    CHECK(ops->softmax_step(first.data(), 7, &m, &l) == 0.0f);  // from the floor: nothing to rescale
    const float alpha = ops->softmax_step(second.data(), 13, &m, &l);
    CHECK(m == 4.5f);
    CHECK(alpha == doctest::Approx(std::exp(3.0 - 4.5)).epsilon(1e-6));
    CHECK(l == doctest::Approx(want_sum).epsilon(1e-6));
    CHECK(second[0] == doctest::Approx(1.0).epsilon(1e-7));  // exp(4.5 - 4.5)
  }
}

TEST_CASE("softmax_step on a row of hidden keys changes nothing") {
  for (const RowOps* ops : all_levels()) {
    CAPTURE(ops->isa);
    std::vector<float> hidden(37, -std::numeric_limits<float>::infinity());
    float m = vkattn::cpu::kScoreFloor, l = 0.0f;
    CHECK(ops->softmax_step(hidden.data(), 37, &m, &l) == 1.0f);
    CHECK(l == 0.0f);
    CHECK(m == vkattn::cpu::kScoreFloor);
    for (float p : hidden) CHECK(p == 0.0f);
  }
}

TEST_CASE("every level computes bitwise the same results") {
  const std::vector<const RowOps*> levels = all_levels();
  const RowOps& base = *levels.back();
  const int n = 301, rows = 5, dim = 67;
  for (const RowOps* ops : levels) {
    CAPTURE(ops->isa);
    std::vector<float> a = ramp(n, 9.0f), b = a;
    for (int i = 0; i < n; i += 7) a[i] = b[i] = -std::numeric_limits<float>::infinity();
    float ma = -2.0f, la = 3.0f, mb = -2.0f, lb = 3.0f;
    CHECK(ops->softmax_step(a.data(), n, &ma, &la) == base.softmax_step(b.data(), n, &mb, &lb));
    CHECK(std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
    CHECK(ma == mb);
    CHECK(la == lb);

    const std::vector<float> q = ramp(rows * dim, 1.0f), k = ramp(n * dim, 0.5f);
    std::vector<float> sa(rows * n), sb(rows * n);
    ops->dot_rows(q.data(), rows, k.data(), VKATTN_DTYPE_F32, dim, n, dim, sa.data());
    base.dot_rows(q.data(), rows, k.data(), VKATTN_DTYPE_F32, dim, n, dim, sb.data());
    CHECK(std::memcmp(sa.data(), sb.data(), sa.size() * 4) == 0);

    std::vector<float> oa(rows * dim, 1.0f), ob(rows * dim, 1.0f);
    ops->accumulate_weighted_rows(sa.data(), rows, n, k.data(), VKATTN_DTYPE_F32, dim, dim, oa.data());
    base.accumulate_weighted_rows(sb.data(), rows, n, k.data(), VKATTN_DTYPE_F32, dim, dim, ob.data());
    CHECK(std::memcmp(oa.data(), ob.data(), oa.size() * 4) == 0);
    std::vector<float> pa(rows * dim, 1.0f), pb(rows * dim, 1.0f);
    CHECK(ops->accumulate_products(sa.data(), rows, n, k.data(), VKATTN_DTYPE_F32, dim, dim, pa.data()));
    CHECK(base.accumulate_products(sb.data(), rows, n, k.data(), VKATTN_DTYPE_F32, dim, dim, pb.data()));
    CHECK(std::memcmp(pa.data(), pb.data(), pa.size() * 4) == 0);
  }
}

TEST_CASE("f16 rows convert exactly at every level, and non-finite values are detected") {
  std::vector<uint16_t> halves;
  for (uint32_t bits = 0; bits < 65536; bits += 3) halves.push_back(static_cast<uint16_t>(bits));
  for (const RowOps* ops : all_levels()) {
    CAPTURE(ops->isa);
    std::vector<float> out(halves.size());
    ops->load_row(halves.data(), VKATTN_DTYPE_F16, static_cast<int64_t>(halves.size()), 1.0f, out.data());
    for (size_t i = 0; i < halves.size(); ++i) {
      const double want = vkattn_test::decode_f16(halves[i]);
      if (std::isnan(want)) {
        REQUIRE(std::isnan(out[i]));
      } else {
        REQUIRE_MESSAGE(out[i] == want, "bits " << halves[i]);
      }
    }
    const uint16_t finite[9] = {0x3c00, 0x4000, 0xbc00, 0x0001, 0x7bff, 0, 0x8000, 0x1234, 0x3555};
    uint16_t with_inf[9];
    std::memcpy(with_inf, finite, sizeof(finite));
    with_inf[8] = 0x7c00;
    float scratch[9];
    CHECK(ops->load_row_check_finite(finite, VKATTN_DTYPE_F16, 9, scratch));
    CHECK_FALSE(ops->load_row_check_finite(with_inf, VKATTN_DTYPE_F16, 9, scratch));
    const float with_nan[3] = {1.0f, std::numeric_limits<float>::quiet_NaN(), 2.0f};
    CHECK_FALSE(ops->load_row_check_finite(with_nan, VKATTN_DTYPE_F32, 3, scratch));
  }
}

TEST_CASE("dot_rows and accumulate_products match float64 sums for odd sizes") {
  for (const RowOps* ops : all_levels()) {
    CAPTURE(ops->isa);
    for (int dim : {1, 15, 16, 17, 64, 67, 130}) {
      for (int rows : {1, 3, 4, 5, 9}) {
        const int n = 23;
        const std::vector<float> q = ramp(rows * dim, 1.0f), k = ramp(n * dim, 0.75f);
        std::vector<float> s(rows * n);
        ops->dot_rows(q.data(), rows, k.data(), VKATTN_DTYPE_F32, dim, n, dim, s.data());
        std::vector<float> out(rows * dim, 0.5f);
        CHECK(ops->accumulate_products(s.data(), rows, n, k.data(), VKATTN_DTYPE_F32, dim, dim, out.data()));
        for (int r = 0; r < rows; ++r) {
          for (int c = 0; c < n; ++c) {
            double want = 0;
            for (int d = 0; d < dim; ++d) want += double(q[r * dim + d]) * k[c * dim + d];
            REQUIRE(s[r * n + c] == doctest::Approx(want).epsilon(1e-5).scale(1.0));
          }
          for (int d = 0; d < dim; ++d) {
            double want = 0.5;
            for (int c = 0; c < n; ++c) want += double(s[r * n + c]) * k[c * dim + d];
            REQUIRE(out[r * dim + d] == doctest::Approx(want).epsilon(1e-5).scale(1.0));
          }
        }
      }
    }
  }
}

TEST_CASE("accumulate_weighted_rows never lets a value under a zero weight through") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float p[] = {0.5f, 0.0f, 0.25f};  // one row, three keys
  const float v[] = {1.0f, 2.0f, nan, nan, 4.0f, 8.0f};
  for (const RowOps* ops : all_levels()) {
    CAPTURE(ops->isa);
    float out[2] = {0.0f, 0.0f};
    ops->accumulate_weighted_rows(p, 1, 3, v, VKATTN_DTYPE_F32, 2, 2, out);
    CHECK(out[0] == 1.5f);
    CHECK(out[1] == 3.0f);
    float blocked[2] = {0.0f, 0.0f};
    CHECK_FALSE(ops->accumulate_products(p, 1, 3, v, VKATTN_DTYPE_F32, 2, 2, blocked));  // reports the NaN
  }
}

TEST_CASE("q8_0 and q4_0 rows: every level loads, multiplies and accumulates the exact block values, bit for bit alike") {
  // 9 key rows of 64 values (two blocks each), 96 values apart, so the gap
  // block after each row (a NaN scale) is never read. Codes and scales from
  // the tests' own codec (quant_blocks.h).
  const int dim = 64, n = 9, rows = 5, stride = 96;
  const std::vector<float> q = ramp(rows * dim, 0.8f);
  for (vkattn_dtype type : {VKATTN_DTYPE_Q8_0, VKATTN_DTYPE_Q4_0}) {
    CAPTURE(type);
    const uint64_t block_bytes = vkattn_test::block_size_bytes(type);
    std::vector<uint8_t> blocks(static_cast<size_t>(n * stride / 32 * block_bytes), 0xff);
    std::vector<float> exact(static_cast<size_t>(n * dim));  // the values the blocks hold
    const std::vector<float> source = ramp(n * dim, 3.0f);
    for (int j = 0; j < n; ++j) {
      for (int b = 0; b < dim / 32; ++b) {
        uint8_t* block = &blocks[static_cast<size_t>((j * stride / 32 + b) * block_bytes)];
        vkattn_test::encode_block(type, &source[static_cast<size_t>(j * dim + b * 32)], block);
        for (int e = 0; e < 32; ++e) exact[static_cast<size_t>(j * dim + b * 32 + e)] = vkattn_test::decode_block_value(type, block, e);
      }
    }
    std::vector<float> reference_scores, reference_out;
    for (const RowOps* ops : all_levels()) {
      CAPTURE(ops->isa);
      std::vector<float> loaded(static_cast<size_t>(dim));
      ops->load_row(&blocks[static_cast<size_t>(2 * stride / 32 * block_bytes)], type, dim, 1.0f, loaded.data());
      CHECK(std::memcmp(loaded.data(), &exact[2 * dim], sizeof(float) * dim) == 0);
      CHECK(ops->load_row_check_finite(&blocks[0], type, dim, loaded.data()));
      std::vector<float> scores(static_cast<size_t>(rows * n));
      ops->dot_rows(q.data(), rows, blocks.data(), type, stride, n, dim, scores.data());
      double worst = 0.0;
      for (int r = 0; r < rows; ++r) {
        for (int j = 0; j < n; ++j) {
          double want = 0.0;
          for (int d = 0; d < dim; ++d) want += double(q[r * dim + d]) * exact[j * dim + d];
          worst = std::fmax(worst, std::fabs(scores[r * n + j] - want));
        }
      }
      CHECK(worst < 1e-4);
      std::vector<float> weights(static_cast<size_t>(rows * n));
      for (size_t i = 0; i < weights.size(); ++i) weights[i] = 0.05f + 0.01f * static_cast<float>(i % 7);
      std::vector<float> out(static_cast<size_t>(rows * dim), 0.0f);
      CHECK(ops->accumulate_products(weights.data(), rows, n, blocks.data(), type, stride, dim, out.data()));
      worst = 0.0;
      for (int r = 0; r < rows; ++r) {
        for (int d = 0; d < dim; ++d) {
          double want = 0.0;
          for (int j = 0; j < n; ++j) want += double(weights[r * n + j]) * exact[j * dim + d];
          worst = std::fmax(worst, std::fabs(out[r * dim + d] - want));
        }
      }
      CHECK(worst < 1e-4);
      if (reference_scores.empty()) {
        reference_scores = scores;
        reference_out = out;
      } else {
        CHECK(std::memcmp(scores.data(), reference_scores.data(), sizeof(float) * scores.size()) == 0);
        CHECK(std::memcmp(out.data(), reference_out.data(), sizeof(float) * out.size()) == 0);
      }
    }
  }
}

TEST_CASE("a q8_0 or q4_0 block with a NaN scale is reported as non-finite at every level") {
  std::vector<uint8_t> blocks(34 * 2, 0);
  blocks[34] = 0x00;  // second block's scale: f16 0x7e00, NaN
  blocks[35] = 0x7e;
  std::vector<float> out(64);
  for (const RowOps* ops : all_levels()) {
    CAPTURE(ops->isa);
    CHECK_FALSE(ops->load_row_check_finite(blocks.data(), VKATTN_DTYPE_Q8_0, 64, out.data()));
    CHECK(std::isnan(out[40]));
    CHECK(out[3] == 0.0f);
  }
}
