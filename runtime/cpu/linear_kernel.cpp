#include "linear_kernel.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "runtime/checked_math.h"
#include "runtime/quant.h"

namespace vkattn {
namespace cpu {

namespace {

// Keys per feature block, and query rows per output block.
constexpr int64_t kKeyBlock = 64;
constexpr int64_t kRowBlock = 16;
// Key chunks are added until there are about this many tasks (independent
// of the thread count, so results are too), each of at least kMinChunkKeys
// keys: a chunk costs one state merge (m x v_dim) and, causally, a second
// walk over its keys, which such a chunk repays.
constexpr int64_t kTargetTasks = 16;
constexpr int64_t kMinChunkKeys = 512;
// The chunk states of all (batch, kv head) pairs stay under this many bytes.
constexpr uint64_t kMaxChunkStateBytes = 32u * 1024 * 1024;

}  // namespace

struct LinearKernel::RunState {
  const LinearKernel* kernel;
  const Tensors* tensors;
  void (LinearKernel::*chunk_task)(int64_t unit, int64_t chunk, const Tensors&, Workspace&) const;
  void (LinearKernel::*unit_task)(int64_t unit, const Tensors&) const;
};

bool linear_direct(const Problem& p) {
  // Per key, the state costs m x v_dim multiply-adds; weighting the key
  // directly costs (m + v_dim) for each of the group x q_len rows.
  return p.group() * p.q_len * (p.num_features + p.v_dim) < p.num_features * p.v_dim;
}

LinearKernel::LinearKernel(const Problem& problem, int64_t chunks)
    : problem_(problem), ops_(row_ops()), sqrt_scale_(std::sqrt(problem.scale)),
      favor_(problem.feature_map == VKATTN_FEATURE_MAP_FAVOR), direct_(linear_direct(problem)) {
  chunk_len_ = ceil_div(ceil_div(problem.kv_len, chunks), kKeyBlock) * kKeyBlock;
  chunks_ = ceil_div(problem.kv_len, chunk_len_);
  state_rows_ = direct_ ? problem.group() * problem.q_len : problem.num_features;
}

LinearKernel::~LinearKernel() { std::free(chunk_states_); }

Status LinearKernel::create(const Problem& problem, int threads, std::unique_ptr<Kernel>* out) {
  const int64_t units = problem.batch * problem.kv_heads;
  int64_t chunks = 1;
  if (units < kTargetTasks) {
    chunks = std::min(ceil_div(kTargetTasks, units), ceil_div(problem.kv_len, kMinChunkKeys));
    const int64_t state_rows = linear_direct(problem) ? problem.group() * problem.q_len : problem.num_features;
    const uint64_t state_bytes = static_cast<uint64_t>(state_rows * (problem.v_dim + 1) + 1) * 4;
    const uint64_t fitting = kMaxChunkStateBytes / (state_bytes * static_cast<uint64_t>(units));
    chunks = std::max<int64_t>(1, std::min<int64_t>(chunks, static_cast<int64_t>(std::min<uint64_t>(fitting, 1u << 20))));
  }
  std::unique_ptr<LinearKernel> kernel(new LinearKernel(problem, chunks));
  VKATTN_RETURN_IF_ERROR(kernel->allocate(std::max(threads, 1)));
  *out = std::move(kernel);
  return Status();
}

Status LinearKernel::allocate(int slots) {
  const Problem& p = problem_;
  const int64_t m = p.num_features;
  // Element counts of each scratch array (all at most 4096 x 4096 x 64).
  // Row blocks: kRowBlock rows, or in the direct form every row of a task.
  const int64_t rows = direct_ ? state_rows_ : kRowBlock;
  const int64_t counts[] = {state_floats(), kKeyBlock * p.qk_dim, m * kKeyBlock, kKeyBlock * m,
                            rows * p.qk_dim, rows * m, rows * kKeyBlock, rows * p.v_dim,
                            rows * p.v_dim, rows};
  VKATTN_RETURN_IF_ERROR(slots_.allocate(slots, counts, sizeof(counts) / sizeof(counts[0]), "linear-attention workspace"));
  workspace_bytes_ = slots_.bytes();
  if (chunks_ > 1) {
    // Bounded by kMaxChunkStateBytes in create().
    const uint64_t bytes = static_cast<uint64_t>(p.batch * p.kv_heads * chunks_ * state_floats()) * 4;
    chunk_states_ = static_cast<float*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
    if (chunk_states_ == nullptr) {
      return out_of_host_memory("could not allocate %llu bytes for linear-attention chunk states",
                                (unsigned long long)bytes);
    }
    workspace_bytes_ += bytes;
  }
  return Status();
}

PlanInfo LinearKernel::info() const {
  PlanInfo info;
  info.kernel = std::string(favor_ ? "cpu.linear_favor" : "cpu.linear_elu") + (direct_ ? "_direct" : "");
  info.block_q = static_cast<uint32_t>(kRowBlock);
  info.block_kv = static_cast<uint32_t>(kKeyBlock);
  info.kv_splits = static_cast<uint32_t>(chunks_);
  info.tasks = static_cast<uint32_t>(std::min<int64_t>(problem_.batch * problem_.kv_heads * chunks_, UINT32_MAX));
  info.dispatches = chunks_ > 1 ? 3 : 1;
  info.workspace_bytes = workspace_bytes_;
  return info;
}

LinearKernel::Workspace LinearKernel::workspace(int slot) const {
  Workspace ws;
  ws.state = slots_.array(slot, 0);
  ws.keys = slots_.array(slot, 1);
  ws.phi_fm = slots_.array(slot, 2);
  ws.phi_km = slots_.array(slot, 3);
  ws.queries = slots_.array(slot, 4);
  ws.phi_q = slots_.array(slot, 5);
  ws.weights = slots_.array(slot, 6);
  ws.num = slots_.array(slot, 7);
  ws.saved = slots_.array(slot, 8);
  ws.den = slots_.array(slot, 9);
  return ws;
}

LinearKernel::State LinearKernel::state_at(float* base) const {
  return State{base, base + state_rows_ * problem_.v_dim, base + state_rows_ * (problem_.v_dim + 1)};
}

void LinearKernel::clear(const State& state) const {
  std::fill(state.s, state.s + state_rows_ * (problem_.v_dim + 1), 0.0f);
  // An empty FAVOR+ state has no scale yet: the floor makes the first
  // block's rescaling factor exp(floor - c) exactly 0.
  *state.c = favor_ ? kScoreFloor : 0.0f;
}

void LinearKernel::merge(const State& a, const State& b) const {
  const int64_t count = state_rows_ * (problem_.v_dim + 1);  // S and z (or O and the sums), contiguous
  const float c = std::max(*a.c, *b.c);
  const float fa = ops_.exp_nonpositive(*a.c - c), fb = ops_.exp_nonpositive(*b.c - c);
  if (fa != 1.0f) ops_.scale_row(a.s, count, fa);
  ops_.add_scaled_row(a.s, b.s, count, fb);
  *a.c = c;
}

void LinearKernel::key_features(const Tensors& t, int64_t b, int64_t kv_head, int64_t j0, int64_t n,
                                const State& state, Workspace& ws, const uint8_t** value_rows) const {
  const Problem& p = problem_;
  const int64_t m = p.num_features, dim = p.qk_dim;
  for (int64_t c = 0; c < n; ++c) {
    const uint8_t* key = t.k + storage_offset(p.k_dtype, p.key_row(p.k, t.block_table, b, kv_head, j0 + c));
    ops_.load_row(key, p.k_dtype, dim, sqrt_scale_, ws.keys + c * dim);
    value_rows[c] = t.v + storage_offset(p.v_dtype, p.key_row(p.v, t.block_table, b, kv_head, j0 + c));
  }
  // The gathered row kernels read kGatherPrefetchRows pointers past the block.
  for (int64_t c = n; c < n + kGatherPrefetchRows; ++c) value_rows[c] = value_rows[n - 1];

  // The features key-major, [n, m]: elu(k') + 1 in place of k', or
  // FAVOR+'s exponents w_f.k' - |k'|^2 / 2 (the direct dot products, W's
  // rows as the keys) turned into exps under the state's stabiliser,
  // first raised to the block's largest exponent (NaN exponents are
  // skipped by the comparisons and stay NaN).
  if (!favor_) {
    std::copy(ws.keys, ws.keys + n * dim, ws.phi_km);
    ops_.elu_plus_one_row(ws.phi_km, n * m);
  } else {
    ops_.dot_rows(ws.keys, n, p.features.data(), VKATTN_DTYPE_F32, dim, m, dim, ws.phi_km);
    float block_max = kScoreFloor;
    for (int64_t c = 0; c < n; ++c) {
      float norm = 0.0f;
      for (int64_t d = 0; d < dim; ++d) norm += ws.keys[c * dim + d] * ws.keys[c * dim + d];
      float* e = ws.phi_km + c * m;
      for (int64_t f = 0; f < m; ++f) {
        e[f] -= 0.5f * norm;
        block_max = e[f] > block_max ? e[f] : block_max;
      }
    }
    if (block_max > *state.c) {
      const float factor = ops_.exp_nonpositive(*state.c - block_max);
      ops_.scale_row(state.s, state_rows_ * (p.v_dim + 1), factor);
      *state.c = block_max;
    }
    ops_.exp_shifted_row(ws.phi_km, n * m, *state.c);
  }
  if (!direct_) {  // feature-major too, for the state update
    for (int64_t f = 0; f < m; ++f) {
      for (int64_t c = 0; c < n; ++c) ws.phi_fm[f * n + c] = ws.phi_km[c * m + f];
    }
  }
}

void LinearKernel::absorb(const State& state, int64_t n, const uint8_t* const* value_rows, Workspace& ws) const {
  const Problem& p = problem_;
  const int64_t m = p.num_features;
  // Every key of the block is visible to the state, so NaN or Inf values
  // reach it as IEEE arithmetic says, zero features included: the
  // kernel's report of such values needs no action here.
  ops_.accumulate_products_gather(ws.phi_fm, m, n, value_rows, p.v_dtype, p.v_dim, state.s);
  for (int64_t f = 0; f < m; ++f) {
    float sum = 0.0f;
    for (int64_t c = 0; c < n; ++c) sum += ws.phi_fm[f * n + c];
    state.z[f] += sum;
  }
}

void LinearKernel::emit_rows(const Tensors& t, int64_t b, int64_t kv_head, int64_t first, int64_t end,
                             const SequenceLengths& seq, const State& state, int64_t j0, int64_t n,
                             const uint8_t* const* value_rows, Workspace& ws) const {
  const Problem& p = problem_;
  const int64_t group = p.group(), m = p.num_features, dv = p.v_dim;
  for (int64_t r0 = first * group; r0 < end * group; r0 += kRowBlock) {
    const int64_t rows = std::min(kRowBlock, end * group - r0);
    query_features(t, b, kv_head, r0, rows, ws);
    // phi(q)^T S and phi(q).z over the keys the state holds (all visible:
    // IEEE arithmetic throughout, as in absorb).
    std::fill(ws.num, ws.num + rows * dv, 0.0f);
    ops_.accumulate_products(ws.phi_q, rows, m, state.s, VKATTN_DTYPE_F32, dv, dv, ws.num);
    for (int64_t r = 0; r < rows; ++r) {
      float sum = 0.0f;
      for (int64_t f = 0; f < m; ++f) sum += ws.phi_q[r * m + f] * state.z[f];
      ws.den[r] = sum;
    }
    // Then the block's keys up to each row's diagonal.
    if (n > 0) weigh_block(r0, rows, seq, j0, n, value_rows, ws.num, ws.den, ws);
    store_rows(t, b, kv_head, r0, rows, ws.num, ws.den);
  }
}

void LinearKernel::query_features(const Tensors& t, int64_t b, int64_t kv_head, int64_t first, int64_t rows,
                                  Workspace& ws) const {
  const Problem& p = problem_;
  const int64_t group = p.group(), m = p.num_features, dim = p.qk_dim;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t i = (first + r) / group, h = kv_head * group + (first + r) % group;
    ops_.load_row(t.q + p.query_row(p.q, t.q_starts, b, h, i) * p.element_size(), p.dtype, dim, sqrt_scale_,
                  ws.queries + r * dim);
  }
  if (!favor_) {
    std::copy(ws.queries, ws.queries + rows * m, ws.phi_q);
    ops_.elu_plus_one_row(ws.phi_q, rows * m);
    return;
  }
  // w_f.q' with W's rows as the keys; each row divided by its largest exp
  // term (|q'|^2 / 2 is a per-row factor too, cancelling in O).
  ops_.dot_rows(ws.queries, rows, p.features.data(), VKATTN_DTYPE_F32, dim, m, dim, ws.phi_q);
  for (int64_t r = 0; r < rows; ++r) {
    float* phi = ws.phi_q + r * m;
    float top = kScoreFloor;
    for (int64_t f = 0; f < m; ++f) top = phi[f] > top ? phi[f] : top;
    ops_.exp_shifted_row(phi, m, top);
  }
}

void LinearKernel::weigh_block(int64_t first, int64_t rows, const SequenceLengths& seq, int64_t j0, int64_t n,
                               const uint8_t* const* value_rows, float* num, float* den, Workspace& ws) const {
  const Problem& p = problem_;
  const int64_t group = p.group(), m = p.num_features, dv = p.v_dim;
  // phi(q).phi(k) for the block's keys; 0 past each row's diagonal
  // (causal), so a later key's value (NaN or not) never reaches the row.
  ops_.dot_rows(ws.phi_q, rows, ws.phi_km, VKATTN_DTYPE_F32, m, n, m, ws.weights);
  for (int64_t r = 0; r < rows; ++r) {
    float* w = ws.weights + r * n;
    if (p.causal != VKATTN_CAUSAL_NONE) {
      const int64_t last = std::min(p.diagonal((first + r) / group, seq), seq.keys - 1) - j0;
      for (int64_t c = std::max<int64_t>(last + 1, 0); c < n; ++c) w[c] = 0.0f;
    }
    float sum = 0.0f;
    for (int64_t c = 0; c < n; ++c) sum += w[c];
    den[r] += sum;
  }
  std::copy(num, num + rows * dv, ws.saved);
  if (!ops_.accumulate_products_gather(ws.weights, rows, n, value_rows, p.v_dtype, dv, num)) {
    std::copy(ws.saved, ws.saved + rows * dv, num);
    ops_.accumulate_weighted_rows_gather(ws.weights, rows, n, value_rows, p.v_dtype, dv, num);
  }
}

void LinearKernel::store_rows(const Tensors& t, int64_t b, int64_t kv_head, int64_t first, int64_t rows,
                              const float* num, const float* den) const {
  const Problem& p = problem_;
  const int64_t group = p.group();
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t i = (first + r) / group, h = kv_head * group + (first + r) % group;
    // No key (den 0): zeros, never 0/0; a NaN denominator makes the row NaN.
    const float factor = den[r] > 0.0f || den[r] != den[r] ? 1.0f / den[r] : 0.0f;
    ops_.store_row(num + r * p.v_dim, p.v_dim, factor, p.dtype,
                   t.out + p.query_row(p.out, t.q_starts, b, h, i) * p.element_size());
  }
}

