#include "reference.h"

#include "tolerance.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <utility>

namespace vkattn_test {

namespace {

uint64_t tensor_index(const vkattn_tensor_layout& layout, int64_t b, int64_t h, int64_t s) {
  return layout.offset + static_cast<uint64_t>(b * layout.batch_stride + h * layout.head_stride +
                                               s * layout.seq_stride);
}

uint64_t mask_index(const vkattn_mask_layout& layout, int64_t b, int64_t h, int64_t i, int64_t j) {
  return layout.offset + static_cast<uint64_t>(b * layout.batch_stride + h * layout.head_stride +
                                               i * layout.row_stride + j * layout.col_stride);
}

}  // namespace

int64_t key_length(const HostInputs& in, int64_t b) {
  return in.desc.has_kv_lens ? in.kv_lens[static_cast<size_t>(b)] : in.desc.kv_len;
}

int64_t query_length(const HostInputs& in, int64_t b) {
  if (in.desc.packed_q_rows > 0) return in.cu_seqlens_q[static_cast<size_t>(b) + 1] - in.cu_seqlens_q[static_cast<size_t>(b)];
  return in.desc.has_q_lens ? in.q_lens[static_cast<size_t>(b)] : in.desc.q_len;
}

uint64_t query_index(const HostInputs& in, const vkattn_tensor_layout& layout, int64_t b, int64_t h, int64_t i) {
  if (in.desc.packed_q_rows > 0) return tensor_index(layout, 0, h, in.cu_seqlens_q[static_cast<size_t>(b)] + i);
  return tensor_index(layout, b, h, i);
}

void rotate_rope(const vkattn_rope& rope, int64_t head_dim, int64_t position, double* x) {
  const int64_t dims = rope.dims != 0 ? rope.dims : head_dim;
  const double theta = rope.theta != 0.0f ? rope.theta : 10000.0;
  const int64_t half = dims / 2;
  for (int64_t p = 0; p < half; ++p) {
    const double angle = static_cast<double>(position) * std::pow(theta, -2.0 * static_cast<double>(p) / dims);
    // NeoX turns (x[p], x[p + R/2]); GPT-J turns (x[2p], x[2p + 1]).
    const int64_t a = rope.style == VKATTN_ROPE_NEOX ? p : 2 * p;
    const int64_t c = rope.style == VKATTN_ROPE_NEOX ? p + half : 2 * p + 1;
    const double first = x[a], second = x[c];
    x[a] = first * std::cos(angle) - second * std::sin(angle);
    x[c] = first * std::sin(angle) + second * std::cos(angle);
  }
}

double effective_scale(const vkattn_attention_desc& desc) {
  if (desc.scale != 0.0f) return desc.scale;
  return static_cast<double>(static_cast<float>(1.0 / std::sqrt(static_cast<double>(desc.qk_dim))));
}

// Where key j of (b, kv head h) lives in K or V: row j of the batch, or,
// with paged K/V, row j % page_size of page block_table[b][j / page_size].
uint64_t key_index(const HostInputs& in, const vkattn_tensor_layout& layout, int64_t b, int64_t h, int64_t j) {
  const vkattn_attention_desc& d = in.desc;
  if (d.page_size == 0) return tensor_index(layout, b, h, j);
  const int32_t page = in.block_table[static_cast<size_t>(b * d.max_pages + j / d.page_size)];
  return tensor_index(layout, page, h, j % d.page_size);
}

int64_t diagonal_key(const HostInputs& in, int64_t b, int64_t i) {
  // Bottom-right alignment puts the last query on the last key; top-left
  // puts query i on key i.
  return in.desc.causal == VKATTN_CAUSAL_TOP_LEFT ? i : i + (key_length(in, b) - query_length(in, b));
}

KeySpans visible_key_spans(const HostInputs& in, int64_t b, int64_t i) {
  const vkattn_attention_desc& d = in.desc;
  const int64_t L = key_length(in, b);
  const int64_t diagonal = diagonal_key(in, b, i);
  KeySpans spans;
  spans.end = L;
  if (d.causal != VKATTN_CAUSAL_NONE) spans.end = std::min(spans.end, diagonal + 1);
  spans.global_end = std::max<int64_t>(0, std::min(spans.end, d.global_keys));
  if (d.window_left >= 0) spans.first = std::max(spans.first, diagonal - d.window_left);
  if (d.window_right >= 0) spans.end = std::min(spans.end, diagonal + d.window_right + 1);
  spans.end = std::max(spans.end, spans.first);
  return spans;
}

bool reference_visible(const HostInputs& in, int64_t b, int64_t h, int64_t i, int64_t j) {
  const vkattn_attention_desc& d = in.desc;
  const int64_t L = key_length(in, b);
  if (j >= L) return false;
  const int64_t diagonal = diagonal_key(in, b, i);
  if (d.causal != VKATTN_CAUSAL_NONE && j > diagonal) return false;
  // The first global_keys keys are exempt from the window.
  const bool global = j < d.global_keys;
  if (!global && d.window_left >= 0 && j < diagonal - d.window_left) return false;
  if (!global && d.window_right >= 0 && j > diagonal + d.window_right) return false;
  if (d.has_bool_mask && in.bool_mask[mask_index(d.bool_mask_layout, b, h, i, j)] == 0) return false;
  if (d.mode == VKATTN_MODE_BLOCK_SPARSE) {
    // Block (i / block_q, j / block_k) of the mask [batch|1, heads|1, ., .].
    const vkattn_block_sparse& bs = d.block_sparse;
    const int64_t q_blocks = (d.q_len + bs.block_q - 1) / bs.block_q, k_blocks = (d.kv_len + bs.block_k - 1) / bs.block_k;
    const int64_t mb = bs.mask_batch == 1 ? 0 : b, mh = bs.mask_heads == 1 ? 0 : h;
    const size_t entry = static_cast<size_t>(((mb * bs.mask_heads + mh) * q_blocks + i / bs.block_q) * k_blocks + j / bs.block_k);
    if (in.block_mask[entry] == 0) return false;
  }
  if (d.has_additive_mask) {
    const float add = in.additive_mask[mask_index(d.additive_mask_layout, b, h, i, j)];
    if (add == -std::numeric_limits<float>::infinity()) return false;
  }
  return true;
}

std::vector<double> reference_query(const HostInputs& in, int64_t b, int64_t h, int64_t i) {
  const vkattn_attention_desc& d = in.desc;
  std::vector<double> q(static_cast<size_t>(d.qk_dim));
  const float* q_stored = &in.q[query_index(in, d.q_layout, b, h, i)];
  for (int64_t c = 0; c < d.qk_dim; ++c) q[c] = q_stored[c];
  if (d.rope.style != VKATTN_ROPE_NONE) rotate_rope(d.rope, d.qk_dim, key_length(in, b) - query_length(in, b) + i, q.data());
  return q;
}

double reference_logit(const HostInputs& in, int64_t b, int64_t h, int64_t i, int64_t j, const std::vector<double>& q,
                       double* magnitude) {
  const vkattn_attention_desc& d = in.desc;
  const double scale = effective_scale(d);
  const float* k = &in.k[key_index(in, d.k_layout, b, h / (d.q_heads / d.kv_heads), j)];
  double dot = 0.0;
  double sum_abs = 0.0;
  for (int64_t c = 0; c < d.qk_dim; ++c) {
    dot += q[c] * static_cast<double>(k[c]);
    sum_abs += std::fabs(q[c] * static_cast<double>(k[c]));
  }
  if (magnitude != nullptr) *magnitude = std::fabs(scale) * sum_abs;
  double logit = scale * dot;
  if (d.softcap > 0.0f) logit = d.softcap * std::tanh(logit / d.softcap);
  if (!in.alibi_slopes.empty()) {
    logit -= static_cast<double>(in.alibi_slopes[static_cast<size_t>(h)]) *
             static_cast<double>(std::llabs(diagonal_key(in, b, i) - j));
  }
  if (d.has_additive_mask) logit += in.additive_mask[mask_index(d.additive_mask_layout, b, h, i, j)];
  return logit;
}

namespace {

// Computes one row; also reports the quantities the tolerance needs.
// Top-k: *topk_allowance (two doubles, when given) receives the row's
// allowances on O and LSE (reference.h); they stay as they are otherwise.
void compute_row(const HostInputs& in, int64_t b, int64_t h, int64_t i, double* out, double* lse,
                 ReferenceOutput* stats, double* topk_allowance) {
  const vkattn_attention_desc& d = in.desc;
  const int64_t kv_head = h / (d.q_heads / d.kv_heads);
  const std::vector<double> q = reference_query(in, b, h, i);
  std::vector<double> logits(static_cast<size_t>(d.kv_len));
  std::vector<char> visible(static_cast<size_t>(d.kv_len));
  std::vector<int64_t> seen;  // the visible keys, in order
  double max_logit = -std::numeric_limits<double>::infinity();
  double row_magnitude = 0.0;  // the row's largest scale * sum_d |q_d k_d|
  bool any_nan = false;
  for (int64_t j = 0; j < d.kv_len; ++j) {
    visible[j] = reference_visible(in, b, h, i, j);
    if (!visible[j]) continue;
    seen.push_back(j);
    double magnitude = 0.0;
    const double logit = reference_logit(in, b, h, i, j, q, &magnitude);
    logits[j] = logit;
    if (std::isnan(logit)) any_nan = true;
    if (logit > max_logit) max_logit = logit;
    row_magnitude = std::fmax(row_magnitude, magnitude);
  }
  const int64_t count = static_cast<int64_t>(seen.size());
  stats->max_logit_magnitude = std::fmax(stats->max_logit_magnitude, row_magnitude);
  stats->visible_pairs += static_cast<uint64_t>(count);
  stats->max_row_keys = std::max(stats->max_row_keys, count);
  for (int64_t c = 0; c < d.v_dim; ++c) out[c] = 0.0;
  // A sink is one more logit in the softmax, without a value.
  const bool has_sink = !in.sinks.empty();
  const double sink = has_sink ? in.sinks[static_cast<size_t>(h)] : 0.0;
  if (count == 0) {
    *lse = has_sink ? sink : -std::numeric_limits<double>::infinity();  // out stays zero
    return;
  }
  // Top-k: keep the k largest logits, of equal ones the lower key: sort
  // the visible keys by (logit descending, key ascending), hide the rest.
  // The keys kept within the selection margin of the best dropped logit
  // (not equal to it) are the ones a kernel may swap (reference.h).
  std::vector<int64_t> near_ties;
  double near_tie_margin = 0.0;
  if (d.mode == VKATTN_MODE_TOPK && count > d.topk.k && !any_nan) {
    std::vector<int64_t> order = seen;
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t c) { return logits[a] > logits[c]; });
    const size_t k = static_cast<size_t>(d.topk.k);
    const double best_dropped = logits[order[k]];
    near_tie_margin = topk_selection_margin(row_magnitude);
    for (size_t r = 0; r < k; ++r) {
      const double gap = logits[order[r]] - best_dropped;
      if (gap > 0.0 && gap < near_tie_margin) near_ties.push_back(order[r]);
    }
    for (size_t r = k; r < order.size(); ++r) visible[order[r]] = 0;
    max_logit = logits[order[0]];
  }
  if (has_sink && sink > max_logit) max_logit = sink;
  if (any_nan) max_logit = std::numeric_limits<double>::quiet_NaN();
  double sum = 0.0;
  for (int64_t j = 0; j < d.kv_len; ++j) {
    if (!visible[j]) continue;
    const double weight = std::exp(logits[j] - max_logit);
    // A zero weight contributes nothing, whatever the value holds.
    if (weight == 0.0) continue;
    sum += weight;
    const float* v = &in.v[key_index(in, d.v_layout, b, kv_head, j)];
    for (int64_t c = 0; c < d.v_dim; ++c) {
      out[c] += weight * static_cast<double>(v[c]);
      stats->max_abs_v = std::fmax(stats->max_abs_v, std::fabs(static_cast<double>(v[c])));
    }
  }
  if (has_sink) sum += std::exp(sink - max_logit);
  for (int64_t c = 0; c < d.v_dim; ++c) out[c] /= sum;
  *lse = max_logit + std::log(sum);
  if (!near_ties.empty() && topk_allowance != nullptr) {
    double weight = 0.0, row_max_abs_v = 0.0;
    for (int64_t j : near_ties) weight += std::exp(logits[j] - max_logit) / sum;
    for (int64_t j : seen) {  // (kept or dropped: either may come in)
      const float* v = &in.v[key_index(in, d.v_layout, b, kv_head, j)];
      for (int64_t c = 0; c < d.v_dim; ++c) row_max_abs_v = std::fmax(row_max_abs_v, std::fabs(static_cast<double>(v[c])));
    }
    topk_allowance[0] = 2.0 * weight * row_max_abs_v;
    topk_allowance[1] = near_tie_margin;
  }
}

}  // namespace

