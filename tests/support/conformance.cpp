#include "conformance.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <set>

#include "f16.h"
#include "quant_blocks.h"
#include "tolerance.h"

namespace vkattn_test {

namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

// splitmix64: small, fast, and the same on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float uniform(float lo, float hi) {
    return lo + (hi - lo) * static_cast<float>((next() >> 40) * (1.0 / 16777216.0));
  }
  int64_t below(int64_t n) { return static_cast<int64_t>(next() % static_cast<uint64_t>(n)); }
  // A standard Gaussian (Box-Muller on two uniforms in (0, 1]).
  double normal() {
    const double u1 = (static_cast<double>(next() >> 11) + 1.0) * 0x1.0p-53;
    const double u2 = static_cast<double>(next() >> 11) * 0x1.0p-53;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  uint64_t state_;
};

uint64_t hash_name(const std::string& name) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (char c : name) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  return h;
}

const char* layout_name(Layout layout) {
  switch (layout) {
    case Layout::kBhsd: return "bhsd";
    case Layout::kBshd: return "bshd";
    case Layout::kPacked: return "packed";
    case Layout::kPadded: return "padded";
  }
  return "?";
}

const char* mask_name(MaskShape shape) {
  switch (shape) {
    case MaskShape::kNone: return "none";
    case MaskShape::kDense: return "dense";
    case MaskShape::kShared: return "shared";
    case MaskShape::kPerBatch: return "perbatch";
    case MaskShape::kKeyPadding: return "keypad";
  }
  return "?";
}

vkattn_mask_layout mask_layout(MaskShape shape, int64_t heads, int64_t q_len, int64_t kv_len) {
  vkattn_mask_layout m{};
  m.col_stride = 1;
  switch (shape) {
    case MaskShape::kNone:
    case MaskShape::kDense:
      m.row_stride = kv_len;
      m.head_stride = q_len * kv_len;
      m.batch_stride = heads * q_len * kv_len;
      break;
    case MaskShape::kShared: m.row_stride = kv_len; break;
    case MaskShape::kPerBatch:
      m.row_stride = kv_len;
      m.batch_stride = q_len * kv_len;
      break;
    case MaskShape::kKeyPadding: m.batch_stride = kv_len; break;
  }
  return m;
}

// Gaps of a few elements between rows, heads and batches.
vkattn_tensor_layout padded_layout(int64_t heads, int64_t seq, int64_t dim) {
  vkattn_tensor_layout layout;
  layout.offset = 3;
  layout.seq_stride = dim + 3;
  layout.head_stride = seq * layout.seq_stride + 5;
  layout.batch_stride = heads * layout.head_stride + 7;
  return layout;
}

// The same for q8_0 / q4_0 tensors: gaps of whole blocks.
vkattn_tensor_layout block_padded_layout(int64_t heads, int64_t seq, int64_t dim) {
  vkattn_tensor_layout layout;
  layout.offset = 32;
  layout.seq_stride = dim + 32;
  layout.head_stride = seq * layout.seq_stride + 64;
  layout.batch_stride = heads * layout.head_stride + 96;
  return layout;
}

uint64_t tensor_extent(const vkattn_tensor_layout& l, int64_t b, int64_t h, int64_t s, int64_t d) {
  return l.offset + static_cast<uint64_t>((b - 1) * l.batch_stride + (h - 1) * l.head_stride +
                                          (s - 1) * l.seq_stride + (d - 1)) + 1;
}

uint64_t mask_extent(const vkattn_mask_layout& l, const vkattn_attention_desc& d) {
  return l.offset + static_cast<uint64_t>((d.batch - 1) * l.batch_stride + (d.q_heads - 1) * l.head_stride +
                                          (d.q_len - 1) * l.row_stride + (d.kv_len - 1) * l.col_stride) + 1;
}

uint64_t tensor_index(const vkattn_tensor_layout& l, int64_t b, int64_t h, int64_t s) {
  return l.offset + static_cast<uint64_t>(b * l.batch_stride + h * l.head_stride + s * l.seq_stride);
}

uint64_t mask_index(const vkattn_mask_layout& l, int64_t b, int64_t h, int64_t i, int64_t j) {
  return l.offset + static_cast<uint64_t>(b * l.batch_stride + h * l.head_stride + i * l.row_stride +
                                          j * l.col_stride);
}

}  // namespace

std::vector<uint8_t> encode_tensor(const std::vector<float>& values, vkattn_dtype dtype) {
  std::vector<uint8_t> bytes(values.size() * (dtype == VKATTN_DTYPE_F16 ? 2 : 4));
  if (dtype == VKATTN_DTYPE_F16) {
    for (size_t i = 0; i < values.size(); ++i) {
      const uint16_t h = encode_f16(values[i]);
      std::memcpy(&bytes[2 * i], &h, 2);
    }
  } else {
    std::memcpy(bytes.data(), values.data(), bytes.size());
  }
  return bytes;
}

namespace {

double decode_element(const std::vector<uint8_t>& bytes, uint64_t index, vkattn_dtype dtype) {
  if (dtype == VKATTN_DTYPE_F16) {
    uint16_t h;
    std::memcpy(&h, &bytes[2 * index], 2);
    return decode_f16(h);
  }
  float f;
  std::memcpy(&f, &bytes[4 * index], 4);
  return f;
}

// RAII owners for the API's handles.
struct PlanOwner {
  vkattn_plan plan = nullptr;
  ~PlanOwner() { vkattn_plan_destroy(plan); }
};
struct BufferOwner {
  vkattn_buffer buffer = nullptr;
  ~BufferOwner() { vkattn_buffer_destroy(buffer); }
};

std::string describe_failure(const char* call, vkattn_status status) {
  return std::string(call) + " failed: " + vkattn_status_string(status) + ": " + vkattn_last_error();
}

}  // namespace

std::vector<float> favor_test_features(int64_t m, int64_t dim, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> w(static_cast<size_t>(m * dim));
  for (float& x : w) x = static_cast<float>(rng.normal());
  return w;
}