void LinearKernel::run_direct(int64_t unit, int64_t chunk, const Tensors& t, Workspace& ws) const {
  const Problem& p = problem_;
  const int64_t b = unit / p.kv_heads, kv_head = unit % p.kv_heads;
  const SequenceLengths seq = p.sequence(t.kv_lens, t.q_lens, b);
  const int64_t rows = seq.queries * p.group();
  // Every row of the unit, weighting each key of the chunk directly: O's
  // numerators and the sums, with the FAVOR+ stabiliser, are a State of
  // `rows` entries (one chunk's record when the keys are split).
  const State state = state_at(chunks_ > 1 ? chunk_states_ + (unit * chunks_ + chunk) * state_floats() : ws.state);
  clear(state);
  int64_t k0 = 0, k1 = 0;
  chunk_keys(chunk, seq.keys, &k0, &k1);
  if (rows > 0 && k1 > k0) {
    query_features(t, b, kv_head, 0, rows, ws);
    const uint8_t* value_rows[kKeyBlock + kGatherPrefetchRows];
    for (int64_t j0 = k0; j0 < k1; j0 += kKeyBlock) {
      const int64_t n = std::min(kKeyBlock, k1 - j0);
      key_features(t, b, kv_head, j0, n, state, ws, value_rows);
      weigh_block(0, rows, seq, j0, n, value_rows, state.s, state.z, ws);
    }
  }
  if (chunks_ == 1) store_rows(t, b, kv_head, 0, rows, state.s, state.z);
}

