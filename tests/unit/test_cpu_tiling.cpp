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