std::vector<float> paper_alibi_slopes(int64_t heads) {
  // Press et al., "Train Short, Test Long", reference implementation:
  // a power of two n gets start^1 .. start^n with start = 2^(-8/n); other n
  // get the slopes of the closest power of two below, then every other
  // slope of twice that power.
  auto power_of_two = [](int64_t n) {
    std::vector<float> slopes;
    const double start = std::pow(2.0, -std::pow(2.0, -(std::log2(static_cast<double>(n)) - 3.0)));
    for (int64_t k = 0; k < n; ++k) slopes.push_back(static_cast<float>(std::pow(start, static_cast<double>(k + 1))));
    return slopes;
  };
  int64_t closest = 1;
  while (closest * 2 <= heads) closest *= 2;
  std::vector<float> slopes = power_of_two(closest);
  if (closest == heads) return slopes;
  const std::vector<float> doubled = power_of_two(2 * closest);
  for (int64_t k = 0; static_cast<int64_t>(slopes.size()) < heads; k += 2) slopes.push_back(doubled[static_cast<size_t>(k)]);
  return slopes;
}

std::string CaseSpec::name() const {
  std::string n = group + "/b" + std::to_string(batch) + "_h" + std::to_string(q_heads) + "x" +
                  std::to_string(kv_heads) + "_q" + std::to_string(q_len) + "_k" + std::to_string(kv_len) + "_d" +
                  std::to_string(qk_dim) + "x" + std::to_string(v_dim) +
                  (dtype == VKATTN_DTYPE_F16 ? "_f16" : "_f32");
  if (scale != 0.0f) n += "_scale" + std::to_string(scale);
  if (causal == VKATTN_CAUSAL_BOTTOM_RIGHT) n += "_causal-br";
  if (causal == VKATTN_CAUSAL_TOP_LEFT) n += "_causal-tl";
  if (window_left >= 0 || window_right >= 0) {
    n += "_win" + std::to_string(window_left) + "," + std::to_string(window_right);
  }
  if (global_keys > 0) n += "_global" + std::to_string(global_keys);
  if (page_size > 0) n += std::string("_pages") + std::to_string(page_size) + (pages_head_major ? "hnd" : "nhd");
  if (shared_pages > 0) n += "_shared" + std::to_string(shared_pages);
  if (additive_mask != MaskShape::kNone) n += std::string("_amask-") + mask_name(additive_mask);
  if (bool_mask != MaskShape::kNone) n += std::string("_bmask-") + mask_name(bool_mask);
  if (kv_lens) n += "_kvlens";
  if (q_lens) n += "_qlens";
  if (varlen) n += "_varlen";
  if (!lse) n += "_nolse";
  if (layout != Layout::kBhsd) n += std::string("_") + layout_name(layout);
  if (logit_target > 0) n += "_logits" + std::to_string(static_cast<long long>(logit_target));
  if (empty_rows) n += "_emptyrows";
  if (plant_nan) n += "_nan";
  if (runs > 1) n += "_runs" + std::to_string(runs);
  if (softcap > 0.0f) n += "_softcap" + std::to_string(static_cast<long long>(softcap));
  if (!alibi_slopes.empty()) n += "_alibi";
  if (!sinks.empty()) n += "_sinks";
  auto type_word = [](vkattn_dtype t) { return t == VKATTN_DTYPE_Q8_0 ? "q8_0" : "q4_0"; };
  if (is_block_type(k_dtype)) n += std::string("_k") + type_word(k_dtype);
  if (is_block_type(v_dtype)) n += std::string("_v") + type_word(v_dtype);
  if (mode == VKATTN_MODE_LINEAR) {
    n += feature_map == VKATTN_FEATURE_MAP_FAVOR ? "_linear-favor" + std::to_string(features.size() / qk_dim)
                                                  : std::string("_linear-elu");
  }
  if (mode == VKATTN_MODE_LINFORMER) n += "_linformer" + std::to_string(proj_len) + (proj_per_head ? "-per-head" : "");
  if (mode == VKATTN_MODE_BLOCK_SPARSE) {
    n += "_blocks" + std::to_string(block_q) + "x" + std::to_string(block_k) + "-" +
         std::to_string(static_cast<int>(block_density * 100 + 0.5)) + "pct" + (block_per_batch ? "-per-batch" : "") +
         (block_per_head ? "-per-head" : "");
    if (hidden_block_row >= 0) n += "-hidden" + std::to_string(hidden_block_row);
  }
  if (mode == VKATTN_MODE_TOPK) n += "_topk" + std::to_string(topk);
  if (integer_qk) n += "_intqk";
  if (rope.style != VKATTN_ROPE_NONE) {
    n += std::string(rope.style == VKATTN_ROPE_NEOX ? "_rope-neox" : "_rope-gptj") +
         std::to_string(rope.dims != 0 ? rope.dims : qk_dim);
    if (rope.theta != 0.0f) n += "-theta" + std::to_string(static_cast<long long>(rope.theta));
  }
  return n;
}