void LinearKernel::finish_direct(int64_t unit, const Tensors& t) const {
  // The chunks' records summed in chunk order into the last, then O.
  const Problem& p = problem_;
  const int64_t b = unit / p.kv_heads, kv_head = unit % p.kv_heads;
  float* records = chunk_states_ + unit * chunks_ * state_floats();
  for (int64_t c = 1; c < chunks_; ++c) {
    merge(state_at(records + c * state_floats()), state_at(records + (c - 1) * state_floats()));
  }
  const State total = state_at(records + (chunks_ - 1) * state_floats());
  store_rows(t, b, kv_head, 0, p.sequence(t.kv_lens, t.q_lens, b).queries * p.group(), total.s, total.z);
}

void LinearKernel::zero_rows(const Tensors& t, int64_t b, int64_t kv_head, int64_t first, int64_t end,
                             Workspace& ws) const {
  const Problem& p = problem_;
  const int64_t group = p.group();
  std::fill(ws.num, ws.num + p.v_dim, 0.0f);
  for (int64_t local = first * group; local < end * group; ++local) {
    const int64_t i = local / group, h = kv_head * group + local % group;
    ops_.store_row(ws.num, p.v_dim, 1.0f, p.dtype, t.out + p.query_row(p.out, t.q_starts, b, h, i) * p.element_size());
  }
}

