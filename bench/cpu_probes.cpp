#include "cpu_probes.h"

#include <cpuinfo.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#endif

#include "runtime/cpu/row_ops.h"
#include "runtime/half.h"
#include "runtime/quant.h"

namespace vkattn_bench {

namespace {

constexpr long kFmaIterations = 20'000'000;
constexpr int kChains = 16;  // independent accumulators: enough to hide FMA latency
// The chains' loop is unrolled so the accumulators live in registers: left
// rolled, GCC kept them in an array in memory and every FMA waited on a
// store and a reload (the probe then read 162 GFLOP/s where the unit does
// about 530 on two threads, and kernels showed above 100 % of "peak").
#define VKATTN_UNROLL_CHAINS _Pragma("GCC unroll 16")

// Each returns a value depending on every FMA so nothing is optimised away.
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx512f"))) float fma_avx512(long iterations) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(1.0f + c * 1e-3f);
  const __m512 a = _mm512_set1_ps(0.9999999f), b = _mm512_set1_ps(1e-7f);
  for (long i = 0; i < iterations; ++i) {
    VKATTN_UNROLL_CHAINS
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
  }
  __m512 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm512_add_ps(sum, acc[c]);
  return _mm512_reduce_add_ps(sum);
}

__attribute__((target("avx2,fma"))) float fma_avx2(long iterations) {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(1.0f + c * 1e-3f);
  const __m256 a = _mm256_set1_ps(0.9999999f), b = _mm256_set1_ps(1e-7f);
  for (long i = 0; i < iterations; ++i) {
    VKATTN_UNROLL_CHAINS
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  }
  __m256 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm256_add_ps(sum, acc[c]);
  float lanes[8];
  _mm256_storeu_ps(lanes, sum);
  return lanes[0];
}
#endif

#if defined(__aarch64__) && defined(__ARM_NEON)
float fma_neon(long iterations) {
  float32x4_t acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = vdupq_n_f32(1.0f + c * 1e-3f);
  const float32x4_t a = vdupq_n_f32(0.9999999f), b = vdupq_n_f32(1e-7f);
  for (long i = 0; i < iterations; ++i) {
    VKATTN_UNROLL_CHAINS
    for (int c = 0; c < kChains; ++c) acc[c] = vfmaq_f32(b, acc[c], a);
  }
  float32x4_t sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = vaddq_f32(sum, acc[c]);
  return vaddvq_f32(sum);
}
#endif

float fma_scalar(long iterations) {
  float acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = 1.0f + c * 1e-3f;
  for (long i = 0; i < iterations; ++i) {
    VKATTN_UNROLL_CHAINS
    for (int c = 0; c < kChains; ++c) acc[c] = acc[c] * 0.9999999f + 1e-7f;
  }
  float sum = 0.0f;
  for (int c = 0; c < kChains; ++c) sum += acc[c];
  return sum;
}

template <class Work>
double best_seconds(int threads, int runs, Work work) {
  double best = 1e30;
  for (int run = 0; run < runs; ++run) {
    std::vector<std::thread> pool;
    const auto start = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t) pool.emplace_back([&work, t] { work(t); });
    for (std::thread& thread : pool) thread.join();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

}  // namespace

CpuPeaks measure_cpu_peaks(int threads) {
  CpuPeaks peaks;
  std::atomic<float> sink{0.0f};
  int lanes = 1;
  float (*kernel)(long) = fma_scalar;
  peaks.isa = "scalar";
#if defined(__x86_64__) || defined(__i386__)
  if (cpuinfo_initialize()) {
    if (cpuinfo_has_x86_avx512f()) {
      kernel = fma_avx512;
      lanes = 16;
      peaks.isa = "avx512";
    } else if (cpuinfo_has_x86_avx2() && cpuinfo_has_x86_fma3()) {
      kernel = fma_avx2;
      lanes = 8;
      peaks.isa = "avx2";
    }
  }
#elif defined(__aarch64__) && defined(__ARM_NEON)
  kernel = fma_neon;  // every arm64 CPU has NEON and its fused multiply-add
  lanes = 4;
  peaks.isa = "neon";
#endif
  const long iterations = lanes == 1 ? kFmaIterations / 8 : kFmaIterations;
  const double fma_seconds = best_seconds(threads, 7, [&](int) { sink = sink + kernel(iterations); });
  peaks.fma_gflops = 2.0 * lanes * kChains * double(iterations) * threads / fma_seconds / 1e9;

  peaks.read_gbytes_per_s = measure_read_bandwidth(threads, size_t{1} << 30, 5);
  return peaks;
}

double measure_read_bandwidth(int threads, size_t bytes, int runs) {
  std::atomic<float> sink{0.0f};
  float* data = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (data == nullptr) return 0.0;
  std::memset(data, 0, bytes);
  const size_t per_thread = bytes / 4 / static_cast<size_t>(threads);
  const double read_seconds = best_seconds(threads, runs, [&](int t) {
    const float* p = data + per_thread * static_cast<size_t>(t);
    float acc[16] = {};
    for (size_t i = 0; i + 16 <= per_thread; i += 16) {
      for (int j = 0; j < 16; ++j) acc[j] += p[i + j];
    }
    float sum = 0;
    for (float a : acc) sum += a;
    sink = sink + sum;
  });
  std::free(data);
  return double(per_thread) * 4 * threads / read_seconds / 1e9;
}

void print_row_kernel_levels() {
  using vkattn::cpu::RowOps;
  constexpr int kRows = 4, kDim = 128, kKeys = 1024, kBlock = 256, kRuns = 7;
  const RowOps* levels[8];
  const int count = std::min(vkattn::cpu::available_row_ops(levels, 8), 8);

  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::vector<float> keys(size_t{kKeys} * kDim), queries(kRows * kDim);
  for (float& x : keys) x = normal(rng);
  for (float& x : queries) x = normal(rng) * 0.09f;
  std::vector<uint16_t> halves(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) halves[i] = vkattn::float_to_half(keys[i]);
  const size_t blocks = keys.size() / vkattn::kQuantBlock;
  std::vector<uint8_t> q8(blocks * vkattn::kQ8BlockBytes), q4(blocks * vkattn::kQ4BlockBytes);
  for (size_t b = 0; b < blocks; ++b) {
    vkattn::quantize_block_q8_0(&keys[b * vkattn::kQuantBlock], &q8[b * vkattn::kQ8BlockBytes]);
    vkattn::quantize_block_q4_0(&keys[b * vkattn::kQuantBlock], &q4[b * vkattn::kQ4BlockBytes]);
  }
  struct Storage {
    const char* name;
    vkattn_dtype dtype;
    const uint8_t* bytes;
    size_t row_bytes;
  };
  const Storage storages[] = {
      {"f16", VKATTN_DTYPE_F16, reinterpret_cast<const uint8_t*>(halves.data()), kDim * 2},
      {"q8_0", VKATTN_DTYPE_Q8_0, q8.data(), kDim / vkattn::kQuantBlock * vkattn::kQ8BlockBytes},
      {"q4_0", VKATTN_DTYPE_Q4_0, q4.data(), kDim / vkattn::kQuantBlock * vkattn::kQ4BlockBytes}};
  std::vector<float> scores(kRows * kBlock), out(kRows * kDim), weights(kRows * kBlock, 1.0f / kKeys);

  // ns per key, [level][storage][scores, values]
  double ns[8][3][2] = {};
  float sink = 0.0f;
  for (int l = 0; l < count; ++l) {
    for (int s = 0; s < 3; ++s) {
      const Storage& st = storages[s];
      double best[2] = {1e30, 1e30};
      for (int run = 0; run < kRuns; ++run) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int c0 = 0; c0 < kKeys; c0 += kBlock) {
          levels[l]->dot_rows(queries.data(), kRows, st.bytes + c0 * st.row_bytes, st.dtype, kDim, kBlock, kDim,
                              scores.data());
        }
        const auto t1 = std::chrono::steady_clock::now();
        for (int c0 = 0; c0 < kKeys; c0 += kBlock) {
          levels[l]->accumulate_products(weights.data(), kRows, kBlock, st.bytes + c0 * st.row_bytes, st.dtype, kDim,
                                         kDim, out.data());
        }
        const auto t2 = std::chrono::steady_clock::now();
        best[0] = std::min(best[0], std::chrono::duration<double>(t1 - t0).count());
        best[1] = std::min(best[1], std::chrono::duration<double>(t2 - t1).count());
      }
      sink += scores[1] + out[1];
      for (int phase = 0; phase < 2; ++phase) ns[l][s][phase] = best[phase] / kKeys * 1e9;
    }
  }

  std::printf("\ncpu row kernels per instruction-set level (1 thread, %d query rows, D=%d, %d keys in cache), "
              "ns per key: scores + values, and the time over %s's\n",
              kRows, kDim, kKeys, levels[0]->isa);
  std::printf("%-10s", "level");
  for (const Storage& st : storages) std::printf(" %24s", st.name);
  std::printf("\n");
  for (int l = 0; l < count; ++l) {
    std::printf("%-10s", levels[l]->isa);
    for (int s = 0; s < 3; ++s) {
      const double total = ns[l][s][0] + ns[l][s][1], widest = ns[0][s][0] + ns[0][s][1];
      char cell[64];
      std::snprintf(cell, sizeof(cell), "%.1f + %.1f (%.2fx)", ns[l][s][0], ns[l][s][1], total / widest);
      std::printf(" %24s", cell);
    }
    std::printf("\n");
  }
  if (sink != sink) std::printf("(non-finite kernel output)\n");
}

}  // namespace vkattn_bench