namespace {

// Outputs of the problem's shape, all 0 (and LSE 0) until computed.
ReferenceOutput zero_output(const vkattn_attention_desc& d) {
  ReferenceOutput result;
  result.out.assign(static_cast<size_t>(d.batch * d.q_heads * d.q_len * d.v_dim), 0.0);
  result.lse.assign(static_cast<size_t>(d.batch * d.q_heads * d.q_len), 0.0);
  return result;
}

// phi(sqrt(scale) x) for one row x of qk_dim values, per include/vkattn.h:
// elu(x) + 1, or FAVOR+'s exp(W x - |x|^2 / 2) / sqrt(m) divided by
// exp(stabiliser) (a factor that cancels in O; the caller picks it so that
// no exponent is positive).
std::vector<double> linear_exponents(const HostInputs& in, const double* x) {
  const vkattn_attention_desc& d = in.desc;
  if (d.linear.feature_map == VKATTN_FEATURE_MAP_ELU) return std::vector<double>(x, x + d.qk_dim);
  const int64_t m = d.linear.num_features;
  double half_norm = 0.0;
  for (int64_t e = 0; e < d.qk_dim; ++e) half_norm += 0.5 * x[e] * x[e];
  std::vector<double> exponents(static_cast<size_t>(m));
  for (int64_t f = 0; f < m; ++f) {
    double dot = 0.0;
    for (int64_t e = 0; e < d.qk_dim; ++e) dot += static_cast<double>(in.features[static_cast<size_t>(f * d.qk_dim + e)]) * x[e];
    exponents[static_cast<size_t>(f)] = dot - half_norm;
  }
  return exponents;
}

std::vector<double> linear_features(const HostInputs& in, const std::vector<double>& exponents, double stabiliser) {
  std::vector<double> phi(exponents.size());
  const bool elu = in.desc.linear.feature_map == VKATTN_FEATURE_MAP_ELU;
  const double norm = 1.0 / std::sqrt(static_cast<double>(exponents.size()));
  for (size_t f = 0; f < phi.size(); ++f) {
    const double x = exponents[f];
    phi[f] = elu ? (x > 0.0 ? x + 1.0 : std::exp(x)) : std::exp(x - stabiliser) * norm;
  }
  return phi;
}

// The keys [0, end) query row i of batch b sees in linear mode.
int64_t linear_row_keys(const HostInputs& in, int64_t b, int64_t i) {
  const int64_t L = key_length(in, b);
  return in.desc.causal == VKATTN_CAUSAL_NONE ? L : std::clamp<int64_t>(diagonal_key(in, b, i) + 1, 0, L);
}

// phi of query row i of (b, h), divided by its largest exp term.
std::vector<double> query_features(const HostInputs& in, int64_t b, int64_t h, int64_t i) {
  const vkattn_attention_desc& d = in.desc;
  const double root_scale = std::sqrt(effective_scale(d));
  std::vector<double> x(static_cast<size_t>(d.qk_dim));
  const uint64_t base = query_index(in, d.q_layout, b, h, i);
  for (int64_t e = 0; e < d.qk_dim; ++e) x[static_cast<size_t>(e)] = root_scale * in.q[base + static_cast<uint64_t>(e)];
  const std::vector<double> exponents = linear_exponents(in, x.data());
  return linear_features(in, exponents, *std::max_element(exponents.begin(), exponents.end()));
}

// phi of keys [0, end) of (b, kv head hk), under one stabiliser (their
// largest exponent).
std::vector<std::vector<double>> key_features(const HostInputs& in, int64_t b, int64_t hk, int64_t end) {
  const vkattn_attention_desc& d = in.desc;
  const double root_scale = std::sqrt(effective_scale(d));
  std::vector<double> x(static_cast<size_t>(d.qk_dim));
  std::vector<std::vector<double>> exponents;
  double stabiliser = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < end; ++j) {
    const uint64_t base = key_index(in, d.k_layout, b, hk, j);
    for (int64_t e = 0; e < d.qk_dim; ++e) x[static_cast<size_t>(e)] = root_scale * in.k[base + static_cast<uint64_t>(e)];
    exponents.push_back(linear_exponents(in, x.data()));
    for (double e : exponents.back()) stabiliser = std::max(stabiliser, e);
  }
  std::vector<std::vector<double>> phi;
  for (const auto& e : exponents) phi.push_back(linear_features(in, e, stabiliser));
  return phi;
}

