#include "suite.h"

#include <cstdio>

namespace vkattn_bench {

namespace {

vkattn_test::CaseSpec spec(int64_t q_heads, int64_t kv_heads, int64_t q_len, int64_t kv_len, int64_t dim, vkattn_dtype dtype,
              bool causal) {
  vkattn_test::CaseSpec s;
  s.group = "bench";
  s.q_heads = q_heads;
  s.kv_heads = kv_heads;
  s.q_len = q_len;
  s.kv_len = kv_len;
  s.qk_dim = s.v_dim = dim;
  s.dtype = dtype;
  s.causal = causal ? VKATTN_CAUSAL_BOTTOM_RIGHT : VKATTN_CAUSAL_NONE;
  s.lse = false;
  return s;
}

}  // namespace

std::vector<BenchCase> suite() {
  std::vector<BenchCase> cases;
  for (int64_t heads : {8, 32}) {
    for (int64_t seq : {512, 2048, 8192}) {
      for (int64_t dim : {64, 128}) {
        for (bool causal : {false, true}) {
          char name[96];
          std::snprintf(name, sizeof(name), "prefill_h%lld_s%lld_d%lld%s_f32", (long long)heads, (long long)seq,
                        (long long)dim, causal ? "_causal" : "");
          cases.push_back({name, spec(heads, heads, seq, seq, dim, VKATTN_DTYPE_F32, causal), false, ""});
        }
      }
    }
  }
  for (int64_t q_len : {1, 4}) {
    for (int64_t kv_len : {1024, 4096, 32768}) {
      char name[96];
      std::snprintf(name, sizeof(name), "decode_q%lld_kv%lld_h32x8_d128_f16", (long long)q_len, (long long)kv_len);
      cases.push_back({name, spec(32, 8, q_len, kv_len, 128, VKATTN_DTYPE_F16, true), true, ""});
    }
  }
  // The same decodes over a llama.cpp-quantized KV cache (Q and O f16),
  // each reported against its f16 row.
  for (int64_t q_len : {1, 4}) {
    for (int64_t kv_len : {4096, 32768}) {
      for (vkattn_dtype type : {VKATTN_DTYPE_Q8_0, VKATTN_DTYPE_Q4_0}) {
        char name[96], f16_name[96];
        std::snprintf(name, sizeof(name), "decode_q%lld_kv%lld_h32x8_d128_%s", (long long)q_len, (long long)kv_len,
                      type == VKATTN_DTYPE_Q8_0 ? "q8_0" : "q4_0");
        std::snprintf(f16_name, sizeof(f16_name), "decode_q%lld_kv%lld_h32x8_d128_f16", (long long)q_len,
                      (long long)kv_len);
        vkattn_test::CaseSpec s = spec(32, 8, q_len, kv_len, 128, VKATTN_DTYPE_F16, true);
        s.k_dtype = s.v_dtype = type;
        cases.push_back({name, s, true, f16_name});
      }
    }
  }
  // The same decodes over a paged KV cache (pages of 16 in shuffled order,
  // vLLM's layout), each reported against its contiguous row.
  for (vkattn_dtype type : {VKATTN_DTYPE_F16, VKATTN_DTYPE_Q8_0, VKATTN_DTYPE_Q4_0}) {
    const char* word = type == VKATTN_DTYPE_F16 ? "f16" : type == VKATTN_DTYPE_Q8_0 ? "q8_0" : "q4_0";
    char name[96], contiguous[96];
    std::snprintf(name, sizeof(name), "decode_q1_kv32768_h32x8_d128_%s_p16", word);
    std::snprintf(contiguous, sizeof(contiguous), "decode_q1_kv32768_h32x8_d128_%s", word);
    vkattn_test::CaseSpec s = spec(32, 8, 1, 32768, 128, VKATTN_DTYPE_F16, true);
    if (type != VKATTN_DTYPE_F16) s.k_dtype = s.v_dtype = type;
    s.kv_lens = true;  // paged K/V need them (one sequence: its whole length)
    s.page_size = 16;
    s.pages_head_major = true;
    cases.push_back({name, s, true, contiguous});
  }
  // StreamingLLM's cache policy: 4 global keys and a window of 1024 over
  // 32768 keys; the keys in between are skipped, so it costs a fraction of
  // the full decode.
  {
    vkattn_test::CaseSpec s = spec(32, 8, 1, 32768, 128, VKATTN_DTYPE_F16, true);
    s.window_left = 1023;
    s.global_keys = 4;
    cases.push_back({"streaming_q1_kv32768_w1024_g4_f16", s, true, "decode_q1_kv32768_h32x8_d128_f16"});
  }
  // A Llama-style prefill with RoPE turning Q on the fly (NeoX, all 128
  // dimensions), against the same prefill without it: the rotation costs
  // one pass over each query row.
  {
    vkattn_test::CaseSpec s = spec(32, 8, 2048, 2048, 128, VKATTN_DTYPE_F16, true);
    cases.push_back({"prefill_h32x8_s2048_d128_causal_f16", s, false, ""});
    s.rope.style = VKATTN_ROPE_NEOX;
    cases.push_back({"prefill_h32x8_s2048_d128_causal_rope_f16", s, false, "prefill_h32x8_s2048_d128_causal_f16"});
  }
  cases.push_back({"cross_q77_kv4096_h8_d64_f32", spec(8, 8, 77, 4096, 64, VKATTN_DTYPE_F32, false), false, ""});
  cases.push_back({"long_s32768_h1_d64_causal_f32", spec(1, 1, 32768, 32768, 64, VKATTN_DTYPE_F32, true), false, ""});
  // Linear attention (VKATTN_MODE_LINEAR), each against the exact kernel on
  // the same problem in the same run: causal prefills from 512 to 32768
  // tokens (where it overtakes), FAVOR+ with 64 features, a non-causal
  // prefill, and a decode (which, without a state kept between calls,
  // walks every key again like the exact kernel, at m x v_dim per key).
  auto linear = [](vkattn_test::CaseSpec s, int64_t favor_features) {
    s.mode = VKATTN_MODE_LINEAR;
    s.feature_map = favor_features > 0 ? VKATTN_FEATURE_MAP_FAVOR : VKATTN_FEATURE_MAP_ELU;
    if (favor_features > 0) s.features = vkattn_test::favor_test_features(favor_features, s.qk_dim, 1);
    return s;
  };
  for (int64_t seq : {512, 2048, 8192}) {
    char name[96], exact[96];
    std::snprintf(name, sizeof(name), "linear_elu_h8_s%lld_d64_causal_f32", (long long)seq);
    std::snprintf(exact, sizeof(exact), "prefill_h8_s%lld_d64_causal_f32", (long long)seq);
    cases.push_back({name, linear(spec(8, 8, seq, seq, 64, VKATTN_DTYPE_F32, true), 0), false, exact});
  }
  cases.push_back({"linear_favor64_h8_s8192_d64_causal_f32", linear(spec(8, 8, 8192, 8192, 64, VKATTN_DTYPE_F32, true), 64),
                   false, "prefill_h8_s8192_d64_causal_f32"});
  cases.push_back({"linear_elu_h8_s8192_d64_f32", linear(spec(8, 8, 8192, 8192, 64, VKATTN_DTYPE_F32, false), 0), false,
                   "prefill_h8_s8192_d64_f32"});
  cases.push_back({"linear_elu_s32768_h1_d64_causal_f32", linear(spec(1, 1, 32768, 32768, 64, VKATTN_DTYPE_F32, true), 0),
                   false, "long_s32768_h1_d64_causal_f32"});
  cases.push_back({"linear_favor64_s32768_h1_d64_causal_f32",
                   linear(spec(1, 1, 32768, 32768, 64, VKATTN_DTYPE_F32, true), 64), false,
                   "long_s32768_h1_d64_causal_f32"});
  cases.push_back({"linear_elu_q1_kv32768_h32x8_d128_f16", linear(spec(32, 8, 1, 32768, 128, VKATTN_DTYPE_F16, true), 0),
                   true, "decode_q1_kv32768_h32x8_d128_f16"});
  // Linformer (VKATTN_MODE_LINFORMER, 256 projected keys), each against the
  // exact kernel on the same (non-causal) problem in the same run: prefills
  // of 8192 and 32768 tokens, and a decode (the projections of every key
  // are redone per call: proj_len times the exact kernel's work per key).
  auto linformer = [](vkattn_test::CaseSpec s) {
    s.mode = VKATTN_MODE_LINFORMER;
    s.proj_len = 256;
    return s;
  };
  cases.push_back({"linformer256_h8_s8192_d64_f32", linformer(spec(8, 8, 8192, 8192, 64, VKATTN_DTYPE_F32, false)), false,
                   "prefill_h8_s8192_d64_f32"});
  cases.push_back({"long_s32768_h1_d64_f32", spec(1, 1, 32768, 32768, 64, VKATTN_DTYPE_F32, false), false, ""});
  cases.push_back({"linformer256_s32768_h1_d64_f32", linformer(spec(1, 1, 32768, 32768, 64, VKATTN_DTYPE_F32, false)),
                   false, "long_s32768_h1_d64_f32"});
  cases.push_back({"linformer256_q1_kv32768_h32x8_d128_f16",
                   linformer(spec(32, 8, 1, 32768, 128, VKATTN_DTYPE_F16, false)), true,
                   "decode_q1_kv32768_h32x8_d128_f16"});
  // Block-sparse attention (VKATTN_MODE_BLOCK_SPARSE), each against the
  // exact kernel on the same (non-causal) problem in the same run: a
  // Longformer pattern (blocks of 64; each query block sees its key block
  // and 2 on either side, plus 1 global block) and BigBird's (the same plus
  // 3 random blocks per query block) at 8192 and 32768 tokens, where the
  // visible share is about 9 % / 13 % and 2.4 % / 3.4 % of the blocks; and
  // a decode whose query sees 6 % of the key blocks, drawn at random.
  auto block_sparse = [](vkattn_test::CaseSpec s, int64_t random) {
    s.mode = VKATTN_MODE_BLOCK_SPARSE;
    s.block_q = s.block_k = 64;
    s.block_window = 2;
    s.block_global = 1;
    s.block_random = random;
    return s;
  };
  for (int64_t random : {0, 3}) {
    const char* pattern = random == 0 ? "longformer" : "bigbird";
    cases.push_back({std::string("blocks_") + pattern + "_h8_s8192_d64_f32",
                     block_sparse(spec(8, 8, 8192, 8192, 64, VKATTN_DTYPE_F32, false), random), false,
                     "prefill_h8_s8192_d64_f32"});
    cases.push_back({std::string("blocks_") + pattern + "_s32768_h1_d64_f32",
                     block_sparse(spec(1, 1, 32768, 32768, 64, VKATTN_DTYPE_F32, false), random), false,
                     "long_s32768_h1_d64_f32"});
  }
  {
    vkattn_test::CaseSpec decode = block_sparse(spec(32, 8, 1, 32768, 128, VKATTN_DTYPE_F16, false), 0);
    decode.block_window = -1;  // random blocks, 6 % of them
    decode.block_density = 0.06;
    cases.push_back({"blocks_random6pct_q1_kv32768_h32x8_d128_f16", decode, true, "decode_q1_kv32768_h32x8_d128_f16"});
  }
  // Top-k attention (VKATTN_MODE_TOPK, 64 keys per row), each against the
  // exact kernel on the same problem in the same run: it computes every
  // logit as the exact kernel does and reads V only for the kept keys, so
  // it can win only where V's share of the work is large (decode).
  auto topk = [](vkattn_test::CaseSpec s) {
    s.mode = VKATTN_MODE_TOPK;
    s.topk = 64;
    return s;
  };
  cases.push_back({"topk64_h8_s8192_d64_f32", topk(spec(8, 8, 8192, 8192, 64, VKATTN_DTYPE_F32, false)), false,
                   "prefill_h8_s8192_d64_f32"});
  cases.push_back({"topk64_s32768_h1_d64_f32", topk(spec(1, 1, 32768, 32768, 64, VKATTN_DTYPE_F32, false)), false,
                   "long_s32768_h1_d64_f32"});
  cases.push_back({"topk64_q1_kv32768_h32x8_d128_f16", topk(spec(32, 8, 1, 32768, 128, VKATTN_DTYPE_F16, false)), true,
                   "decode_q1_kv32768_h32x8_d128_f16"});
  return cases;
}

}  // namespace vkattn_bench
