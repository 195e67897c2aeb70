// What this CPU can do at best: the FMA rate and the read bandwidth of the
// threads vkattn uses, measured in the same run as the kernels they judge.
#pragma once

#include <cstddef>

namespace vkattn_bench {

struct CpuPeaks {
  const char* isa = "";           // the widest vector unit the probe used
  double fma_gflops = 0.0;        // 2 FLOPs per fused multiply-add
  double read_gbytes_per_s = 0.0;
};

CpuPeaks measure_cpu_peaks(int threads);

// The read bandwidth alone (GB/s): every thread streams its share of `bytes`,
// best of `runs`. Shared machines' memory bandwidth drifts by 2x within
// minutes, so the bench probes it again right before each decode case.
double measure_read_bandwidth(int threads, size_t bytes, int runs);

// The decode row kernels at every instruction-set level this CPU runs, on
// data that stays in cache (one thread, 4 query rows, head dim 128, 1024
// keys): ns per key for the scores (dot_rows) and for the weighted value
// sums (accumulate_products), per K/V storage type, printed as a table with
// each level's time over the widest level's, measured in the same run.
void print_row_kernel_levels();

}  // namespace vkattn_bench