vkattn_attention_desc make_desc(const CaseSpec& s) {
  vkattn_attention_desc d;
  vkattn_attention_desc_init(&d);
  d.batch = s.batch;
  d.q_heads = s.q_heads;
  d.kv_heads = s.kv_heads;
  d.q_len = s.q_len;
  d.kv_len = s.kv_len;
  d.qk_dim = s.qk_dim;
  d.v_dim = s.v_dim;
  d.dtype = s.dtype;
  d.scale = s.scale;
  d.causal = s.causal;
  d.window_left = s.window_left;
  d.window_right = s.window_right;
  d.has_additive_mask = s.additive_mask != MaskShape::kNone;
  d.has_bool_mask = s.bool_mask != MaskShape::kNone;
  d.has_kv_lens = s.kv_lens;
  d.has_q_lens = s.q_lens;
  d.has_lse = s.lse;
  d.softcap = s.softcap;
  d.alibi_slopes = s.alibi_slopes.empty() ? nullptr : s.alibi_slopes.data();
  d.sinks = s.sinks.empty() ? nullptr : s.sinks.data();
  d.k_dtype = s.k_dtype;
  d.v_dtype = s.v_dtype;
  d.global_keys = s.global_keys;
  d.rope = s.rope;
  d.mode = s.mode;
  d.linear.feature_map = s.feature_map;
  if (s.feature_map == VKATTN_FEATURE_MAP_FAVOR) {
    d.linear.num_features = static_cast<int64_t>(s.features.size()) / s.qk_dim;
    d.linear.features = s.features.data();
  }
  // (Linformer's E and F are data: make_inputs draws them.)
  d.linformer.proj_len = s.proj_len;
  d.linformer.per_head = s.proj_per_head ? 1u : 0u;
  // (The block mask is data too.)
  d.block_sparse.block_q = s.block_q;
  d.block_sparse.block_k = s.block_k;
  d.block_sparse.mask_batch = s.block_per_batch ? s.batch : 1;
  d.block_sparse.mask_heads = s.block_per_head ? s.q_heads : 1;
  d.topk.k = s.topk;
  vkattn_attention_desc_set_dense_layouts(&d);
  switch (s.layout) {
    case Layout::kBhsd: break;
    case Layout::kBshd:
      d.q_layout = vkattn_layout_bshd(s.q_heads, s.q_len, s.qk_dim);
      d.k_layout = vkattn_layout_bshd(s.kv_heads, s.kv_len, s.qk_dim);
      d.v_layout = vkattn_layout_bshd(s.kv_heads, s.kv_len, s.v_dim);
      d.out_layout = vkattn_layout_bshd(s.q_heads, s.q_len, s.v_dim);
      break;
    case Layout::kPadded:
      d.q_layout = padded_layout(s.q_heads, s.q_len, s.qk_dim);
      d.k_layout = is_block_type(s.k_dtype) ? block_padded_layout(s.kv_heads, s.kv_len, s.qk_dim)
                                            : padded_layout(s.kv_heads, s.kv_len, s.qk_dim);
      d.v_layout = is_block_type(s.v_dtype) ? block_padded_layout(s.kv_heads, s.kv_len, s.v_dim)
                                            : padded_layout(s.kv_heads, s.kv_len, s.v_dim);
      d.out_layout = padded_layout(s.q_heads, s.q_len, s.v_dim);
      d.lse_layout = padded_layout(s.q_heads, s.q_len, 1);
      break;
    case Layout::kPacked: {
      // Token-major [B, S, Hq + 2 Hkv, D]: Q heads, then K heads, then V heads.
      const int64_t token = (s.q_heads + 2 * s.kv_heads) * s.qk_dim;
      vkattn_tensor_layout packed;
      packed.head_stride = s.qk_dim;
      packed.seq_stride = token;
      packed.batch_stride = s.q_len * token;
      packed.offset = 0;
      d.q_layout = packed;
      packed.offset = static_cast<uint64_t>(s.q_heads * s.qk_dim);
      d.k_layout = packed;
      packed.offset = static_cast<uint64_t>((s.q_heads + s.kv_heads) * s.qk_dim);
      d.v_layout = packed;
      d.out_layout = vkattn_layout_bshd(s.q_heads, s.q_len, s.v_dim);
      break;
    }
  }
  if (s.varlen) {
    // [packed rows, heads, dim] with gaps between rows, after an offset:
    // room for every sequence's longest count, a gap row after every
    // other sequence and a first row no sequence uses.
    d.packed_q_rows = s.batch * s.q_len + s.batch + 1;
    const struct {
      vkattn_tensor_layout* layout;
      int64_t dim;
    } queries[] = {{&d.q_layout, s.qk_dim}, {&d.out_layout, s.v_dim}, {&d.lse_layout, 1}};
    for (const auto& q : queries) {
      *q.layout = vkattn_layout_thd(s.q_heads, q.dim);
      q.layout->seq_stride += 3;
      q.layout->offset = 5;
    }
  }
  d.additive_mask_layout = mask_layout(s.additive_mask, s.q_heads, s.q_len, s.kv_len);
  d.bool_mask_layout = mask_layout(s.bool_mask, s.q_heads, s.q_len, s.kv_len);
  return d;
}

namespace {

// Moves contiguous K and V ([batch, kv_heads, kv_len, dim]) into page pools
// with a random block table: pages in shuffled order, the first
// spec.shared_pages pages of every sequence shared with sequence 0, spare
// pages no table entry names, and everything no sequence holds (rows past
// a sequence's length, spare pages) NaN. Entries past a sequence's pages
// are -1 (never read).
void page_kv(const CaseSpec& s, Rng& rng, HostInputs* in) {
  vkattn_attention_desc& d = in->desc;
  const int64_t P = s.page_size;
  const int64_t max_pages = (s.kv_len + P - 1) / P;
  auto length = [&](int64_t b) { return in->kv_lens.empty() ? s.kv_len : static_cast<int64_t>(in->kv_lens[b]); };
  // Page ids: sequence 0 owns its pages, later ones share the prefix.
  std::vector<int64_t> owners;  // (b, page) of each distinct pool page, in allocation order
  std::vector<int32_t> table(static_cast<size_t>(s.batch * max_pages), -1);
  for (int64_t b = 0; b < s.batch; ++b) {
    const int64_t used = (length(b) + P - 1) / P;
    for (int64_t page = 0; page < used; ++page) {
      if (b > 0 && page < s.shared_pages) {
        table[b * max_pages + page] = table[page];
        continue;
      }
      table[b * max_pages + page] = static_cast<int32_t>(owners.size());
      owners.push_back(b * max_pages + page);
    }
  }
  // Shuffle the pool: id -> slot, with three spare pages mixed in.
  const int64_t num_pages = static_cast<int64_t>(owners.size()) + 3;
  std::vector<int32_t> slot(static_cast<size_t>(num_pages));
  for (int64_t i = 0; i < num_pages; ++i) slot[i] = static_cast<int32_t>(i);
  for (int64_t i = num_pages - 1; i > 0; --i) std::swap(slot[i], slot[rng.below(i + 1)]);
  for (int32_t& entry : table) {
    if (entry >= 0) entry = slot[entry];
  }
  const vkattn_tensor_layout contiguous_k = d.k_layout, contiguous_v = d.v_layout;
  auto pool_layout = [&](int64_t dim) {
    return s.pages_head_major ? vkattn_layout_bhsd(s.kv_heads, P, dim) : vkattn_layout_pages(s.kv_heads, P, dim);
  };
  d.page_size = P;
  d.num_pages = num_pages;
  d.max_pages = max_pages;
  d.k_layout = pool_layout(s.qk_dim);
  d.v_layout = pool_layout(s.v_dim);
  auto move = [&](const std::vector<float>& from, const vkattn_tensor_layout& from_layout, const vkattn_tensor_layout& pool,
                  int64_t dim) {
    std::vector<float> to(tensor_extent(pool, num_pages, s.kv_heads, P, dim), kNaN);
    for (size_t id = 0; id < owners.size(); ++id) {
      const int64_t b = owners[id] / max_pages, page = owners[id] % max_pages;
      const int32_t target = slot[id];
      for (int64_t h = 0; h < s.kv_heads; ++h)
        for (int64_t r = 0; r < P && page * P + r < length(b); ++r) {
          std::copy_n(&from[tensor_index(from_layout, b, h, page * P + r)], dim, &to[tensor_index(pool, target, h, r)]);
        }
    }
    return to;
  };
  in->k = move(in->k, contiguous_k, d.k_layout, s.qk_dim);
  in->v = move(in->v, contiguous_v, d.v_layout, s.v_dim);
  in->block_table = std::move(table);
}

}  // namespace