void LinearKernel::chunk_keys(int64_t chunk, int64_t keys, int64_t* begin, int64_t* end) const {
  *begin = std::min(chunk * chunk_len_, keys);
  *end = std::min((chunk + 1) * chunk_len_, keys);
}

void LinearKernel::sum_chunk(int64_t unit, int64_t chunk, const Tensors& t, Workspace& ws) const {
  const Problem& p = problem_;
  if (p.causal != VKATTN_CAUSAL_NONE && chunk == chunks_ - 1) return;  // causal rows never need the last chunk's sum
  const int64_t b = unit / p.kv_heads, kv_head = unit % p.kv_heads;
  const State state = state_at(chunk_states_ + (unit * chunks_ + chunk) * state_floats());
  clear(state);
  int64_t k0 = 0, k1 = 0;
  chunk_keys(chunk, p.sequence(t.kv_lens, t.q_lens, b).keys, &k0, &k1);
  const uint8_t* value_rows[kKeyBlock + kGatherPrefetchRows];
  for (int64_t j0 = k0; j0 < k1; j0 += kKeyBlock) {
    const int64_t n = std::min(kKeyBlock, k1 - j0);
    key_features(t, b, kv_head, j0, n, state, ws, value_rows);
    absorb(state, n, value_rows, ws);
  }
}

