#include "cpu_probes.h"

#include <cpuinfo.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace vkattn_bench {

namespace {

constexpr long kFmaIterations = 20'000'000;
constexpr int kChains = 16;  // independent accumulators: enough to hide FMA latency

// Each returns a value depending on every FMA so nothing is optimised away.
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx512f"))) float fma_avx512(long iterations) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(1.0f + c * 1e-3f);
  const __m512 a = _mm512_set1_ps(0.9999999f), b = _mm512_set1_ps(1e-7f);
  for (long i = 0; i < iterations; ++i) {
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
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  }
  __m256 sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum = _mm256_add_ps(sum, acc[c]);
  float lanes[8];
  _mm256_storeu_ps(lanes, sum);
  return lanes[0];
}
#endif

float fma_scalar(long iterations) {
  float acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = 1.0f + c * 1e-3f;
  for (long i = 0; i < iterations; ++i) {
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

}  // namespace vkattn_bench