HostInputs make_inputs(const CaseSpec& s) {
  Rng rng(hash_name(s.name()));
  HostInputs in;
  in.desc = make_desc(s);
  in.alibi_slopes = s.alibi_slopes;
  in.sinks = s.sinks;
  in.features = s.features;
  if (s.mode == VKATTN_MODE_LINFORMER) {
    // E and F uniform with variance 1 / kv_len, so that K' and V' are of
    // the size of K and V (as Linformer initialises them).
    const size_t count = static_cast<size_t>(s.proj_len * s.kv_len * (s.proj_per_head ? s.kv_heads : 1));
    const float bound = static_cast<float>(std::sqrt(3.0 / static_cast<double>(s.kv_len)));
    in.proj_e.resize(count);
    in.proj_f.resize(count);
    for (float& x : in.proj_e) x = rng.uniform(-bound, bound);
    for (float& x : in.proj_f) x = rng.uniform(-bound, bound);
  }
  if (s.mode == VKATTN_MODE_BLOCK_SPARSE) {
    // Each block visible with the case's density; one query block row
    // hidden entirely where the case asks.
    const int64_t q_blocks = (s.q_len + s.block_q - 1) / s.block_q, k_blocks = (s.kv_len + s.block_k - 1) / s.block_k;
    const int64_t masks = (s.block_per_batch ? s.batch : 1) * (s.block_per_head ? s.q_heads : 1);
    in.block_mask.resize(static_cast<size_t>(masks * q_blocks * k_blocks));
    for (uint8_t& x : in.block_mask) x = rng.uniform(0.0f, 1.0f) < s.block_density ? 1 : 0;
    if (s.block_window >= 0) {
      for (int64_t m = 0; m < masks; ++m) {
        for (int64_t a = 0; a < q_blocks; ++a) {
          uint8_t* row = &in.block_mask[static_cast<size_t>((m * q_blocks + a) * k_blocks)];
          int64_t hidden = 0;
          for (int64_t c = 0; c < k_blocks; ++c) {
            row[c] = (c >= a - s.block_window && c <= a + s.block_window) || c < s.block_global || a < s.block_global;
            hidden += row[c] == 0;
          }
          for (int64_t r = 0; r < std::min(s.block_random, hidden);) {  // random hidden blocks made visible
            const int64_t c = rng.below(k_blocks);
            if (row[c] == 0) row[c] = 1, ++r;
          }
        }
      }
    }
    if (s.hidden_block_row >= 0) {
      for (int64_t m = 0; m < masks; ++m) {
        std::fill_n(&in.block_mask[static_cast<size_t>((m * q_blocks + s.hidden_block_row) * k_blocks)], k_blocks, 0);
      }
    }
  }
  in.point_desc();
  const vkattn_attention_desc& d = in.desc;

  // Tensor data: uniform in [-1, 1], rounded to the storage dtype; elements
  // outside the views stay NaN so that any read outside them shows.
  // (Packed queries: Q is one [1, heads, packed rows] view.)
  const int64_t query_batches = s.varlen ? 1 : s.batch;
  const int64_t query_rows = s.varlen ? d.packed_q_rows : s.q_len;
  auto fill = [&](std::vector<float>& data, const vkattn_tensor_layout& layout, int64_t batches, int64_t heads,
                  int64_t seq, int64_t dim, bool integers) {
    const uint64_t extent = tensor_extent(layout, batches, heads, seq, dim);
    if (data.size() < extent) data.resize(extent, kNaN);
    for (int64_t b = 0; b < batches; ++b)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < seq; ++i)
          for (int64_t c = 0; c < dim; ++c) {
            const float value = integers ? static_cast<float>(rng.below(7)) - 3.0f : rng.uniform(-1.0f, 1.0f);
            data[tensor_index(layout, b, h, i) + c] = s.dtype == VKATTN_DTYPE_F16 ? round_to_f16(value) : value;
          }
  };
  fill(in.q, d.q_layout, query_batches, s.q_heads, query_rows, s.qk_dim, s.integer_qk);
  if (s.layout == Layout::kPacked) {
    fill(in.q, d.k_layout, s.batch, s.kv_heads, s.kv_len, s.qk_dim, s.integer_qk);
    fill(in.q, d.v_layout, s.batch, s.kv_heads, s.kv_len, s.v_dim, false);
  } else {
    fill(in.k, d.k_layout, s.batch, s.kv_heads, s.kv_len, s.qk_dim, s.integer_qk);
    fill(in.v, d.v_layout, s.batch, s.kv_heads, s.kv_len, s.v_dim, false);
  }
  if (s.q_lens || s.varlen) {  // ragged queries: the first sequence full, from three on one without any query
    std::vector<int32_t> counts(static_cast<size_t>(s.batch));
    for (int64_t b = 0; b < s.batch; ++b) counts[b] = static_cast<int32_t>(1 + rng.below(s.q_len));
    counts[0] = static_cast<int32_t>(s.q_len);
    if (s.batch >= 3) counts[1] = 0;
    if (s.q_lens) in.q_lens = counts;
    if (s.varlen) {  // packed from row 1 on, a gap row after every other sequence
      in.cu_seqlens_q.assign(1, 1);
      for (int64_t b = 0; b < s.batch; ++b) in.cu_seqlens_q.push_back(in.cu_seqlens_q.back() + counts[b] + b % 2);
    }
  }

  if (s.shared_pages > 0) {
    // A shared prompt prefix: every sequence's first keys are sequence 0's,
    // so their pages can be shared (paged below).
    const int64_t shared_keys = std::min(s.kv_len, s.shared_pages * s.page_size);
    for (int64_t b = 1; b < s.batch; ++b)
      for (int64_t h = 0; h < s.kv_heads; ++h)
        for (int64_t j = 0; j < shared_keys; ++j) {
          std::copy_n(&in.k[tensor_index(d.k_layout, 0, h, j)], s.qk_dim, &in.k[tensor_index(d.k_layout, b, h, j)]);
          std::copy_n(&in.v[tensor_index(d.v_layout, 0, h, j)], s.v_dim, &in.v[tensor_index(d.v_layout, b, h, j)]);
        }
  }

  if (s.logit_target > 0) {
    // Scale Q and K by one power of two each (exact in both dtypes) so the
    // largest |scale * q.k| lands near the target.
    std::vector<float>& keys = s.layout == Layout::kPacked ? in.q : in.k;
    double largest = 0.0;
    const double scale = effective_scale(d);
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t h = 0; h < s.q_heads; ++h)
        for (int64_t i = 0; i < query_length(in, b); ++i)
          for (int64_t j = 0; j < s.kv_len; ++j) {
            const float* q = &in.q[query_index(in, d.q_layout, b, h, i)];
            const float* k = &keys[tensor_index(d.k_layout, b, h / (s.q_heads / s.kv_heads), j)];
            double dot = 0.0;
            for (int64_t c = 0; c < s.qk_dim; ++c) dot += static_cast<double>(q[c]) * k[c];
            largest = std::max(largest, std::fabs(scale * dot));
          }
    const int exponent = static_cast<int>(std::floor(0.5 * std::log2(s.logit_target / std::max(largest, 1e-30))));
    const float factor = std::ldexp(1.0f, exponent);
    auto rescale = [&](std::vector<float>& data, const vkattn_tensor_layout& layout, int64_t batches, int64_t heads,
                       int64_t seq, int64_t dim) {
      for (int64_t b = 0; b < batches; ++b)
        for (int64_t h = 0; h < heads; ++h)
          for (int64_t i = 0; i < seq; ++i)
            for (int64_t c = 0; c < dim; ++c) data[tensor_index(layout, b, h, i) + c] *= factor;
    };
    rescale(in.q, d.q_layout, query_batches, s.q_heads, query_rows, s.qk_dim);
    rescale(keys, d.k_layout, s.batch, s.kv_heads, s.kv_len, s.qk_dim);
  }
  if (s.layout == Layout::kPacked) {
    in.k = in.q;
    in.v = in.q;
  }

  if (s.kv_lens) {
    in.kv_lens.resize(static_cast<size_t>(s.batch));
    for (int64_t b = 0; b < s.batch; ++b) in.kv_lens[b] = static_cast<int32_t>(1 + rng.below(s.kv_len));
    in.kv_lens[0] = static_cast<int32_t>(s.kv_len);  // one full-length sequence
    if (s.empty_rows) in.kv_lens[s.batch - 1] = 0;   // and one with no keys at all
  }

  // Masks: random, with every row keeping some keys unless empty_rows asks
  // for rows that see nothing.
  if (d.has_bool_mask) {
    in.bool_mask.assign(mask_extent(d.bool_mask_layout, d), 0);
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t h = 0; h < s.q_heads; ++h)
        for (int64_t i = 0; i < s.q_len; ++i)
          for (int64_t j = 0; j < s.kv_len; ++j) {
            const bool keep = rng.below(10) < 7 && !(s.empty_rows && i == 0);
            in.bool_mask[mask_index(d.bool_mask_layout, b, h, i, j)] = keep ? static_cast<uint8_t>(1 + rng.below(255)) : 0;
          }
  }
  if (d.has_additive_mask) {
    in.additive_mask.assign(mask_extent(d.additive_mask_layout, d), kNaN);
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t h = 0; h < s.q_heads; ++h)
        for (int64_t i = 0; i < s.q_len; ++i)
          for (int64_t j = 0; j < s.kv_len; ++j) {
            const bool hide = rng.below(10) < 2 || (s.empty_rows && i == std::min<int64_t>(1, s.q_len - 1));
            // (Integer cases: quarters, so that logits stay exact.)
            const float add = s.integer_qk ? 0.25f * static_cast<float>(static_cast<int64_t>(rng.below(17)) - 8)
                                           : rng.uniform(-2.0f, 2.0f);
            in.additive_mask[mask_index(d.additive_mask_layout, b, h, i, j)] = hide ? -kInf : add;
          }
  }

  if (s.plant_nan) {
    // NaN into K and V at every key that no query of the kv head's group sees:
    // padding past kv_lens, keys past a top-left causal diagonal, keys a
    // key-padding mask hides. None of it may reach the output.
    const int64_t group = s.q_heads / s.kv_heads;
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t g = 0; g < s.kv_heads; ++g)
        for (int64_t j = 0; j < s.kv_len; ++j) {
          bool seen = false;
          for (int64_t h = g * group; h < (g + 1) * group && !seen; ++h)
            for (int64_t i = 0; i < s.q_len && !seen; ++i) seen = reference_visible(in, b, h, i, j);
          if (seen) continue;
          for (int64_t c = 0; c < s.qk_dim; ++c) in.k[tensor_index(d.k_layout, b, g, j) + c] = kNaN;
          for (int64_t c = 0; c < s.v_dim; ++c) in.v[tensor_index(d.v_layout, b, g, j) + c] = kNaN;
        }
    if (s.layout == Layout::kPacked) {
      // K and V live in the shared array: merge the planted values back.
      for (size_t e = 0; e < in.q.size(); ++e) {
        if (std::isnan(in.k[e]) || std::isnan(in.v[e])) in.q[e] = kNaN;
      }
      in.k = in.q;
      in.v = in.q;
    }
  }
  if (s.page_size > 0) page_kv(s, rng, &in);
  // K and V as [outer, heads, rows, dim]: batches and keys, or pool pages
  // and their rows.
  const int64_t kv_outer = s.page_size > 0 ? in.desc.num_pages : s.batch;
  const int64_t kv_rows = s.page_size > 0 ? s.page_size : s.kv_len;
  // One block in seven all zeros (scale 0: every value reads 0).
  auto zero_blocks = [&](std::vector<float>& data, const vkattn_tensor_layout& layout, int64_t heads, int64_t seq,
                         int64_t dim) {
    for (int64_t b = 0; b < kv_outer; ++b)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < seq; ++i)
          for (int64_t c = 0; c < dim; c += kBlockValues) {
            const uint64_t first = tensor_index(layout, b, h, i) + static_cast<uint64_t>(c);
            if (first / kBlockValues % 7 != 3 || std::isnan(data[first])) continue;
            std::fill(&data[first], &data[first] + kBlockValues, 0.0f);
          }
  };
  if (is_block_type(s.k_dtype)) zero_blocks(in.k, d.k_layout, s.kv_heads, kv_rows, s.qk_dim);
  if (is_block_type(s.v_dtype)) zero_blocks(in.v, d.v_layout, s.kv_heads, kv_rows, s.v_dim);
  if (is_block_type(s.k_dtype)) quantize_view(in.k, d.k_layout, kv_outer, s.kv_heads, kv_rows, s.qk_dim, s.k_dtype, &in.k_blocks);
  if (is_block_type(s.v_dtype)) quantize_view(in.v, d.v_layout, kv_outer, s.kv_heads, kv_rows, s.v_dim, s.v_dtype, &in.v_blocks);
  return in;
}