// O of one row over keys [0, end) (zeros when end is 0) into out[0, v_dim);
// *max_abs_v grows to the largest |V| it reads.
void linear_row_output(const HostInputs& in, int64_t b, int64_t hk, const std::vector<double>& phi_q,
                       const std::vector<std::vector<double>>& phi_k, int64_t end, double* out, double* max_abs_v) {
  const vkattn_attention_desc& d = in.desc;
  std::vector<double> num(static_cast<size_t>(d.v_dim), 0.0);
  double den = 0.0;
  for (int64_t j = 0; j < end; ++j) {
    double weight = 0.0;
    for (size_t f = 0; f < phi_q.size(); ++f) weight += phi_q[f] * phi_k[static_cast<size_t>(j)][f];
    den += weight;
    const uint64_t v_base = key_index(in, d.v_layout, b, hk, j);
    for (int64_t e = 0; e < d.v_dim; ++e) {
      const double value = in.v[v_base + static_cast<uint64_t>(e)];
      num[static_cast<size_t>(e)] += weight * value;
      *max_abs_v = std::max(*max_abs_v, std::fabs(value));
    }
  }
  for (int64_t e = 0; e < d.v_dim; ++e) out[e] = end > 0 ? num[static_cast<size_t>(e)] / den : 0.0;
}

