// The conformance matrix. Each section targets one property; sizes are odd or
// prime where it matters, so that every tile edge and remainder path runs.
#include <set>

#include "conformance.h"

namespace vkattn_test {

namespace {

const vkattn_dtype kDtypes[] = {VKATTN_DTYPE_F32, VKATTN_DTYPE_F16};

}  // namespace

namespace {

// The LLM-serving features on one case: GQA 8:2, key lengths, bottom-right
// causal with a window of 100 and 4 global keys, pages of 16, q4_0 K, sinks
// and NeoX RoPE over the whole head (21 queries, 513 keys, D 64).
CaseSpec llm_features_case(const char* group, int64_t batch, vkattn_dtype dtype) {
  CaseSpec all = make_case(group, batch, 8, 2, 21, 513, 64, 64, dtype);
  all.kv_lens = true;
  all.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
  all.page_size = 16;
  all.k_dtype = VKATTN_DTYPE_Q4_0;
  all.window_left = 100;
  all.global_keys = 4;
  all.sinks = std::vector<float>(8, 1.0f);
  all.rope.style = VKATTN_ROPE_NEOX;
  return all;
}

}  // namespace

CaseSpec make_case(const char* group, int64_t batch, int64_t q_heads, int64_t kv_heads, int64_t q_len, int64_t kv_len,
                   int64_t qk_dim, int64_t v_dim, vkattn_dtype dtype) {
  CaseSpec s;
  s.group = group;
  s.batch = batch;
  s.q_heads = q_heads;
  s.kv_heads = kv_heads;
  s.q_len = q_len;
  s.kv_len = kv_len;
  s.qk_dim = qk_dim;
  s.v_dim = v_dim;
  s.dtype = dtype;
  return s;
}

std::vector<CaseSpec> conformance_cases() {
  std::vector<CaseSpec> cases;

  // Head dimensions from 1 to 256 on prefill, decode and cross shapes.
  for (vkattn_dtype dtype : kDtypes) {
    for (int64_t dim : {1, 8, 63, 64, 80, 96, 128, 256}) {
      cases.push_back(make_case("head_dim", 1, 2, 2, 37, 1031, dim, dim, dtype));
      cases.push_back(make_case("head_dim", 1, 2, 1, 1, 1031, dim, dim, dtype));
      CaseSpec square = make_case("head_dim", 2, 2, 2, 64, 64, dim, dim, dtype);
      square.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
      cases.push_back(square);
    }
  }

  // Value dimension different from the query/key dimension.
  for (vkattn_dtype dtype : kDtypes) {
    const int64_t dims[][2] = {{64, 32}, {32, 128}, {80, 48}, {1, 256}, {256, 1}, {128, 64}};
    for (const auto& pair : dims) cases.push_back(make_case("v_dim", 1, 2, 2, 37, 129, pair[0], pair[1], dtype));
  }

  // MHA, GQA (8:2, 6:3) and MQA (8:1), batched, with and without causal.
  for (vkattn_dtype dtype : kDtypes) {
    const int64_t heads[][2] = {{4, 4}, {8, 2}, {8, 1}, {6, 3}};
    for (const auto& h : heads) {
      for (vkattn_causal causal : {VKATTN_CAUSAL_NONE, VKATTN_CAUSAL_BOTTOM_RIGHT}) {
        CaseSpec s = make_case("heads", 2, h[0], h[1], 33, 77, 64, 64, dtype);
        s.causal = causal;
        cases.push_back(s);
      }
    }
  }

  // Decode: one (or a few) queries against long and odd KV lengths.
  for (vkattn_dtype dtype : kDtypes) {
    for (int64_t kv_len : {1, 17, 256, 1031, 4099}) {
      for (bool kv_lens : {false, true}) {
        CaseSpec s = make_case("decode", 2, 8, 2, 1, kv_len, 128, 128, dtype);
        s.kv_lens = kv_lens;
        s.causal = kv_lens ? VKATTN_CAUSAL_BOTTOM_RIGHT : VKATTN_CAUSAL_NONE;
        cases.push_back(s);
      }
    }
    CaseSpec four = make_case("decode", 1, 32, 8, 4, 1031, 128, 128, dtype);
    four.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    cases.push_back(four);
  }

  // Decode split along the keys (the CPU backend's flash-decoding, the
  // Vulkan backend's split-KV pass): every mask kind, hidden NaN, rows that
  // see nothing and maxima far apart must survive the merge of the splits.
  {
    CaseSpec masked = make_case("split_kv", 2, 8, 1, 1, 4097, 64, 64, VKATTN_DTYPE_F32);
    masked.bool_mask = MaskShape::kDense;
    masked.kv_lens = true;
    masked.plant_nan = true;
    cases.push_back(masked);
    CaseSpec additive = make_case("split_kv", 1, 4, 2, 3, 3001, 80, 48, VKATTN_DTYPE_F16);
    additive.additive_mask = MaskShape::kKeyPadding;
    additive.empty_rows = true;
    cases.push_back(additive);
    CaseSpec window = make_case("split_kv", 2, 8, 2, 2, 5003, 128, 128, VKATTN_DTYPE_F32);
    window.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    window.window_left = 700;
    window.window_right = 0;
    cases.push_back(window);
    CaseSpec logits = make_case("split_kv", 1, 8, 2, 1, 4099, 64, 64, VKATTN_DTYPE_F32);
    logits.logit_target = 1e4;
    cases.push_back(logits);
    CaseSpec empty = make_case("split_kv", 3, 2, 1, 1, 2500, 96, 96, VKATTN_DTYPE_F16);
    empty.kv_lens = true;
    empty.empty_rows = true;  // last batch has length 0
    empty.plant_nan = true;
    cases.push_back(empty);
  }

  // More queries than keys, under every causal alignment.
  for (vkattn_causal causal : {VKATTN_CAUSAL_NONE, VKATTN_CAUSAL_BOTTOM_RIGHT, VKATTN_CAUSAL_TOP_LEFT}) {
    const int64_t lens[][2] = {{100, 37}, {257, 1}, {65, 64}};
    for (const auto& len : lens) {
      CaseSpec s = make_case("q_longer", 1, 2, 1, len[0], len[1], 64, 64, VKATTN_DTYPE_F32);
      s.causal = causal;
      cases.push_back(s);
    }
  }

  // Every mask kind on its own, on a batched GQA problem.
  for (vkattn_dtype dtype : kDtypes) {
    auto masked = [&]() { return make_case("mask", 2, 4, 2, 47, 131, 64, 64, dtype); };
    for (vkattn_causal causal : {VKATTN_CAUSAL_BOTTOM_RIGHT, VKATTN_CAUSAL_TOP_LEFT}) {
      CaseSpec s = masked();
      s.causal = causal;
      cases.push_back(s);
    }
    const int64_t windows[][2] = {{16, 0}, {8, 8}, {0, 0}, {-1, 5}, {5, -1}, {40, 3}};
    for (const auto& w : windows) {
      CaseSpec s = masked();
      s.window_left = w[0];
      s.window_right = w[1];
      cases.push_back(s);
    }
    CaseSpec window_tl = masked();
    window_tl.causal = VKATTN_CAUSAL_TOP_LEFT;
    window_tl.window_left = 10;
    cases.push_back(window_tl);
    for (MaskShape shape : {MaskShape::kDense, MaskShape::kShared, MaskShape::kPerBatch, MaskShape::kKeyPadding}) {
      CaseSpec additive = masked();
      additive.additive_mask = shape;
      cases.push_back(additive);
      CaseSpec boolean = masked();
      boolean.bool_mask = shape;
      cases.push_back(boolean);
    }
    CaseSpec lens = masked();
    lens.kv_lens = true;
    cases.push_back(lens);
  }

  // Combinations of masks.
  for (vkattn_dtype dtype : kDtypes) {
    auto combo = [&]() { return make_case("mask_combo", 3, 4, 1, 29, 203, 64, 64, dtype); };
    CaseSpec a = combo();
    a.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    a.window_left = 31;
    a.kv_lens = true;
    cases.push_back(a);
    CaseSpec b = combo();
    b.causal = VKATTN_CAUSAL_TOP_LEFT;
    b.bool_mask = MaskShape::kDense;
    cases.push_back(b);
    CaseSpec c = combo();
    c.additive_mask = MaskShape::kPerBatch;
    c.bool_mask = MaskShape::kKeyPadding;
    cases.push_back(c);
    CaseSpec d = combo();
    d.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    d.additive_mask = MaskShape::kShared;
    d.kv_lens = true;
    cases.push_back(d);
    CaseSpec e = combo();
    e.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    e.window_left = 12;
    e.window_right = 0;
    e.additive_mask = MaskShape::kDense;
    e.bool_mask = MaskShape::kDense;
    e.kv_lens = true;
    cases.push_back(e);
    CaseSpec f = combo();
    f.window_left = 7;
    f.window_right = 7;
    f.bool_mask = MaskShape::kPerBatch;
    f.kv_lens = true;
    cases.push_back(f);
    CaseSpec g = combo();
    g.causal = VKATTN_CAUSAL_TOP_LEFT;
    g.additive_mask = MaskShape::kKeyPadding;
    g.kv_lens = true;
    cases.push_back(g);
  }

  // Rows that see no key at all: zeros and LSE -inf, never NaN.
  for (vkattn_dtype dtype : kDtypes) {
    CaseSpec tall = make_case("empty_rows", 1, 2, 2, 90, 40, 64, 64, dtype);
    tall.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;  // first 50 queries precede every key
    cases.push_back(tall);
    CaseSpec lens = make_case("empty_rows", 3, 2, 1, 16, 64, 64, 64, dtype);
    lens.kv_lens = true;
    lens.empty_rows = true;  // last batch has length 0
    cases.push_back(lens);
    CaseSpec boolean = make_case("empty_rows", 2, 2, 2, 16, 64, 64, 64, dtype);
    boolean.bool_mask = MaskShape::kDense;
    boolean.empty_rows = true;  // query 0 masks every key
    cases.push_back(boolean);
    CaseSpec additive = make_case("empty_rows", 2, 2, 2, 16, 64, 64, 64, dtype);
    additive.additive_mask = MaskShape::kDense;
    additive.empty_rows = true;  // query 1 has -inf everywhere
    cases.push_back(additive);
    CaseSpec window = make_case("empty_rows", 1, 2, 2, 64, 16, 64, 64, dtype);
    window.causal = VKATTN_CAUSAL_TOP_LEFT;
    window.window_left = 3;  // queries past key 18 see nothing
    cases.push_back(window);
  }

  // NaN planted in K/V slots no query sees must not leak.
  for (vkattn_dtype dtype : kDtypes) {
    for (Layout layout : {Layout::kBhsd, Layout::kBshd}) {
      CaseSpec padding = make_case("nan_hidden", 3, 4, 2, 19, 300, 64, 64, dtype);
      padding.kv_lens = true;
      padding.layout = layout;
      padding.plant_nan = true;
      cases.push_back(padding);
      CaseSpec decode = make_case("nan_hidden", 3, 8, 2, 1, 1031, 128, 128, dtype);
      decode.kv_lens = true;
      decode.layout = layout;
      decode.plant_nan = true;
      cases.push_back(decode);
      CaseSpec causal = make_case("nan_hidden", 1, 2, 2, 40, 333, 64, 64, dtype);
      causal.causal = VKATTN_CAUSAL_TOP_LEFT;  // keys past 39 are seen by no query
      causal.layout = layout;
      causal.plant_nan = true;
      cases.push_back(causal);
      CaseSpec keypad = make_case("nan_hidden", 2, 2, 1, 23, 97, 64, 64, dtype);
      keypad.bool_mask = MaskShape::kKeyPadding;
      keypad.layout = layout;
      keypad.plant_nan = true;
      cases.push_back(keypad);
    }
  }

  // Large logits: no overflow, no NaN; softmax of near-one-hot rows.
  for (vkattn_dtype dtype : kDtypes) {
    for (double target : {1e3, 1e4}) {
      for (vkattn_causal causal : {VKATTN_CAUSAL_NONE, VKATTN_CAUSAL_BOTTOM_RIGHT}) {
        CaseSpec s = make_case("large_logits", 1, 2, 2, 37, 257, 64, 64, dtype);
        s.logit_target = target;
        s.causal = causal;
        cases.push_back(s);
      }
    }
  }
  CaseSpec negative_scale = make_case("scale", 1, 2, 2, 37, 129, 64, 64, VKATTN_DTYPE_F32);
  negative_scale.scale = -0.25f;
  cases.push_back(negative_scale);
  CaseSpec explicit_scale = make_case("scale", 1, 2, 2, 37, 129, 64, 64, VKATTN_DTYPE_F16);
  explicit_scale.scale = 0.3f;
  cases.push_back(explicit_scale);

  // Layouts: BSHD (FlashAttention), packed QKV, padded strides.
  for (vkattn_dtype dtype : kDtypes) {
    for (Layout layout : {Layout::kBshd, Layout::kPacked, Layout::kPadded}) {
      const int64_t heads[][2] = {{4, 4}, {8, 2}};
      for (const auto& h : heads) {
        for (vkattn_causal causal : {VKATTN_CAUSAL_NONE, VKATTN_CAUSAL_BOTTOM_RIGHT}) {
          CaseSpec s = make_case("layout", 2, h[0], h[1], 53, 53, 64, 64, dtype);
          s.layout = layout;
          s.causal = causal;
          cases.push_back(s);
        }
      }
    }
  }
  CaseSpec padded_masks = make_case("layout", 2, 4, 2, 31, 70, 40, 24, VKATTN_DTYPE_F32);
  padded_masks.layout = Layout::kPadded;
  padded_masks.additive_mask = MaskShape::kPerBatch;
  padded_masks.kv_lens = true;
  cases.push_back(padded_masks);

  // Odd and prime sizes everywhere.
  {
    const int64_t lens[][2] = {{1, 1}, {2, 3}, {3, 2}, {13, 17}, {31, 257}, {37, 1031}};
    for (const auto& len : lens) {
      for (int64_t dim : {5, 17, 33}) {
        CaseSpec s = make_case("odd_sizes", 1, 3, 1, len[0], len[1], dim, dim + 2, VKATTN_DTYPE_F32);
        s.causal = len[0] % 2 ? VKATTN_CAUSAL_BOTTOM_RIGHT : VKATTN_CAUSAL_NONE;
        cases.push_back(s);
      }
    }
  }

  // Without the LSE output.
  for (vkattn_dtype dtype : kDtypes) {
    CaseSpec s = make_case("no_lse", 1, 4, 2, 45, 90, 64, 64, dtype);
    s.lse = false;
    s.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    cases.push_back(s);
  }

  // Long key ranges: more key tiles per workgroup than some drivers let one
  // shader invocation loop over (lavapipe stops loops after 65535 iterations
  // in total), so the Vulkan backend walks them in several dispatches.
  {
    CaseSpec wide = make_case("long_kv", 1, 2, 2, 64, 6000, 128, 128, VKATTN_DTYPE_F32);
    cases.push_back(wide);
    CaseSpec decode = make_case("long_kv", 2, 8, 2, 1, 20000, 64, 64, VKATTN_DTYPE_F16);
    decode.kv_lens = true;
    decode.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    cases.push_back(decode);
    CaseSpec causal = make_case("long_kv", 1, 1, 1, 3000, 3000, 64, 64, VKATTN_DTYPE_F32);
    causal.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    cases.push_back(causal);
    CaseSpec masked = make_case("long_kv", 1, 2, 1, 40, 5000, 96, 80, VKATTN_DTYPE_F16);
    masked.bool_mask = MaskShape::kKeyPadding;
    masked.plant_nan = true;
    cases.push_back(masked);
  }

  // The logit pipeline: soft-capping, ALiBi position bias and attention
  // sinks, alone and together, with the masks and layouts around them.
  {
    auto sinks_for = [](int64_t heads, float base) {
      std::vector<float> sinks;
      for (int64_t h = 0; h < heads; ++h) sinks.push_back(base - 0.5f * static_cast<float>(h % 6));
      return sinks;
    };
    for (vkattn_dtype dtype : kDtypes) {
      CaseSpec capped = make_case("logits", 1, 4, 2, 33, 70, 64, 64, dtype);
      capped.softcap = 5.0f;
      capped.logit_target = 40.0;  // most logits beyond the cap
      cases.push_back(capped);
      CaseSpec alibi = make_case("logits", 1, 5, 5, 37, 1031, 32, 32, dtype);  // 5 heads: not a power of two
      alibi.alibi_slopes = paper_alibi_slopes(5);
      alibi.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
      cases.push_back(alibi);
      CaseSpec sinks = make_case("logits", 2, 4, 2, 19, 257, 64, 48, dtype);
      sinks.sinks = sinks_for(4, 1.5f);
      cases.push_back(sinks);
      CaseSpec empty = make_case("logits", 2, 4, 4, 9, 40, 32, 32, dtype);
      empty.sinks = sinks_for(4, 0.5f);
      empty.empty_rows = true;  // rows with no key: zeros, LSE = sink
      empty.bool_mask = MaskShape::kDense;
      cases.push_back(empty);
      CaseSpec decode = make_case("logits", 1, 8, 2, 1, 4099, 128, 128, dtype);  // split keys
      decode.sinks = sinks_for(8, 6.0f);  // the sink dominates: outputs shrink
      decode.alibi_slopes = paper_alibi_slopes(8);
      decode.softcap = 30.0f;
      cases.push_back(decode);
      CaseSpec all = make_case("logits", 2, 6, 2, 45, 300, 80, 64, dtype);
      all.softcap = 8.0f;
      all.logit_target = 20.0;
      all.alibi_slopes = paper_alibi_slopes(6);
      all.sinks = sinks_for(6, 1.0f);
      all.causal = VKATTN_CAUSAL_TOP_LEFT;
      all.window_left = 64;
      all.window_right = 4;
      all.additive_mask = MaskShape::kPerBatch;
      all.kv_lens = true;
      all.layout = Layout::kBshd;
      cases.push_back(all);
    }
  }

  // Global keys exempt from the sliding window (StreamingLLM: sink tokens
  // plus a recent window): both causal alignments, windows on one or both
  // sides, global keys overlapping the window, more global keys than a
  // sequence has, split decodes, masks and key lengths on top.
  for (vkattn_dtype dtype : kDtypes) {
    CaseSpec streaming = make_case("global_keys", 1, 8, 2, 1, 4099, 64, 64, dtype);  // split decode
    streaming.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    streaming.window_left = 1000;
    streaming.global_keys = 4;
    cases.push_back(streaming);
    CaseSpec prefill = make_case("global_keys", 2, 4, 2, 300, 300, 64, 64, dtype);
    prefill.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    prefill.window_left = 32;
    prefill.global_keys = 5;
    prefill.kv_lens = true;
    prefill.plant_nan = true;  // keys between the global ones and every window: NaN, never read
    cases.push_back(prefill);
    CaseSpec top_left = make_case("global_keys", 1, 3, 3, 90, 200, 32, 48, dtype);
    top_left.causal = VKATTN_CAUSAL_TOP_LEFT;
    top_left.window_left = 10;
    top_left.window_right = 0;
    top_left.global_keys = 40;  // overlaps early rows' windows
    top_left.bool_mask = MaskShape::kDense;
    cases.push_back(top_left);
    CaseSpec two_sided = make_case("global_keys", 2, 2, 1, 37, 129, 64, 64, dtype);
    two_sided.window_left = 8;
    two_sided.window_right = 8;  // no causal: global keys also pass the window's right edge
    two_sided.global_keys = 3;
    two_sided.additive_mask = MaskShape::kPerBatch;
    two_sided.layout = Layout::kBshd;
    cases.push_back(two_sided);
    CaseSpec beyond = make_case("global_keys", 2, 4, 4, 7, 20, 32, 32, dtype);
    beyond.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    beyond.window_left = 2;
    beyond.global_keys = 1000;  // more than the keys: every key is global
    beyond.kv_lens = true;
    beyond.empty_rows = true;
    cases.push_back(beyond);
  }

  // Paged K and V: page pools in shuffled order with a random block table,
  // spare pages and rows past each sequence's length NaN (never read).
  // Page sizes 1, 7 (odd), 16, 256; vLLM's [pages, P, Hkv, D] pools and
  // head-major ones; pages shared by every sequence (a common prefix);
  // everything at once with quantized K/V.
  for (vkattn_dtype dtype : kDtypes) {
    CaseSpec decode = make_case("paged", 3, 8, 2, 1, 4099, 128, 128, dtype);  // split keys
    decode.kv_lens = true;
    decode.page_size = 16;
    cases.push_back(decode);
    CaseSpec odd = make_case("paged", 2, 4, 2, 37, 300, 64, 48, dtype);
    odd.kv_lens = true;
    odd.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    odd.page_size = 7;
    odd.pages_head_major = true;
    cases.push_back(odd);
    CaseSpec single = make_case("paged", 2, 2, 1, 5, 20, 32, 32, dtype);
    single.kv_lens = true;
    single.page_size = 1;
    single.bool_mask = MaskShape::kDense;
    cases.push_back(single);
    CaseSpec large = make_case("paged", 2, 4, 4, 3, 600, 64, 64, dtype);
    large.kv_lens = true;
    large.page_size = 256;
    large.layout = Layout::kBshd;  // Q and O; K and V are pools
    cases.push_back(large);
    CaseSpec shared = make_case("paged", 4, 4, 2, 9, 200, 64, 64, dtype);
    shared.kv_lens = true;
    shared.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    shared.page_size = 16;
    shared.shared_pages = 5;
    cases.push_back(shared);
    CaseSpec all = make_case("paged", 2, 8, 2, 21, 513, 64, 64, dtype);
    all.kv_lens = true;
    all.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    all.page_size = 16;
    all.k_dtype = VKATTN_DTYPE_Q4_0;
    all.v_dtype = VKATTN_DTYPE_Q8_0;
    all.window_left = 100;
    all.global_keys = 4;
    all.sinks = std::vector<float>(8, 1.0f);
    all.softcap = 20.0f;
    all.alibi_slopes = paper_alibi_slopes(8);
    cases.push_back(all);
  }

  // K and V stored as llama.cpp's q8_0 / q4_0 blocks (the reference attends
  // their exact values): each type alone and mixed with float V, decode with
  // split keys, prefill with masks, gapped layouts, blocks of zeros (scale
  // 0) and NaN blocks under keys no query sees.
  {
    const vkattn_dtype q8 = VKATTN_DTYPE_Q8_0, q4 = VKATTN_DTYPE_Q4_0;
    for (vkattn_dtype dtype : kDtypes) {
      for (vkattn_dtype type : {q8, q4}) {
        CaseSpec decode = make_case("quantized", 1, 8, 2, 1, 4099, 128, 128, dtype);  // split keys
        decode.k_dtype = decode.v_dtype = type;
        cases.push_back(decode);
        CaseSpec prefill = make_case("quantized", 2, 4, 2, 37, 300, 64, 64, dtype);
        prefill.k_dtype = prefill.v_dtype = type;
        prefill.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
        prefill.kv_lens = true;
        cases.push_back(prefill);
      }
      CaseSpec mixed = make_case("quantized", 1, 6, 3, 4, 1000, 64, 96, dtype);
      mixed.k_dtype = q8;  // V stays dtype
      mixed.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
      cases.push_back(mixed);
      CaseSpec float_k = make_case("quantized", 2, 2, 2, 50, 77, 40, 32, dtype);  // qk_dim not a multiple of 32
      float_k.v_dtype = q4;
      float_k.bool_mask = MaskShape::kDense;
      cases.push_back(float_k);
      CaseSpec padded = make_case("quantized", 2, 4, 4, 33, 130, 96, 64, dtype);
      padded.k_dtype = q4;
      padded.v_dtype = q8;
      padded.layout = Layout::kPadded;
      padded.window_left = 40;
      padded.window_right = 3;
      cases.push_back(padded);
      CaseSpec hidden_nan = make_case("quantized", 3, 4, 2, 9, 200, 32, 32, dtype);
      hidden_nan.k_dtype = hidden_nan.v_dtype = q4;
      hidden_nan.kv_lens = true;
      hidden_nan.causal = VKATTN_CAUSAL_TOP_LEFT;
      hidden_nan.plant_nan = true;
      cases.push_back(hidden_nan);
      CaseSpec combined = make_case("quantized", 2, 8, 2, 21, 513, 64, 64, dtype);
      combined.k_dtype = q4;
      combined.v_dtype = q8;
      combined.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
      combined.window_left = 100;
      combined.global_keys = 4;
      combined.kv_lens = true;
      combined.softcap = 20.0f;
      combined.alibi_slopes = paper_alibi_slopes(8);
      combined.sinks = std::vector<float>(8, 1.0f);
      combined.layout = Layout::kBshd;
      combined.plant_nan = true;  // NaN blocks between the global keys and the windows
      cases.push_back(combined);
    }
  }

  // RoPE applied to Q on the fly (the keys stand for keys already turned at
  // their cache positions): both pair styles, partial rotary dimensions,
  // odd head dimensions, Qwen's theta at far positions, split decodes, key
  // lengths (each sequence's own query positions), and with everything else.
  auto rope = [](vkattn_rope_style style, int64_t dims, float theta) {
    vkattn_rope r{};
    r.style = style;
    r.dims = dims;
    r.theta = theta;
    return r;
  };
  for (vkattn_dtype dtype : kDtypes) {
    CaseSpec prefill = make_case("rope", 2, 4, 2, 45, 300, 64, 64, dtype);
    prefill.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    prefill.kv_lens = true;
    prefill.rope = rope(VKATTN_ROPE_NEOX, 0, 0.0f);
    cases.push_back(prefill);
    // (f32 only where f16 storage adds nothing to the rotation: the
    // Vulkan matrix runs compile every case's pipelines several times.)
    if (dtype == VKATTN_DTYPE_F32) {
      CaseSpec partial = make_case("rope", 1, 8, 2, 1, 4099, 128, 128, dtype);  // split decode
      partial.rope = rope(VKATTN_ROPE_GPTJ, 32, 0.0f);
      cases.push_back(partial);
      CaseSpec far = make_case("rope", 1, 4, 1, 3, 20000, 64, 64, dtype);  // positions near 20000
      far.rope = rope(VKATTN_ROPE_NEOX, 0, 1000000.0f);
      far.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
      cases.push_back(far);
    }
    CaseSpec odd = make_case("rope", 2, 3, 3, 17, 40, 33, 20, dtype);  // odd head dimension, even rotary part
    odd.rope = rope(VKATTN_ROPE_NEOX, 32, 0.0f);
    odd.causal = VKATTN_CAUSAL_TOP_LEFT;
    odd.layout = Layout::kBshd;
    cases.push_back(odd);
    if (dtype == VKATTN_DTYPE_F16) {
      CaseSpec gptj = make_case("rope", 1, 2, 2, 30, 30, 34, 34, dtype);
      gptj.rope = rope(VKATTN_ROPE_GPTJ, 0, 500.0f);
      gptj.layout = Layout::kPacked;
      cases.push_back(gptj);
    }
    CaseSpec all = llm_features_case("rope", 2, dtype);
    all.v_dtype = VKATTN_DTYPE_Q8_0;
    cases.push_back(all);
  }

  // Ragged batches: each sequence its own query count (padded Q/O; rows
  // past a sequence's count must stay untouched), with its own bottom-right
  // alignment and RoPE positions: prefills with key lengths, a sequence
  // without queries, split decodes of 1 and 4 queries, top-left causal with
  // a window and ALiBi, and everything at once (GQA, pages, q4_0 K, sinks,
  // window, global keys, RoPE).
  for (vkattn_dtype dtype : kDtypes) {
    CaseSpec prefill = make_case("ragged", 4, 8, 2, 45, 300, 64, 64, dtype);
    prefill.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    prefill.kv_lens = true;
    prefill.q_lens = true;
    cases.push_back(prefill);
    CaseSpec prompts = make_case("ragged", 3, 4, 4, 37, 37, 32, 48, dtype);  // self-attention over padded prompts
    prompts.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    prompts.q_lens = true;
    prompts.layout = Layout::kBshd;
    cases.push_back(prompts);
    CaseSpec decode = make_case("ragged", 3, 8, 2, 1, 4099, 128, 128, dtype);  // split keys; one sequence idle
    decode.kv_lens = true;
    decode.q_lens = true;
    cases.push_back(decode);
    if (dtype == VKATTN_DTYPE_F32) {  // (f32 only: see the rope group)
      CaseSpec speculative = make_case("ragged", 3, 8, 2, 4, 4099, 64, 64, dtype);  // split keys, 1..4 queries
      speculative.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
      speculative.kv_lens = true;
      speculative.q_lens = true;
      cases.push_back(speculative);
      CaseSpec top_left = make_case("ragged", 2, 5, 5, 30, 90, 32, 32, dtype);
      top_left.causal = VKATTN_CAUSAL_TOP_LEFT;
      top_left.window_left = 20;
      top_left.alibi_slopes = paper_alibi_slopes(5);
      top_left.q_lens = true;
      cases.push_back(top_left);
    }
    CaseSpec all = llm_features_case("ragged", 3, dtype);
    all.q_lens = true;
    cases.push_back(all);
  }

  // Packed queries (cu_seqlens_q, FlashAttention's varlen layout): the
  // ragged counts with each sequence's rows packed one after another (a
  // gap row after every other sequence; rows no sequence covers must stay
  // untouched): prefills with a boolean mask indexed by each sequence's
  // own rows, a split decode with an idle sequence, and everything at once.
  for (vkattn_dtype dtype : kDtypes) {
    CaseSpec prefill = make_case("varlen", 4, 8, 2, 45, 300, 64, 64, dtype);
    prefill.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    prefill.kv_lens = true;
    prefill.varlen = true;
    prefill.bool_mask = MaskShape::kDense;
    cases.push_back(prefill);
  }
  {
    CaseSpec decode = make_case("varlen", 3, 8, 2, 1, 4099, 128, 128, VKATTN_DTYPE_F32);  // split keys
    decode.kv_lens = true;
    decode.varlen = true;
    cases.push_back(decode);
    CaseSpec all = llm_features_case("varlen", 3, VKATTN_DTYPE_F32);
    all.varlen = true;
    cases.push_back(all);
  }

  // Linear attention (VKATTN_MODE_LINEAR), against its own float64
  // definition: both feature maps; GQA, key lengths, ragged queries and
  // both causal alignments; rows that see no key; a CPU split into key
  // chunks (prefix states) with repeated runs; decodes in the CPU's direct
  // form (split keys; causal with NaN past the lengths); quantized and
  // paged K/V with NaN in every slot no query sees; packed QKV and odd
  // head dimensions.
  auto linear = [](CaseSpec s, int64_t favor_features) {
    s.mode = VKATTN_MODE_LINEAR;
    s.lse = false;
    s.feature_map = favor_features > 0 ? VKATTN_FEATURE_MAP_FAVOR : VKATTN_FEATURE_MAP_ELU;
    if (favor_features > 0) s.features = favor_test_features(favor_features, s.qk_dim, 1000 + s.qk_dim);
    return s;
  };
  for (vkattn_dtype dtype : kDtypes) {
    CaseSpec gqa = linear(make_case("linear", 2, 4, 2, 37, 300, 64, 64, dtype), 0);
    cases.push_back(gqa);
    CaseSpec prefill = linear(make_case("linear", 3, 4, 2, 45, 300, 64, 48, dtype), 0);
    prefill.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    prefill.kv_lens = true;
    prefill.q_lens = true;
    cases.push_back(prefill);
    CaseSpec favor = linear(make_case("linear", 2, 4, 4, 33, 129, 32, 32, dtype), 64);
    favor.causal = VKATTN_CAUSAL_TOP_LEFT;
    favor.layout = Layout::kBshd;
    cases.push_back(favor);
    CaseSpec empty = linear(make_case("linear", 1, 2, 2, 90, 40, 32, 32, dtype), 48);  // 50 rows see no key
    empty.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    cases.push_back(empty);
    CaseSpec decode = linear(make_case("linear", 1, 8, 2, 1, 2049, 128, 128, dtype), 64);  // CPU: direct, key chunks
    decode.kv_lens = true;
    cases.push_back(decode);
    CaseSpec speculative = linear(make_case("linear", 3, 16, 2, 4, 700, 128, 128, dtype), 0);  // CPU: direct, causal
    speculative.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    speculative.kv_lens = true;
    speculative.q_lens = true;
    speculative.plant_nan = true;
    cases.push_back(speculative);
    CaseSpec all = linear(make_case("linear", 2, 8, 2, 21, 513, 64, 64, dtype), 96);
    all.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    all.kv_lens = true;
    all.q_lens = true;
    all.k_dtype = VKATTN_DTYPE_Q8_0;
    all.v_dtype = VKATTN_DTYPE_Q4_0;
    all.page_size = 16;
    all.plant_nan = true;
    cases.push_back(all);
  }
  {
    CaseSpec chunked = linear(make_case("linear", 1, 2, 1, 1100, 1100, 64, 64, VKATTN_DTYPE_F32), 0);  // CPU: key chunks
    chunked.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    chunked.runs = 3;
    cases.push_back(chunked);
    CaseSpec packed = linear(make_case("linear", 2, 4, 2, 40, 40, 32, 32, VKATTN_DTYPE_F16), 0);
    packed.layout = Layout::kPacked;
    packed.scale = 0.25f;
    cases.push_back(packed);
    CaseSpec odd = linear(make_case("linear", 2, 3, 1, 17, 70, 33, 20, VKATTN_DTYPE_F32), 40);
    odd.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    odd.varlen = true;
    odd.kv_lens = true;
    cases.push_back(odd);
  }

  // Linformer (VKATTN_MODE_LINFORMER), against its own float64 definition:
  // E and F shared and per kv head; GQA, key lengths (NaN past them must
  // not leak into K', V'), ragged and packed queries; softcap, sinks and
  // LSE; a decode over long keys (several key chunks per projection;
  // on lavapipe, 9000 keys take several dispatches);
  // quantized and paged K/V; packed QKV, odd head dimensions and a
  // projection longer than one row block, run repeatedly.
  auto linformer = [](CaseSpec s, int64_t proj_len, bool per_head) {
    s.mode = VKATTN_MODE_LINFORMER;
    s.proj_len = proj_len;
    s.proj_per_head = per_head;
    return s;
  };
  for (vkattn_dtype dtype : kDtypes) {
    CaseSpec gqa = linformer(make_case("linformer", 2, 4, 2, 37, 300, 64, 64, dtype), 32, false);
    gqa.kv_lens = true;
    gqa.plant_nan = true;
    cases.push_back(gqa);
    CaseSpec options = linformer(make_case("linformer", 3, 4, 2, 45, 257, 64, 48, dtype), 48, true);
    options.q_lens = true;
    options.softcap = 20.0f;
    options.sinks = {0.5f, -1.0f, 2.0f, 0.0f};
    cases.push_back(options);
    CaseSpec decode = linformer(make_case("linformer", 1, 8, 2, 1, 2049, 128, 128, dtype), 128, false);
    decode.kv_lens = true;
    cases.push_back(decode);
    CaseSpec cache = linformer(make_case("linformer", 2, 8, 2, 21, 513, 64, 64, dtype), 64, true);
    cache.kv_lens = true;
    cache.k_dtype = VKATTN_DTYPE_Q8_0;
    cache.v_dtype = VKATTN_DTYPE_Q4_0;
    cache.page_size = 16;
    cache.plant_nan = true;
    cases.push_back(cache);
  }
  {
    CaseSpec odd = linformer(make_case("linformer", 2, 3, 1, 17, 70, 33, 20, VKATTN_DTYPE_F32), 5, false);
    odd.varlen = true;
    odd.kv_lens = true;
    cases.push_back(odd);
    CaseSpec packed = linformer(make_case("linformer", 2, 4, 2, 40, 40, 32, 32, VKATTN_DTYPE_F16), 16, false);
    packed.layout = Layout::kPacked;
    packed.scale = 0.25f;
    cases.push_back(packed);
    CaseSpec long_projection = linformer(make_case("linformer", 1, 2, 1, 100, 1000, 64, 64, VKATTN_DTYPE_F32), 300, false);
    long_projection.runs = 3;
    cases.push_back(long_projection);  }
  for (vkattn_dtype dtype : kDtypes) {  // lavapipe: the keys walked in several dispatches (partial sums between)
    cases.push_back(linformer(make_case("linformer", 1, 2, 1, 3, 9000, 32, 32, dtype), 16, false));
  }

  // Block-sparse attention (VKATTN_MODE_BLOCK_SPARSE): exact attention
  // through a random block mask (each block visible with the case's
  // density): causal prefills with key lengths; masks per batch and per
  // head with GQA, a window, global keys and a boolean mask; a split decode;
  // a query block that sees nothing (zeros; with sinks, LSE = sink); q8_0 /
  // q4_0 K/V in pages with ragged queries and NaN in every slot no query
  // sees (hidden blocks included); packed queries with an additive mask;
  // a 384-token prefill in blocks of 128 run three times bitwise.
  auto block_sparse = [](CaseSpec s, int64_t block_q, int64_t block_k, double density) {
    s.mode = VKATTN_MODE_BLOCK_SPARSE;
    s.block_q = block_q;
    s.block_k = block_k;
    s.block_density = density;
    return s;
  };
  for (vkattn_dtype dtype : kDtypes) {
    CaseSpec prefill = block_sparse(make_case("block_sparse", 2, 4, 2, 200, 200, 64, 64, dtype), 32, 32, 0.4);
    prefill.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    prefill.kv_lens = true;
    cases.push_back(prefill);
    CaseSpec masks = block_sparse(make_case("block_sparse", 2, 4, 2, 130, 260, 64, 64, dtype), 16, 64, 0.5);
    masks.block_per_batch = true;
    masks.block_per_head = true;
    masks.window_left = 100;
    masks.global_keys = 20;
    masks.bool_mask = MaskShape::kPerBatch;
    cases.push_back(masks);
    CaseSpec decode = block_sparse(make_case("block_sparse", 1, 8, 2, 1, 2049, 128, 128, dtype), 16, 128, 0.3);
    decode.kv_lens = true;
    decode.block_per_head = true;
    cases.push_back(decode);
  }
  {
    CaseSpec empty = block_sparse(make_case("block_sparse", 1, 2, 2, 64, 128, 32, 32, VKATTN_DTYPE_F32), 16, 16, 0.5);
    empty.hidden_block_row = 1;
    empty.sinks = {0.5f, -2.0f};
    cases.push_back(empty);
    CaseSpec cache = block_sparse(make_case("block_sparse", 3, 8, 2, 33, 200, 64, 64, VKATTN_DTYPE_F32), 16, 32, 0.5);
    cache.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    cache.kv_lens = true;
    cache.q_lens = true;
    cache.k_dtype = VKATTN_DTYPE_Q8_0;
    cache.v_dtype = VKATTN_DTYPE_Q4_0;
    cache.page_size = 16;
    cache.block_per_head = true;
    cache.plant_nan = true;
    cases.push_back(cache);
    CaseSpec varlen = block_sparse(make_case("block_sparse", 3, 4, 4, 70, 200, 32, 48, VKATTN_DTYPE_F16), 64, 16, 0.6);
    varlen.varlen = true;
    varlen.kv_lens = true;
    varlen.additive_mask = MaskShape::kDense;
    cases.push_back(varlen);
    CaseSpec repeated = block_sparse(make_case("block_sparse", 1, 4, 1, 384, 384, 64, 64, VKATTN_DTYPE_F32), 128, 128, 0.5);
    repeated.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    repeated.runs = 3;
    cases.push_back(repeated);
  }

  // Top-k attention (VKATTN_MODE_TOPK), against its own float64
  // definition. Q and K hold small integers where the case's logits stay
  // exact (scales that are powers of two, ALiBi slopes too, additive masks
  // in quarters), so that equal dot products tie exactly and the lower key
  // index must win; quantized K and RoPE make logits inexact, so those
  // cases draw continuous data (where a kept and a dropped logit come
  // within rounding of each other, the reference widens that row's
  // tolerance by what swapping them may change). Causal prefills with key
  // lengths (rows with fewer than k keys are exact); a decode whose rows
  // keep 64 of up to 2049 keys; k at least every row's visible keys (the
  // exact result) and k = VKATTN_MAX_TOPK; rows that see nothing (zeros,
  // LSE -inf, or the sink); masks, ALiBi, a window with global keys;
  // q8_0 / q4_0 K/V in pages with ragged queries and NaN in every slot no
  // query sees; packed queries with RoPE; k = 1 with soft-capping.
  auto topk = [](CaseSpec s, int64_t k, bool integers) {
    s.mode = VKATTN_MODE_TOPK;
    s.topk = k;
    s.integer_qk = integers;
    return s;
  };
  for (vkattn_dtype dtype : kDtypes) {
    CaseSpec prefill = topk(make_case("topk", 2, 4, 2, 100, 300, 64, 64, dtype), 16, true);
    prefill.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    prefill.kv_lens = true;
    cases.push_back(prefill);
    CaseSpec decode = topk(make_case("topk", 1, 8, 2, 1, 2049, 128, 128, dtype), 64, true);
    decode.scale = 0.125f;
    decode.kv_lens = true;
    cases.push_back(decode);
  }
  {
    CaseSpec all_kept = topk(make_case("topk", 2, 2, 1, 37, 300, 64, 32, VKATTN_DTYPE_F32), 51, true);
    all_kept.window_left = 50;
    all_kept.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    cases.push_back(all_kept);
    cases.push_back(topk(make_case("topk", 1, 2, 2, 20, 300, 16, 16, VKATTN_DTYPE_F32), VKATTN_MAX_TOPK, true));
    CaseSpec empty = topk(make_case("topk", 3, 2, 1, 16, 40, 16, 16, VKATTN_DTYPE_F32), 8, true);
    empty.kv_lens = true;
    empty.empty_rows = true;
    empty.bool_mask = MaskShape::kDense;
    empty.sinks = {0.5f, -2.0f};
    cases.push_back(empty);
    CaseSpec shaped = topk(make_case("topk", 2, 4, 2, 64, 400, 64, 64, VKATTN_DTYPE_F16), 24, true);
    shaped.additive_mask = MaskShape::kDense;
    shaped.alibi_slopes = paper_alibi_slopes(4);
    shaped.window_left = 120;
    shaped.global_keys = 10;
    cases.push_back(shaped);
    CaseSpec cache = topk(make_case("topk", 3, 8, 2, 33, 200, 64, 64, VKATTN_DTYPE_F32), 20, false);
    cache.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    cache.kv_lens = true;
    cache.q_lens = true;
    cache.k_dtype = VKATTN_DTYPE_Q8_0;
    cache.v_dtype = VKATTN_DTYPE_Q4_0;
    cache.page_size = 16;
    cache.plant_nan = true;
    cases.push_back(cache);
    CaseSpec packed = topk(make_case("topk", 3, 4, 4, 70, 200, 32, 48, VKATTN_DTYPE_F16), 12, false);
    packed.varlen = true;
    packed.kv_lens = true;
    packed.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    packed.rope = vkattn_rope{VKATTN_ROPE_NEOX, 0.0f, 0};
    cases.push_back(packed);
    CaseSpec single = topk(make_case("topk", 1, 3, 1, 50, 77, 36, 20, VKATTN_DTYPE_F32), 1, true);
    single.scale = 0.25f;
    single.softcap = 20.0f;  // (equal logits stay equal through tanh: without additions after it, ties stay exact)
    cases.push_back(single);
  }

  // Repeated executions of one plan are bitwise identical.
  for (vkattn_dtype dtype : kDtypes) {
    CaseSpec prefill = make_case("determinism", 2, 8, 2, 127, 300, 64, 64, dtype);
    prefill.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    prefill.runs = 3;
    cases.push_back(prefill);
    CaseSpec decode = make_case("determinism", 1, 8, 2, 1, 4099, 128, 128, dtype);
    decode.runs = 3;
    cases.push_back(decode);
    CaseSpec masked = make_case("determinism", 2, 4, 4, 33, 100, 64, 64, dtype);
    masked.additive_mask = MaskShape::kDense;
    masked.bool_mask = MaskShape::kShared;
    masked.runs = 3;
    cases.push_back(masked);
  }

  return cases;
}

}  // namespace vkattn_test