void quantize_view(std::vector<float>& values, const vkattn_tensor_layout& layout, int64_t batch, int64_t heads,
                   int64_t seq, int64_t dim, vkattn_dtype dtype, std::vector<uint8_t>* blocks) {
  const uint64_t extent = tensor_extent(layout, batch, heads, seq, dim);
  blocks->assign(values_bytes(dtype, extent), 0xff);
  const uint64_t block_bytes = block_size_bytes(dtype);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < seq; ++i)
        for (int64_t c = 0; c < dim; c += kBlockValues) {
          const uint64_t first = tensor_index(layout, b, h, i) + static_cast<uint64_t>(c);
          float* x = &values[first];
          uint8_t* block = &(*blocks)[first / kBlockValues * block_bytes];
          bool has_nan = false;
          for (int j = 0; j < kBlockValues; ++j) has_nan = has_nan || std::isnan(x[j]);
          if (has_nan) {
            std::fill(block, block + block_bytes, 0);
            block[0] = 0x00;  // f16 0x7e00: NaN
            block[1] = 0x7e;
          } else {
            encode_block(dtype, x, block);
          }
          for (int j = 0; j < kBlockValues; ++j) x[j] = decode_block_value(dtype, block, j);
        }
}

HostInputs unpage_kv(const HostInputs& paged) {
  HostInputs in = paged;
  vkattn_attention_desc& d = in.desc;
  const vkattn_tensor_layout k_pool = d.k_layout, v_pool = d.v_layout;
  d.page_size = d.num_pages = d.max_pages = 0;
  d.k_layout = vkattn_layout_bhsd(d.kv_heads, d.kv_len, d.qk_dim);
  d.v_layout = vkattn_layout_bhsd(d.kv_heads, d.kv_len, d.v_dim);
  in.block_table.clear();
  auto gather = [&](const std::vector<float>& pool, const std::vector<uint8_t>& pool_blocks, vkattn_dtype type,
                    const vkattn_tensor_layout& from, const vkattn_tensor_layout& to, int64_t dim,
                    std::vector<float>* values, std::vector<uint8_t>* blocks) {
    values->assign(tensor_extent(to, d.batch, d.kv_heads, d.kv_len, dim), kNaN);
    const bool quantized = is_block_type(type);
    if (quantized) blocks->assign(values_bytes(type, values->size()), 0xff);
    for (int64_t b = 0; b < d.batch; ++b)
      for (int64_t h = 0; h < d.kv_heads; ++h)
        for (int64_t j = 0; j < in.kv_lens[b]; ++j) {
          const uint64_t source = key_index(paged, from, b, h, j), target = tensor_index(to, b, h, j);
          std::copy_n(&pool[source], dim, &(*values)[target]);
          if (quantized) {
            const uint64_t row_bytes = values_bytes(type, static_cast<uint64_t>(dim));
            std::copy_n(&pool_blocks[values_bytes(type, source)], row_bytes, &(*blocks)[values_bytes(type, target)]);
          }
        }
  };
  gather(paged.k, paged.k_blocks, d.k_dtype, k_pool, d.k_layout, d.qk_dim, &in.k, &in.k_blocks);
  gather(paged.v, paged.v_blocks, d.v_dtype, v_pool, d.v_layout, d.v_dim, &in.v, &in.v_blocks);
  return in;
}