ReferenceOutput reference_linear_attention(const HostInputs& in) {
  const vkattn_attention_desc& d = in.desc;
  ReferenceOutput result = zero_output(d);
  const int64_t group = d.q_heads / d.kv_heads;
  for (int64_t b = 0; b < d.batch; ++b) {
    const int64_t L = key_length(in, b);
    for (int64_t hk = 0; hk < d.kv_heads; ++hk) {
      // Every key's features, under one stabiliser (a factor that cancels).
      const std::vector<std::vector<double>> phi_k = key_features(in, b, hk, L);
      for (int64_t g = 0; g < group; ++g) {
        const int64_t h = hk * group + g;
        for (int64_t i = 0; i < query_length(in, b); ++i) {
          const int64_t end = linear_row_keys(in, b, i);
          const size_t row = static_cast<size_t>((b * d.q_heads + h) * d.q_len + i);
          linear_row_output(in, b, hk, query_features(in, b, h, i), phi_k, end,
                            &result.out[row * static_cast<size_t>(d.v_dim)], &result.max_abs_v);
          result.visible_pairs += static_cast<uint64_t>(end);
          result.max_row_keys = std::max(result.max_row_keys, end);
        }
      }
    }
  }
  return result;
}

// Linformer's K' = E K or V' = F V of (b, kv head hk) in double,
// [proj_len][dim], over the keys below the sequence's length; and per
// element the sum of |terms| (what f32 accumulation errs relative to).
struct Projected {
  std::vector<std::vector<double>> rows, magnitudes;
};