void LinearKernel::make_prefixes(int64_t unit, const Tensors& /*t*/) const {
  // Inclusive prefixes in place: chunk c's record becomes the sum of
  // chunks 0..c. Causal rows of chunk c start from record c - 1; the last
  // chunk's own sum is never needed there, so it is not merged.
  float* records = chunk_states_ + unit * chunks_ * state_floats();
  const int64_t last = problem_.causal != VKATTN_CAUSAL_NONE ? chunks_ - 1 : chunks_;
  for (int64_t c = 1; c < last; ++c) {
    merge(state_at(records + c * state_floats()), state_at(records + (c - 1) * state_floats()));
  }
}

void LinearKernel::run_chunk(int64_t unit, int64_t chunk, const Tensors& t, Workspace& ws) const {
  const Problem& p = problem_;
  const int64_t b = unit / p.kv_heads, kv_head = unit % p.kv_heads;
  const SequenceLengths seq = p.sequence(t.kv_lens, t.q_lens, b);
  const int64_t keys = seq.keys, queries = seq.queries;
  // (The chunks' records exist only with chunks.)
  float* records = chunks_ > 1 ? chunk_states_ + unit * chunks_ * state_floats() : nullptr;
  const uint8_t* value_rows[kKeyBlock + kGatherPrefetchRows];

  if (p.causal == VKATTN_CAUSAL_NONE) {
    // Every row reads the total state; with chunks, this task's share of
    // the rows reads it from the last chunk's record.
    State state = state_at(ws.state);
    if (chunks_ > 1) {
      state = state_at(records + (chunks_ - 1) * state_floats());
    } else {
      clear(state);
      for (int64_t j0 = 0; j0 < keys; j0 += kKeyBlock) {
        const int64_t n = std::min(kKeyBlock, keys - j0);
        key_features(t, b, kv_head, j0, n, state, ws, value_rows);
        absorb(state, n, value_rows, ws);
      }
    }
    const int64_t first = queries * chunk / chunks_, end = queries * (chunk + 1) / chunks_;
    if (keys == 0) {
      zero_rows(t, b, kv_head, first, end, ws);
    } else if (first < end) {
      emit_rows(t, b, kv_head, first, end, seq, state, 0, 0, value_rows, ws);
    }
    return;
  }

  // Causal: row i sees keys [0, min(d_i, L - 1)]; it is computed in the
  // block holding that key (rows past the last key in the last block).
  // Rows whose diagonal is before key 0 (or of a sequence without keys)
  // see nothing: zeros, written by chunk 0.
  const int64_t offset = p.diagonal(0, seq);  // d_i = i + offset
  if (chunk == 0) {
    const int64_t empty_end = keys == 0 ? queries : std::clamp<int64_t>(-offset, 0, queries);
    if (empty_end > 0) zero_rows(t, b, kv_head, 0, empty_end, ws);
  }
  int64_t k0 = 0, k1 = 0;
  chunk_keys(chunk, keys, &k0, &k1);
  if (k1 <= k0) return;
  const State state = state_at(ws.state);
  if (chunk == 0) {
    clear(state);
  } else {
    std::copy(records + (chunk - 1) * state_floats(), records + chunk * state_floats(), ws.state);
  }
  for (int64_t j0 = k0; j0 < k1; j0 += kKeyBlock) {
    const int64_t n = std::min(kKeyBlock, k1 - j0);
    key_features(t, b, kv_head, j0, n, state, ws, value_rows);
    const int64_t first = std::clamp<int64_t>(j0 - offset, 0, queries);
    const int64_t end = j0 + n == keys ? queries : std::clamp<int64_t>(j0 + n - offset, 0, queries);
    if (first < end) emit_rows(t, b, kv_head, first, end, seq, state, j0, n, value_rows, ws);
    absorb(state, n, value_rows, ws);
  }
}

