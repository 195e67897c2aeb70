// The CPU tiling choice is a pure function of the problem and thread count.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "runtime/cpu/attention_kernel.h"
#include "runtime/problem.h"

namespace {

vkattn::Problem problem(int64_t batch, int64_t q_heads, int64_t kv_heads, int64_t q_len, int64_t kv_len, int64_t dim) {
  vkattn_attention_desc d;
  vkattn_attention_desc_init(&d);
  d.batch = batch;
  d.q_heads = q_heads;
  d.kv_heads = kv_heads;
  d.q_len = q_len;
  d.kv_len = kv_len;
  d.qk_dim = d.v_dim = dim;
  vkattn_attention_desc_set_dense_layouts(&d);
  vkattn::Problem p;
  REQUIRE(vkattn::make_problem(d, &p).ok());
  return p;
}

}  // namespace

TEST_CASE("decode with GQA uses the direct kernel, prefill packs blocks for XNNPACK") {
  const vkattn::cpu::Tiling decode = vkattn::cpu::choose_tiling(problem(1, 32, 8, 1, 32768, 128), 2);
  CHECK(decode.direct);
  const vkattn::cpu::Tiling prefill = vkattn::cpu::choose_tiling(problem(1, 8, 8, 2048, 2048, 64), 2);
  CHECK_FALSE(prefill.direct);
  CHECK(prefill.task_rows == 2048);  // 8 heads already give 4 tasks per thread
  CHECK(prefill.tasks == 8);
}

TEST_CASE("few heads are split into query chunks so every thread gets work") {
  const vkattn::cpu::Tiling t = vkattn::cpu::choose_tiling(problem(1, 1, 1, 32768, 32768, 64), 2);
  CHECK(t.tasks >= 8);
  CHECK(t.task_rows * t.tasks >= 32768);
  CHECK(t.task_rows % t.block_q == 0);
}

TEST_CASE("key blocks shrink for wide heads so packed blocks stay cache-sized") {
  CHECK(vkattn::cpu::choose_tiling(problem(1, 1, 1, 64, 4096, 64), 1).block_kv == 256);
  CHECK(vkattn::cpu::choose_tiling(problem(1, 1, 1, 64, 4096, 1024), 1).block_kv == 32);
  CHECK(vkattn::cpu::choose_tiling(problem(1, 1, 1, 64, 4096, 4096), 1).block_kv == 16);
  CHECK(vkattn::cpu::choose_tiling(problem(1, 1, 1, 64, 5, 64), 1).block_kv == 5);
}

TEST_CASE("per-task row state is bounded for huge query counts") {
  const vkattn::cpu::Tiling t = vkattn::cpu::choose_tiling(problem(1, 64, 1, 1 << 20, 16, 256), 1);
  const int64_t bytes = 64 * t.task_rows * (256 + 256 + 2) * 4;
  CHECK(bytes <= 8 * 1024 * 1024);
}

TEST_CASE("long direct tasks are split along the keys, the same way for every thread count") {
  const vkattn::Problem decode = problem(1, 32, 8, 1, 32768, 128);
  const vkattn::cpu::Tiling one = vkattn::cpu::choose_tiling(decode, 1);
  const vkattn::cpu::Tiling many = vkattn::cpu::choose_tiling(decode, 16);
  CHECK(one.kv_splits > 1);
  CHECK(one.kv_splits == many.kv_splits);
  CHECK(one.split_len == many.split_len);
  CHECK(one.split_len % one.block_kv == 0);
  CHECK(one.split_len * one.kv_splits >= 32768);
  CHECK(one.split_len * (one.kv_splits - 1) < 32768);  // no empty split
  // MQA: a single (batch, kv head) unit still gives every thread work.
  CHECK(vkattn::cpu::choose_tiling(problem(1, 8, 1, 1, 65536, 128), 2).tasks >= 8);
  // Short key ranges and prefill are not split.
  CHECK(vkattn::cpu::choose_tiling(problem(1, 32, 8, 1, 1031, 128), 2).kv_splits == 1);
  CHECK(vkattn::cpu::choose_tiling(problem(1, 8, 8, 2048, 2048, 64), 2).kv_splits == 1);
}

TEST_CASE("split partial results stay bounded however many units and keys") {
  const vkattn::cpu::Tiling t = vkattn::cpu::choose_tiling(problem(1, 64, 2, 1, 1 << 24, 4096), 2);
  const int64_t rows = 32 * t.task_rows;
  CHECK(t.tasks * rows * (4096 + 2) * 4 <= 16 * 1024 * 1024);
}

TEST_CASE("top-k tasks keep whole rows (no key splits), and a task's selections stay within the row-state bound") {
  vkattn::Problem decode = problem(1, 32, 8, 1, 32768, 128);
  decode.mode = VKATTN_MODE_TOPK;
  decode.topk = VKATTN_MAX_TOPK;
  const vkattn::cpu::Tiling t = vkattn::cpu::choose_tiling(decode, 2);
  CHECK(t.kv_splits == 1);
  CHECK(t.split_len == 32768);
  vkattn::Problem prefill = problem(1, 64, 1, 1 << 20, 16, 256);
  prefill.mode = VKATTN_MODE_TOPK;
  prefill.topk = VKATTN_MAX_TOPK;
  const vkattn::cpu::Tiling p = vkattn::cpu::choose_tiling(prefill, 1);
  CHECK(64 * p.task_rows * (256 + 256 + 2 + 4 * VKATTN_MAX_TOPK + 2) * 4 <= 8 * 1024 * 1024);
}