Projected project(const HostInputs& in, int64_t b, int64_t hk, bool values) {
  const vkattn_attention_desc& d = in.desc;
  const int64_t dim = values ? d.v_dim : d.qk_dim, L = key_length(in, b), P = d.linformer.proj_len;
  const std::vector<float>& matrix = values ? in.proj_f : in.proj_e;
  const std::vector<float>& data = values ? in.v : in.k;
  const vkattn_tensor_layout& layout = values ? d.v_layout : d.k_layout;
  Projected out;
  out.rows.assign(static_cast<size_t>(P), std::vector<double>(static_cast<size_t>(dim), 0.0));
  out.magnitudes = out.rows;
  const size_t head_base = d.linformer.per_head ? static_cast<size_t>(hk * P * d.kv_len) : 0;
  for (int64_t j = 0; j < L; ++j) {
    const float* row = &data[key_index(in, layout, b, hk, j)];
    for (int64_t p = 0; p < P; ++p) {
      const double e = matrix[head_base + static_cast<size_t>(p * d.kv_len + j)];
      for (int64_t c = 0; c < dim; ++c) {
        out.rows[p][c] += e * static_cast<double>(row[c]);
        out.magnitudes[p][c] += std::fabs(e * static_cast<double>(row[c]));
      }
    }
  }
  return out;
}