void LinearKernel::chunk_entry(void* opaque, size_t task) {
  const RunState& run = *static_cast<RunState*>(opaque);
  const LinearKernel& kernel = *run.kernel;
  const int slot = kernel.slots_.claim();
  Workspace ws = kernel.workspace(slot);
  (kernel.*run.chunk_task)(static_cast<int64_t>(task) / kernel.chunks_, static_cast<int64_t>(task) % kernel.chunks_,
                           *run.tensors, ws);
  kernel.slots_.release(slot);
}

void LinearKernel::unit_entry(void* opaque, size_t unit) {
  const RunState& run = *static_cast<RunState*>(opaque);
  (run.kernel->*run.unit_task)(static_cast<int64_t>(unit), *run.tensors);
}

void LinearKernel::run_chunks(pthreadpool_t pool, const Tensors& t,
                              void (LinearKernel::*task)(int64_t, int64_t, const Tensors&, Workspace&) const) {
  RunState state{this, &t, task, nullptr};
  const size_t units = static_cast<size_t>(problem_.batch * problem_.kv_heads);
  pthreadpool_parallelize_1d(pool, &LinearKernel::chunk_entry, &state, units * static_cast<size_t>(chunks_), 0);
}

void LinearKernel::run_units(pthreadpool_t pool, const Tensors& t,
                             void (LinearKernel::*task)(int64_t, const Tensors&) const) {
  RunState state{this, &t, nullptr, task};
  pthreadpool_parallelize_1d(pool, &LinearKernel::unit_entry, &state, static_cast<size_t>(problem_.batch * problem_.kv_heads), 0);
}

Status LinearKernel::run(pthreadpool_t pool, const Tensors& tensors) {
  if (direct_) {
    run_chunks(pool, tensors, &LinearKernel::run_direct);
    if (chunks_ > 1) run_units(pool, tensors, &LinearKernel::finish_direct);
    return Status();
  }
  if (chunks_ > 1) {
    run_chunks(pool, tensors, &LinearKernel::sum_chunk);
    run_units(pool, tensors, &LinearKernel::make_prefixes);
  }
  run_chunks(pool, tensors, &LinearKernel::run_chunk);
  return Status();
}

}  // namespace cpu
}  // namespace vkattn