CaseExecution::CaseExecution(vkattn_context context, const CaseSpec& spec)
    : CaseExecution(context, spec, make_inputs(spec)) {}

CaseExecution::CaseExecution(vkattn_context context, const CaseSpec& spec, HostInputs inputs)
    : context_(context), inputs_(std::move(inputs)) {
  const vkattn_attention_desc& d = inputs_.desc;
  vkattn_status status = vkattn_plan_create(context, &d, 0, &plan_);
  if (status != VKATTN_SUCCESS) {
    status_ = status;
    unsupported_ = status == VKATTN_ERROR_UNSUPPORTED;
    error_ = unsupported_ ? std::string("unsupported: ") + vkattn_last_error()
                          : describe_failure("vkattn_plan_create", status);
    return;
  }
  vkattn_plan_info info;
  vkattn_plan_info_init(&info);
  if (vkattn_plan_get_info(plan_, &info) == VKATTN_SUCCESS) kernel_ = info.kernel;
  auto upload = [&](vkattn_buffer* buffer, const void* data, uint64_t bytes) -> bool {
    status = vkattn_buffer_create(context, bytes, 0, buffer);
    if (status != VKATTN_SUCCESS) {
      status_ = status;
      error_ = describe_failure("vkattn_buffer_create", status);
      return false;
    }
    buffers_.push_back(*buffer);
    status = vkattn_buffer_write(*buffer, 0, data, bytes);
    if (status != VKATTN_SUCCESS) {
      status_ = status;
      error_ = describe_failure("vkattn_buffer_write", status);
      return false;
    }
    return true;
  };
  vkattn_bindings_init(&bindings_);
  const std::vector<uint8_t> q_bytes = encode_tensor(inputs_.q, d.dtype);
  if (!upload(&bindings_.q, q_bytes.data(), q_bytes.size())) return;
  if (spec.layout == Layout::kPacked) {
    bindings_.k = bindings_.q;
    bindings_.v = bindings_.q;
  } else {
    const std::vector<uint8_t> k_bytes =
        is_block_type(d.k_dtype) ? inputs_.k_blocks : encode_tensor(inputs_.k, d.dtype);
    const std::vector<uint8_t> v_bytes =
        is_block_type(d.v_dtype) ? inputs_.v_blocks : encode_tensor(inputs_.v, d.dtype);
    if (!upload(&bindings_.k, k_bytes.data(), k_bytes.size()) || !upload(&bindings_.v, v_bytes.data(), v_bytes.size())) {
      return;
    }
  }
  // Outputs start as NaN everywhere; elements outside the views must stay so.
  // (Packed queries: O and LSE are [1, q_heads, packed_q_rows] views.)
  const int64_t query_batches = d.packed_q_rows > 0 ? 1 : d.batch;
  const int64_t query_rows = d.packed_q_rows > 0 ? d.packed_q_rows : d.q_len;
  out_extent_ = tensor_extent(d.out_layout, query_batches, d.q_heads, query_rows, d.v_dim);
  out_fill_ = encode_tensor(std::vector<float>(out_extent_, kNaN), d.dtype);
  if (!upload(&bindings_.out, out_fill_.data(), out_fill_.size())) return;
  if (d.has_lse) {
    lse_extent_ = tensor_extent(d.lse_layout, query_batches, d.q_heads, query_rows, 1);
    lse_fill_ = encode_tensor(std::vector<float>(lse_extent_, kNaN), VKATTN_DTYPE_F32);
    if (!upload(&bindings_.lse, lse_fill_.data(), lse_fill_.size())) return;
  }
  if (d.has_additive_mask &&
      !upload(&bindings_.additive_mask, inputs_.additive_mask.data(), inputs_.additive_mask.size() * 4)) {
    return;
  }
  if (d.has_bool_mask && !upload(&bindings_.bool_mask, inputs_.bool_mask.data(), inputs_.bool_mask.size())) return;
  if (d.has_kv_lens) bindings_.kv_lens = inputs_.kv_lens.data();
  if (d.has_q_lens) bindings_.q_lens = inputs_.q_lens.data();
  if (d.packed_q_rows > 0) bindings_.cu_seqlens_q = inputs_.cu_seqlens_q.data();
  if (d.page_size > 0) bindings_.block_table = inputs_.block_table.data();
  ready_ = true;
}

