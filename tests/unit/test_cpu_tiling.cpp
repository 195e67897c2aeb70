// The CPU tiling choice is a pure function of the problem and thread count.
#include <doctest/doctest.h>

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