// Softmax attention of query row i of (b, h) over the projected keys and
// values: O into out, LSE into *lse; the tolerance's statistics into
// *stats (projection_error: the output error bound, see reference.h).
void linformer_row(const HostInputs& in, int64_t b, int64_t h, int64_t i, const Projected& keys,
                   const Projected& values, double* out, double* lse, ReferenceOutput* stats) {
  const vkattn_attention_desc& d = in.desc;
  const double scale = effective_scale(d);
  const int64_t P = d.linformer.proj_len;
  const std::vector<double> q = reference_query(in, b, h, i);
  // f32 accumulation over the sequence: about u sqrt(L) of the |terms|;
  // f16 problems may hold K' and V' in f16 (include/vkattn.h).
  const double accumulation = 5.9604644775390625e-8 * std::sqrt(static_cast<double>(std::max<int64_t>(1, key_length(in, b))));
  const double storage = d.dtype == VKATTN_DTYPE_F16 ? 4.8828125e-4 : 0.0;
  std::vector<double> logits(static_cast<size_t>(P));
  double max_logit = -std::numeric_limits<double>::infinity(), logit_error = 0.0, max_abs_v = 0.0, value_error = 0.0;
  bool any_nan = false;
  for (int64_t p = 0; p < P; ++p) {
    double dot = 0.0, magnitude = 0.0, term_magnitude = 0.0;
    for (int64_t c = 0; c < d.qk_dim; ++c) {
      dot += q[c] * keys.rows[p][c];
      magnitude += std::fabs(q[c] * keys.rows[p][c]);
      term_magnitude += std::fabs(q[c]) * keys.magnitudes[p][c];
    }
    stats->max_logit_magnitude = std::fmax(stats->max_logit_magnitude, std::fabs(scale) * magnitude);
    logit_error = std::fmax(logit_error, std::fabs(scale) * (accumulation * term_magnitude + storage * magnitude));
    double logit = scale * dot;
    if (d.softcap > 0.0f) logit = d.softcap * std::tanh(logit / d.softcap);
    logits[p] = logit;
    any_nan |= std::isnan(logit);
    max_logit = std::fmax(max_logit, logit);
    for (int64_t c = 0; c < d.v_dim; ++c) {
      max_abs_v = std::fmax(max_abs_v, std::fabs(values.rows[p][c]));
      value_error = std::fmax(value_error, accumulation * values.magnitudes[p][c] + storage * std::fabs(values.rows[p][c]));
    }
  }
  stats->visible_pairs += static_cast<uint64_t>(P);
  stats->max_row_keys = std::max(stats->max_row_keys, P);
  stats->max_abs_v = std::fmax(stats->max_abs_v, max_abs_v);
  // A logit error e moves O by at most 2 e max|V'|; a value error adds itself.
  stats->projection_error = std::fmax(stats->projection_error, 2.0 * logit_error * max_abs_v + value_error);
  stats->projection_logit_error = std::fmax(stats->projection_logit_error, logit_error);
  const bool has_sink = !in.sinks.empty();
  const double sink = has_sink ? in.sinks[static_cast<size_t>(h)] : 0.0;
  if (has_sink) max_logit = std::fmax(max_logit, sink);
  if (any_nan) max_logit = std::numeric_limits<double>::quiet_NaN();
  double sum = 0.0;
  for (int64_t c = 0; c < d.v_dim; ++c) out[c] = 0.0;
  for (int64_t p = 0; p < P; ++p) {
    const double weight = std::exp(logits[p] - max_logit);
    if (weight == 0.0) continue;  // contributes nothing, whatever V' holds
    sum += weight;
    for (int64_t c = 0; c < d.v_dim; ++c) out[c] += weight * values.rows[p][c];
  }
  if (has_sink) sum += std::exp(sink - max_logit);
  for (int64_t c = 0; c < d.v_dim; ++c) out[c] /= sum;
  *lse = max_logit + std::log(sum);
}

ReferenceOutput reference_linformer(const HostInputs& in) {
  const vkattn_attention_desc& d = in.desc;
  ReferenceOutput result = zero_output(d);
  const int64_t group = d.q_heads / d.kv_heads;
  for (int64_t b = 0; b < d.batch; ++b) {
    for (int64_t hk = 0; hk < d.kv_heads; ++hk) {
      const Projected keys = project(in, b, hk, false), values = project(in, b, hk, true);
      for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
        for (int64_t i = 0; i < query_length(in, b); ++i) {
          const size_t row = static_cast<size_t>((b * d.q_heads + h) * d.q_len + i);
          linformer_row(in, b, h, i, keys, values, &result.out[row * static_cast<size_t>(d.v_dim)], &result.lse[row],
                        &result);
        }
      }
    }
  }
  return result;
}

}  // namespace

ReferenceOutput reference_attention(const HostInputs& in) {
  const vkattn_attention_desc& d = in.desc;
  if (d.mode == VKATTN_MODE_LINEAR) return reference_linear_attention(in);
  if (d.mode == VKATTN_MODE_LINFORMER) return reference_linformer(in);
  ReferenceOutput result = zero_output(d);
  if (d.mode == VKATTN_MODE_TOPK) {
    result.topk_out_allowance.assign(result.lse.size(), 0.0);
    result.topk_lse_allowance.assign(result.lse.size(), 0.0);
  }
  for (int64_t b = 0; b < d.batch; ++b) {
    for (int64_t h = 0; h < d.q_heads; ++h) {
      for (int64_t i = 0; i < query_length(in, b); ++i) {  // rows past a ragged sequence's end stay 0
        const size_t row = static_cast<size_t>((b * d.q_heads + h) * d.q_len + i);
        double allowance[2] = {0.0, 0.0};
        compute_row(in, b, h, i, &result.out[row * static_cast<size_t>(d.v_dim)], &result.lse[row], &result,
                    allowance);
        if (d.mode == VKATTN_MODE_TOPK) {
          result.topk_out_allowance[row] = allowance[0];
          result.topk_lse_allowance[row] = allowance[1];
        }
      }
    }
  }
  return result;
}