CaseExecution::~CaseExecution() {
  vkattn_plan_destroy(plan_);
  for (vkattn_buffer buffer : buffers_) vkattn_buffer_destroy(buffer);
}

bool CaseExecution::run(std::vector<uint8_t>* out, std::vector<uint8_t>* lse) {
  if (!ready_) return false;
  const auto start = std::chrono::steady_clock::now();
  vkattn_status status = vkattn_plan_execute(plan_, &bindings_);
  if (status == VKATTN_SUCCESS) status = vkattn_context_finish(context_);
  if (status != VKATTN_SUCCESS) {
    status_ = status;
    error_ = describe_failure("vkattn_plan_execute", status);
    return false;
  }
  last_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  out->resize(out_fill_.size());
  lse->resize(lse_fill_.size());
  status = vkattn_buffer_read(bindings_.out, 0, out->data(), out->size());
  if (status == VKATTN_SUCCESS && inputs_.desc.has_lse) status = vkattn_buffer_read(bindings_.lse, 0, lse->data(), lse->size());
  if (status != VKATTN_SUCCESS) {
    status_ = status;
    error_ = describe_failure("vkattn_buffer_read", status);
    return false;
  }
  return true;
}

namespace {

// A result that says why `execution` could not be set up (skipped when the
// device does not support the case).
CaseResult not_ready(const CaseExecution& execution) {
  CaseResult result;
  result.skipped = execution.unsupported();
  result.status = execution.status();
  result.message = execution.error();
  return result;
}

}  // namespace

CaseResult check_repeatable(vkattn_context context, const CaseSpec& spec, int min_runs, int max_runs,
                            double budget_ms) {
  CaseResult result;
  CaseExecution execution(context, spec);
  if (!execution.ready()) return not_ready(execution);
  std::vector<uint8_t> first_out, first_lse, out, lse;
  double spent_ms = 0.0;
  for (int run = 0; run < max_runs && (run < min_runs || spent_ms < budget_ms); ++run) {
    if (!execution.run(run == 0 ? &first_out : &out, run == 0 ? &first_lse : &lse)) {
      result.status = execution.status();
      result.message = execution.error();
      return result;
    }
    spent_ms += execution.last_ms();
    result.runs = run + 1;
    if (run > 0 && (out != first_out || lse != first_lse)) {
      result.message = "run " + std::to_string(run) + " is not bitwise identical to run 0";
      return result;
    }
  }
  result.passed = true;
  return result;
}

std::string compare_paged_with_contiguous(vkattn_context context, const CaseSpec& spec) {
  const HostInputs paged_inputs = make_inputs(spec);
  CaseSpec contiguous_spec = spec;
  contiguous_spec.page_size = 0;
  contiguous_spec.shared_pages = 0;
  CaseExecution paged(context, spec, paged_inputs);
  CaseExecution contiguous(context, contiguous_spec, unpage_kv(paged_inputs));
  if (!paged.ready()) return "paged: " + paged.error();
  if (!contiguous.ready()) return "contiguous: " + contiguous.error();
  std::vector<uint8_t> paged_out, paged_lse, out, lse;
  if (!paged.run(&paged_out, &paged_lse)) return "paged: " + paged.error();
  if (!contiguous.run(&out, &lse)) return "contiguous: " + contiguous.error();
  if (paged_out != out) return "the outputs differ";
  if (paged_lse != lse) return "the LSEs differ";
  return "";
}