namespace {

// Offers `logits` (keys 0, 1, ...) to a fresh selection of k in blocks of
// `block` keys; the kept keys, sorted, and the row's count.
std::vector<int32_t> select_keys(const std::vector<float>& logits, int64_t k, int64_t block, int32_t* count) {
  std::vector<vkattn::cpu::TopkCandidate> candidates(static_cast<size_t>(2 * k));
  vkattn::cpu::TopkRow row{0, -std::numeric_limits<float>::infinity()};
  for (int64_t j0 = 0; j0 < static_cast<int64_t>(logits.size()); j0 += block) {
    const int64_t n = std::min<int64_t>(block, static_cast<int64_t>(logits.size()) - j0);
    vkattn::cpu::offer_topk(logits.data() + j0, n, j0, k, candidates.data(), &row);
  }
  vkattn::cpu::finish_topk(k, candidates.data(), &row);
  *count = row.count;
  std::vector<int32_t> keys;
  for (int32_t c = 0; c < std::max(row.count, 0); ++c) keys.push_back(vkattn::cpu::candidate_key(candidates[static_cast<size_t>(c)]));
  std::sort(keys.begin(), keys.end());
  return keys;
}

}  // namespace

TEST_CASE("top-k candidates order as logit then lower key, and give back both exactly") {
  const float values[] = {-std::numeric_limits<float>::infinity(), -3.5f, -1e-30f, -0.0f, 0.0f, 1e-30f, 2.0f, 7e37f,
                          std::numeric_limits<float>::infinity()};
  for (size_t a = 0; a < sizeof(values) / sizeof(values[0]); ++a) {
    for (size_t b = 0; b < sizeof(values) / sizeof(values[0]); ++b) {
      for (int32_t ka : {0, 5, 2147483647}) {
        const int32_t kb = 5;
        const vkattn::cpu::TopkCandidate x = vkattn::cpu::topk_candidate(values[a], ka);
        const vkattn::cpu::TopkCandidate y = vkattn::cpu::topk_candidate(values[b], kb);
        INFO(values[a] << " at " << ka << " against " << values[b] << " at " << kb);
        const bool ranks_above = values[a] > values[b] || (values[a] == values[b] && ka < kb);
        CHECK((x > y) == ranks_above);
        CHECK(vkattn::cpu::candidate_key(x) == ka);
        CHECK(vkattn::cpu::candidate_logit(x) == values[a]);  // (-0 comes back as +0, equal to it)
      }
    }
  }
}

TEST_CASE("offer_topk keeps the k largest logits, the lower key of equal ones, and skips hidden keys, in blocks of any size") {
  const float hidden = -std::numeric_limits<float>::infinity();
  int32_t count = 0;
  // Ties at the boundary: of the four 2.0s the two lowest keys stay.
  const std::vector<float> tied = {1.0f, 2.0f, 3.0f, 2.0f, hidden, 2.0f, 0.5f, 2.0f, 3.0f};
  CHECK(select_keys(tied, 4, 3, &count) == std::vector<int32_t>{1, 2, 3, 8});
  CHECK(count == 4);
  CHECK(select_keys(tied, 4, 1, &count) == std::vector<int32_t>{1, 2, 3, 8});  // blocks change nothing
  // Fewer visible keys than k: every visible key.
  CHECK(select_keys({hidden, 1.0f, hidden, -5.0f}, 3, 4, &count) == std::vector<int32_t>{1, 3});
  CHECK(count == 2);
  CHECK(select_keys({hidden, hidden}, 3, 4, &count).empty());
  CHECK(count == 0);
  // A NaN logit marks the row, wherever it comes.
  select_keys({1.0f, 2.0f, std::numeric_limits<float>::quiet_NaN(), 3.0f}, 2, 2, &count);
  CHECK(count == -1);
  // Against a sort by (logit descending, key ascending) on many rows of
  // few distinct values (ties everywhere).
  uint64_t state = 12345;
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t n = 1 + static_cast<int64_t>(state % 300), k = 1 + static_cast<int64_t>((state >> 20) % 40);
    std::vector<float> logits(static_cast<size_t>(n));
    for (float& x : logits) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      const int value = static_cast<int>((state >> 33) % 9);
      x = value == 0 ? hidden : static_cast<float>(value);
    }
    std::vector<int32_t> order;
    for (int64_t j = 0; j < n; ++j) {
      if (logits[static_cast<size_t>(j)] != hidden) order.push_back(static_cast<int32_t>(j));
    }
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
    if (static_cast<int64_t>(order.size()) > k) order.resize(static_cast<size_t>(k));
    std::sort(order.begin(), order.end());
    INFO("trial " << trial << ": n " << n << ", k " << k);
    CHECK(select_keys(logits, k, 1 + trial % 17, &count) == order);
  }
}
