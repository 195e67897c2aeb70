#include "baseline.h"

#include <pthreadpool.h>
#include <xnnpack.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>


namespace vkattn_bench {

namespace {

// One elementwise pass of the NumPy expression over every row of the
// materialised [B*H*Sq, Skv] matrix, spread over the threads.
struct Pass {
  float* scores;
  int64_t keys;
  int64_t q_len;
  int64_t kv_len;
  bool causal;
  float scale;
  float* row_stat;  // max, then sum, per row
  int step;
};

void pass_row(void* context, size_t index) {
  const Pass& pass = *static_cast<const Pass*>(context);
  float* row = pass.scores + index * static_cast<size_t>(pass.keys);
  float& stat = pass.row_stat[index];
  switch (pass.step) {
    case 0:  // s = s * scale
      for (int64_t j = 0; j < pass.keys; ++j) row[j] *= pass.scale;
      break;
    case 1:  // s[mask] = -inf (bottom-right causal)
      if (pass.causal) {
        const int64_t last = static_cast<int64_t>(index % static_cast<size_t>(pass.q_len)) + (pass.kv_len - pass.q_len);
        for (int64_t j = std::max<int64_t>(0, last + 1); j < pass.keys; ++j) row[j] = -INFINITY;
      }
      break;
    case 2: {  // m = s.max(-1)
      float m = -INFINITY;
      for (int64_t j = 0; j < pass.keys; ++j) m = std::max(m, row[j]);
      stat = m;
      break;
    }
    case 3:  // e = exp(s - m)
      for (int64_t j = 0; j < pass.keys; ++j) row[j] = std::exp(row[j] - stat);
      break;
    case 4: {  // l = e.sum(-1)
      float l = 0.0f;
      for (int64_t j = 0; j < pass.keys; ++j) l += row[j];
      stat = l;
      break;
    }
    default:  // p = e / l
      for (int64_t j = 0; j < pass.keys; ++j) row[j] /= stat;
      break;
  }
}

struct Pool {
  pthreadpool_t pool;
  explicit Pool(int threads) : pool(pthreadpool_create(static_cast<size_t>(threads))) {}
  ~Pool() { pthreadpool_destroy(pool); }
};

// S = Q K^T for one head into its slice of the materialised matrix, or
// O = P V; XNNPACK on all threads.
bool gemm(size_t in_channels, size_t out_channels, const float* weights, bool transposed, size_t rows,
          const float* input, float* output, pthreadpool_t pool) {
  xnn_operator_t op = nullptr;
  const bool ok = xnn_create_fully_connected_nc_f32(in_channels, out_channels, in_channels, out_channels, weights,
                                                    nullptr, -INFINITY, INFINITY,
                                                    transposed ? XNN_FLAG_TRANSPOSE_WEIGHTS : 0, &op) ==
                      xnn_status_success &&
                  xnn_setup_fully_connected_nc_f32(op, rows, input, output, pool) == xnn_status_success &&
                  xnn_run_operator(op, pool) == xnn_status_success;
  if (op != nullptr) xnn_delete_operator(op);
  return ok;
}

// One full execution, step by step as the tutorials write it:
//   s = q @ k.T; s *= scale; s[mask] = -inf; e = exp(s - s.max(-1)); p = e / e.sum(-1); o = p @ v
bool execute(const vkattn_test::HostInputs& in, pthreadpool_t pool, float* scores, std::vector<float>* row_stat,
             std::vector<float>* out) {
  const vkattn_attention_desc& d = in.desc;
  const int64_t group = d.q_heads / d.kv_heads;
  const size_t matrix = static_cast<size_t>(d.q_len * d.kv_len);
  auto head = [&](const std::vector<float>& data, const vkattn_tensor_layout& l, int64_t b, int64_t h) {
    return &data[l.offset + b * l.batch_stride + h * l.head_stride];
  };
  for (int64_t b = 0; b < d.batch; ++b) {
    for (int64_t h = 0; h < d.q_heads; ++h) {
      if (!gemm(d.qk_dim, d.kv_len, head(in.k, d.k_layout, b, h / group), false, d.q_len,
                head(in.q, d.q_layout, b, h), scores + static_cast<size_t>(b * d.q_heads + h) * matrix, pool)) {
        return false;
      }
    }
  }
  Pass pass{scores, d.kv_len, d.q_len, d.kv_len, d.causal != VKATTN_CAUSAL_NONE,
            static_cast<float>(vkattn_test::effective_scale(d)), row_stat->data(), 0};
  for (pass.step = 0; pass.step < 6; ++pass.step) {
    pthreadpool_parallelize_1d(pool, pass_row, &pass, row_stat->size(), 0);
  }
  for (int64_t b = 0; b < d.batch; ++b) {
    for (int64_t h = 0; h < d.q_heads; ++h) {
      float* o = out->data() + static_cast<size_t>((b * d.q_heads + h) * d.q_len * d.v_dim);
      if (!gemm(d.kv_len, d.v_dim, head(in.v, d.v_layout, b, h / group), true, d.q_len,
                scores + static_cast<size_t>(b * d.q_heads + h) * matrix, o, pool)) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

BaselineResult run_baseline(const vkattn_test::HostInputs& in, int threads, int runs) {
  BaselineResult result;
  const vkattn_attention_desc& d = in.desc;
  const uint64_t bytes = uint64_t(d.batch) * d.q_heads * d.q_len * d.kv_len * 4;
  result.extra_bytes = bytes;
  if (bytes > kBaselineMemoryLimit) {
    char why[128];
    std::snprintf(why, sizeof(why), "out of memory: the score matrix needs %.1f GiB", bytes / double(1 << 30));
    result.why_not = why;
    return result;
  }
  if (xnn_initialize(nullptr) != xnn_status_success) {
    result.why_not = "XNNPACK unavailable";
    return result;
  }
  // The dense f32 layout the tutorials use (the bench's cases are dense BHSD).
  float* scores = static_cast<float*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64 + 64));
  if (scores == nullptr) {
    result.why_not = "out of memory: the score matrix could not be allocated";
    return result;
  }
  std::vector<float> out(static_cast<size_t>(d.batch * d.q_heads * d.q_len * d.v_dim));
  std::vector<float> row_stat(static_cast<size_t>(d.batch * d.q_heads * d.q_len));
  Pool pool(threads);
  std::vector<double> times;
  for (int run = 0; run <= runs; ++run) {  // run 0 warms up
    const auto start = std::chrono::steady_clock::now();
    if (!execute(in, pool.pool, scores, &row_stat, &out)) {
      result.why_not = "XNNPACK failed";
      std::free(scores);
      return result;
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (run > 0) times.push_back(ms);
  }
  std::free(scores);
  std::sort(times.begin(), times.end());
  result.ran = true;
  result.min_ms = times.front();
  result.median_ms = times[times.size() / 2];
  // Sanity: the baseline must be right too.
  std::vector<double> want;
  double lse = 0, scale = 0, error = 0;
  for (int64_t h = 0; h < d.q_heads; h += std::max<int64_t>(1, d.q_heads / 4)) {
    for (int64_t i = 0; i < d.q_len; i += std::max<int64_t>(1, d.q_len / 8)) {
      vkattn_test::reference_row(in, 0, h, i, &want, &lse);
      for (int64_t c = 0; c < d.v_dim; ++c) {
        scale = std::max(scale, std::fabs(want[c]));
        error = std::max(error, std::fabs(out[(h * d.q_len + i) * d.v_dim + c] - want[c]));
      }
    }
  }
  result.max_error = scale > 0 ? error / scale : error;
  return result;
}

}  // namespace vkattn_bench