namespace {

// Runs a prepared case (spec.runs times) and checks it against the float64
// reference of its inputs.
CaseResult run_and_check(CaseExecution& execution, const CaseSpec& spec) {
  CaseResult result;
  if (!execution.ready()) return not_ready(execution);
  result.kernel = execution.kernel();
  const HostInputs& in = execution.inputs();
  const vkattn_attention_desc& d = in.desc;
  const ReferenceOutput ref = reference_attention(in);
  const size_t element = d.dtype == VKATTN_DTYPE_F16 ? 2 : 4;
  const uint64_t out_extent = execution.out_extent();
  const uint64_t lse_extent = execution.lse_extent();
  const std::vector<uint8_t>& out_fill = execution.out_fill();
  const std::vector<uint8_t>& lse_fill = execution.lse_fill();

  std::vector<uint8_t> first_out, first_lse;
  for (int run = 0; run < std::max(1, spec.runs); ++run) {
    std::vector<uint8_t> out_bytes, lse_bytes;
    if (!execution.run(&out_bytes, &lse_bytes)) {
      result.status = execution.status();
      result.message = execution.error();
      return result;
    }
    if (run == 0) {
      result.execute_ms = execution.last_ms();
      first_out = std::move(out_bytes);
      first_lse = std::move(lse_bytes);
    } else if (out_bytes != first_out || lse_bytes != first_lse) {
      result.message = "run " + std::to_string(run) + " is not bitwise identical to run 0";
      return result;
    }
  }

  // Compare every output element with the reference.
  double output_scale = 0.0;
  for (double value : ref.out) output_scale = std::max(output_scale, std::fabs(value));
  if (output_scale == 0.0) output_scale = 1.0;
  const double allowed =
      allowed_abs_error(d.dtype, output_scale, ref.max_abs_v, ref.max_logit_magnitude, d.qk_dim,
                        ref.max_row_keys) +
      ref.projection_error;
  result.allowed = allowed / output_scale;
  std::vector<char> in_view(out_extent, 0);
  std::string first_problem;
  double worst = 0.0;
  // Rows past a ragged sequence's query count are outside the view: they
  // must keep the buffer's fill.
  for (int64_t b = 0; b < d.batch; ++b)
    for (int64_t h = 0; h < d.q_heads; ++h)
      for (int64_t i = 0; i < query_length(in, b); ++i) {
        const size_t row = static_cast<size_t>((b * d.q_heads + h) * d.q_len + i);
        const bool sees_nothing = std::isinf(ref.lse[row]) && ref.lse[row] < 0;
        // (Top-k rows with near ties may keep other keys: reference.h.)
        const double row_allowed = allowed + (ref.topk_out_allowance.empty() ? 0.0 : ref.topk_out_allowance[row]);
        for (int64_t c = 0; c < d.v_dim; ++c) {
          const uint64_t index = query_index(in, d.out_layout, b, h, i) + static_cast<uint64_t>(c);
          in_view[index] = 1;
          const double got = decode_element(first_out, index, d.dtype);
          const double want = ref.out[row * static_cast<size_t>(d.v_dim) + static_cast<size_t>(c)];
          const double error = std::isnan(got) ? kInf : std::fabs(got - want);
          if ((sees_nothing && got != 0.0) || error > row_allowed) {
            if (first_problem.empty()) {
              first_problem = "out[" + std::to_string(b) + "," + std::to_string(h) + "," + std::to_string(i) + "," +
                              std::to_string(c) + "] = " + std::to_string(got) + ", reference " +
                              std::to_string(want);
            }
          }
          worst = std::max(worst, error * allowed / row_allowed);  // (on the scale of `allowed`)
        }
        if (d.has_lse) {
          const uint64_t index = query_index(in, d.lse_layout, b, h, i);
          const double got = decode_element(first_lse, index, VKATTN_DTYPE_F32);
          const double want = ref.lse[row];
          double lse_ratio;
          if (sees_nothing) {
            lse_ratio = (std::isinf(got) && got < 0) ? 0.0 : kInf;
          } else {
            const double limit = allowed_lse_error(want, ref.max_logit_magnitude, d.qk_dim, ref.max_row_keys) +
                                 ref.projection_logit_error +
                                 (ref.topk_lse_allowance.empty() ? 0.0 : ref.topk_lse_allowance[row]);
            lse_ratio = std::isnan(got) ? kInf : std::fabs(got - want) / limit;
          }
          if (lse_ratio > 1.0 && first_problem.empty()) {
            first_problem = "lse[" + std::to_string(b) + "," + std::to_string(h) + "," + std::to_string(i) +
                            "] = " + std::to_string(got) + ", reference " + std::to_string(want);
          }
          result.lse_error = std::max(result.lse_error, lse_ratio);
        }
      }
  result.error = worst / output_scale;
  // Nothing outside the output views may have been written.
  for (uint64_t e = 0; e < out_extent && first_problem.empty(); ++e) {
    if (!in_view[e] && std::memcmp(&first_out[e * element], &out_fill[e * element], element) != 0) {
      first_problem = "element " + std::to_string(e) + " of the output buffer lies outside the view but was written";
    }
  }
  if (d.has_lse) {
    std::vector<char> lse_in_view(lse_extent, 0);
    for (int64_t b = 0; b < d.batch; ++b)
      for (int64_t h = 0; h < d.q_heads; ++h)
        for (int64_t i = 0; i < query_length(in, b); ++i) lse_in_view[query_index(in, d.lse_layout, b, h, i)] = 1;
    for (uint64_t e = 0; e < lse_extent && first_problem.empty(); ++e) {
      if (!lse_in_view[e] && std::memcmp(&first_lse[e * 4], &lse_fill[e * 4], 4) != 0) {
        first_problem = "element " + std::to_string(e) + " of the LSE buffer lies outside the view but was written";
      }
    }
  }
  result.passed = first_problem.empty();
  result.message = first_problem;
  return result;
}

}  // namespace

CaseResult run_case(vkattn_context context, const CaseSpec& spec) {
  CaseExecution execution(context, spec);
  return run_and_check(execution, spec);
}

CaseResult run_case(vkattn_context context, const CaseSpec& spec, HostInputs inputs) {
  CaseExecution execution(context, spec, std::move(inputs));
  return run_and_check(execution, spec);
}

PlanTimingProbe probe_plan_timing(vkattn_context context) {
  PlanTimingProbe probe;
  vkattn_attention_desc desc;
  vkattn_attention_desc_init(&desc);
  desc.batch = 1;
  desc.q_heads = desc.kv_heads = 4;
  desc.q_len = desc.kv_len = 256;
  desc.qk_dim = desc.v_dim = 64;
  vkattn_attention_desc_set_dense_layouts(&desc);
  PlanOwner plan;
  vkattn_status status = vkattn_plan_create(context, &desc, 0, &plan.plan);
  if (status != VKATTN_SUCCESS) {
    probe.failure = describe_failure("vkattn_plan_create", status);
    return probe;
  }
  const uint64_t tensor_bytes = 4 * 256 * 64 * sizeof(float);
  BufferOwner q, k, v, out;
  for (BufferOwner* owner : {&q, &k, &v, &out}) {
    status = vkattn_buffer_create(context, tensor_bytes, 0, &owner->buffer);
    if (status != VKATTN_SUCCESS) {
      probe.failure = describe_failure("vkattn_buffer_create", status);
      return probe;
    }
  }
  vkattn_bindings bindings;
  vkattn_bindings_init(&bindings);
  bindings.q = q.buffer;
  bindings.k = k.buffer;
  bindings.v = v.buffer;
  bindings.out = out.buffer;
  double ms = -1.0;
  probe.before_execution = vkattn_plan_get_last_time(plan.plan, &ms);
  probe.null_out = vkattn_plan_get_last_time(plan.plan, nullptr);
  const auto start = std::chrono::steady_clock::now();
  status = vkattn_plan_execute(plan.plan, &bindings);
  if (status == VKATTN_SUCCESS) status = vkattn_context_finish(context);
  probe.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (status != VKATTN_SUCCESS) {
    probe.failure = describe_failure("vkattn_plan_execute", status);
    return probe;
  }
  probe.after_execution = vkattn_plan_get_last_time(plan.plan, &probe.last_ms);
  return probe;
}

}  // namespace vkattn_test