void reference_row(const HostInputs& in, int64_t b, int64_t h, int64_t i, std::vector<double>* out, double* lse) {
  out->assign(static_cast<size_t>(in.desc.v_dim), 0.0);
  if (in.desc.mode == VKATTN_MODE_LINEAR) {
    const int64_t hk = h / (in.desc.q_heads / in.desc.kv_heads), end = linear_row_keys(in, b, i);
    double max_abs_v = 0.0;
    linear_row_output(in, b, hk, query_features(in, b, h, i), key_features(in, b, hk, end), end, out->data(),
                      &max_abs_v);
    *lse = 0.0;
    return;
  }
  ReferenceOutput stats;  // only the row's statistics are filled in
  if (in.desc.mode == VKATTN_MODE_LINFORMER) {
    const int64_t hk = h / (in.desc.q_heads / in.desc.kv_heads);
    linformer_row(in, b, h, i, project(in, b, hk, false), project(in, b, hk, true), out->data(), lse, &stats);
    return;
  }
  compute_row(in, b, h, i, out->data(), lse, &stats, nullptr);
}

double linear_attention_flops(const HostInputs& in) {
  const vkattn_attention_desc& d = in.desc;
  const bool favor = d.linear.feature_map == VKATTN_FEATURE_MAP_FAVOR;
  const double m = favor ? static_cast<double>(d.linear.num_features) : static_cast<double>(d.qk_dim);
  const double features = favor ? 2.0 * m * static_cast<double>(d.qk_dim) : m;
  const double dv = static_cast<double>(d.v_dim), group = static_cast<double>(d.q_heads / d.kv_heads);
  double flops = 0.0;
  for (int64_t b = 0; b < d.batch; ++b) {
    const double keys = static_cast<double>(key_length(in, b)), rows = group * static_cast<double>(query_length(in, b));
    // Per kv head: the state form (each key updates S and z, each row
    // reads them), or the direct form (each key weighs every row).
    const double state = keys * (features + 2.0 * m * dv + m) + rows * (features + 2.0 * m * dv + 2.0 * m);
    const double direct = keys * (features + rows * (2.0 * m + 2.0 * dv + 1.0)) + rows * features;
    flops += static_cast<double>(d.kv_heads) * std::min(state, direct);
  }
  return flops;
}

double linformer_flops(const HostInputs& in) {
  const vkattn_attention_desc& d = in.desc;
  const double dims = static_cast<double>(d.qk_dim + d.v_dim), P = static_cast<double>(d.linformer.proj_len);
  double flops = 0.0;
  for (int64_t b = 0; b < d.batch; ++b) {
    flops += static_cast<double>(d.kv_heads) * 2.0 * P * dims * static_cast<double>(key_length(in, b));
    flops += static_cast<double>(d.q_heads) * 2.0 * P * dims * static_cast<double>(query_length(in, b));
  }
  return flops;
}

namespace {

// The keys a row's spans hold: the global keys and the window, those in
// both counted once.
int64_t span_keys(const KeySpans& s) {
  return s.global_end + (s.end - s.first) - std::max<int64_t>(0, std::min(s.end, s.global_end) - s.first);
}

}  // namespace

double topk_flops(const HostInputs& in) {
  const vkattn_attention_desc& d = in.desc;
  double kept = 0.0;
  for (int64_t b = 0; b < d.batch; ++b) {
    for (int64_t i = 0; i < query_length(in, b); ++i) {
      if (!d.has_bool_mask && !d.has_additive_mask) {  // one interval and the global keys, the same for every head
        const KeySpans s = visible_key_spans(in, b, i);
        const int64_t row = span_keys(s);
        kept += static_cast<double>(std::min(row, d.topk.k) * d.q_heads);
        continue;
      }
      for (int64_t h = 0; h < d.q_heads; ++h) {
        int64_t row = 0;
        for (int64_t j = 0; j < d.kv_len; ++j) row += reference_visible(in, b, h, i, j) ? 1 : 0;
        kept += static_cast<double>(std::min(row, d.topk.k));
      }
    }
  }
  return 2.0 * static_cast<double>(d.qk_dim) * static_cast<double>(count_visible_pairs(in)) +
         2.0 * static_cast<double>(d.v_dim) * kept;
}

uint64_t count_visible_pairs(const HostInputs& in) {
  const vkattn_attention_desc& d = in.desc;
  uint64_t pairs = 0;
  if (!d.has_bool_mask && !d.has_additive_mask && d.mode != VKATTN_MODE_BLOCK_SPARSE) {
    // Without data masks each query sees one interval of keys through its
    // window, and the global keys [0, global_end) besides; count them per
    // row (the same for every head) instead of testing every pair.
    for (int64_t b = 0; b < d.batch; ++b) {
      for (int64_t i = 0; i < query_length(in, b); ++i) {
        const KeySpans s = visible_key_spans(in, b, i);
        const int64_t row = span_keys(s);
        pairs += static_cast<uint64_t>(row) * static_cast<uint64_t>(d.q_heads);
      }
    }
    return pairs;
  }
  if (!d.has_bool_mask && !d.has_additive_mask) {
    // Block-sparse without data masks: per row, the keys of its visible
    // blocks within its spans (the same for heads that share a mask).
    const vkattn_block_sparse& bs = d.block_sparse;
    const int64_t q_blocks = (d.q_len + bs.block_q - 1) / bs.block_q, k_blocks = (d.kv_len + bs.block_k - 1) / bs.block_k;
    for (int64_t b = 0; b < d.batch; ++b) {
      const int64_t mb = bs.mask_batch == 1 ? 0 : b;
      for (int64_t mh = 0; mh < bs.mask_heads; ++mh) {
        const uint64_t heads = bs.mask_heads == 1 ? static_cast<uint64_t>(d.q_heads) : 1;
        for (int64_t i = 0; i < query_length(in, b); ++i) {
          const KeySpans spans = visible_key_spans(in, b, i);
          const uint8_t* row = &in.block_mask[static_cast<size_t>(((mb * bs.mask_heads + mh) * q_blocks + i / bs.block_q) * k_blocks)];
          for (int64_t c = 0; c < k_blocks; ++c) {
            if (row[c] == 0) continue;
            const int64_t first = c * bs.block_k, end = std::min(first + bs.block_k, d.kv_len);
            auto overlap = [&](int64_t lo, int64_t hi) { return std::max<int64_t>(0, std::min(end, hi) - std::max(first, lo)); };
            // The global span and the window's, without counting twice.
            const int64_t seen = overlap(0, spans.global_end) + overlap(spans.first, spans.end) -
                                 overlap(spans.first, std::min(spans.end, spans.global_end));
            pairs += static_cast<uint64_t>(seen) * heads;
          }
        }
      }
    }
    return pairs;
  }
  for (int64_t b = 0; b < d.batch; ++b) {
    for (int64_t h = 0; h < d.q_heads; ++h) {
      for (int64_t i = 0; i < query_length(in, b); ++i) {
        for (int64_t j = 0; j < d.kv_len; ++j) pairs += reference_visible(in, b, h, i, j) ? 1 : 0;
      }
    }
  }
  return pairs;
}

uint64_t count_read_keys(const HostInputs& in) {
  const vkattn_attention_desc& d = in.desc;
  uint64_t keys = 0;
  for (int64_t b = 0; b < d.batch; ++b) {
    // Both ends of the window span are non-decreasing in i, so the spans
    // seen so far merge into intervals in order: a new span overlaps at
    // most the last of them.
    std::vector<std::pair<int64_t, int64_t>> merged;
    int64_t global_end = 0;
    for (int64_t i = 0; i < query_length(in, b); ++i) {
      const KeySpans s = visible_key_spans(in, b, i);
      global_end = std::max(global_end, s.global_end);
      if (s.end <= s.first) continue;
      if (!merged.empty() && s.first <= merged.back().second) {
        merged.back().second = std::max(merged.back().second, s.end);
      } else {
        merged.emplace_back(s.first, s.end);
      }
    }
    int64_t row_keys = global_end;
    for (const auto& span : merged) {
      row_keys += (span.second - span.first) - std::max<int64_t>(0, std::min(span.second, global_end) - span.first);
    }
    keys += static_cast<uint64_t>(row_keys) * static_cast<uint64_t>(d.kv_heads);
  }
  return keys;
}

}  // namespace vkattn_test
