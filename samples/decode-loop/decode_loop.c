/* A complete LLM decode loop on a paged q8_0 KV cache (docs/API.md,
 * "A decode loop"): two sequences share one page pool; a 12-token prompt is
 * appended and attended, then 20 tokens are decoded one at a time, each
 * with one append (RoPE on the key, q8_0 quantization on the device) and one
 * attention call (RoPE on the query), with no host copy of the cache. At the
 * end the last step is checked against attention computed here, in double,
 * from the unquantized keys and values. C99. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vkattn.h>

enum { B = 2, HQ = 8, HKV = 2, D = 64, PAGE = 16, MAX_PAGES = 4, PAGES = B * MAX_PAGES, PROMPT = 12, STEPS = 20 };
#define TOKENS (PROMPT + STEPS)

/* A token's deterministic Q, K or V element (which = 0, 1, 2). */
static float element(int which, int b, int h, int t, int d) {
  return (float)sin(0.37 * (which + 1) * (d + 1) + 0.11 * t + 1.3 * h + 2.1 * b);
}

static int fail(const char* what) {
  fprintf(stderr, "%s: %s\n", what, vkattn_last_error());
  return 1;
}

static vkattn_buffer make_buffer(vkattn_context ctx, uint64_t bytes) {
  vkattn_buffer buffer = NULL;
  return vkattn_buffer_create(ctx, bytes, 0, &buffer) == VKATTN_SUCCESS ? buffer : NULL;
}

/* The new tokens [t0, t0 + n) of both sequences as [B, heads, n, D] f32. */
static void tokens(int which, int heads, int t0, int n, float* out) {
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < heads; ++h)
      for (int t = 0; t < n; ++t)
        for (int d = 0; d < D; ++d) out[((b * heads + h) * n + t) * D + d] = element(which, b, h, t0 + t, d);
}

/* NeoX RoPE (theta 10000, all dims) in double. */
static void rope(double* x, int position) {
  for (int p = 0; p < D / 2; ++p) {
    const double angle = position * pow(10000.0, -2.0 * p / D);
    const double a = x[p], c = x[p + D / 2];
    x[p] = a * cos(angle) - c * sin(angle);
    x[p + D / 2] = a * sin(angle) + c * cos(angle);
  }
}

int main(void) {
  vkattn_context ctx;
  if (vkattn_context_create(NULL, &ctx) != VKATTN_SUCCESS) return fail("vkattn_context_create");
  vkattn_device_info info;
  vkattn_device_info_init(&info);
  vkattn_context_get_info(ctx, &info);

  /* The cache: a pool of 8 pages of 16 keys; sequence b owns pages table[b]. */
  const int32_t table[B * MAX_PAGES] = {5, 2, 7, 0, 1, 6, 3, 4};
  vkattn_append_desc cache;
  vkattn_append_desc_init(&cache);
  cache.batch = B;
  cache.kv_heads = HKV;
  cache.kv_len = MAX_PAGES * PAGE;
  cache.qk_dim = cache.v_dim = D;
  cache.k_dtype = VKATTN_DTYPE_Q8_0;
  cache.v_dtype = VKATTN_DTYPE_Q8_0;
  cache.k_layout = vkattn_layout_pages(HKV, PAGE, D);
  cache.v_layout = vkattn_layout_pages(HKV, PAGE, D);
  cache.page_size = PAGE;
  cache.num_pages = PAGES;
  cache.max_pages = MAX_PAGES;
  cache.rope.style = VKATTN_ROPE_NEOX;
  uint64_t k_bytes = 0, v_bytes = 0;
  vkattn_dtype_bytes(VKATTN_DTYPE_Q8_0, (uint64_t)PAGES * PAGE * HKV * D, &k_bytes);
  vkattn_dtype_bytes(VKATTN_DTYPE_Q8_0, (uint64_t)PAGES * PAGE * HKV * D, &v_bytes);
  vkattn_buffer k_cache = make_buffer(ctx, k_bytes), v_cache = make_buffer(ctx, v_bytes);

  /* Two append plans (the prompt, then one token) and two attention plans. */
  vkattn_plan append[2] = {NULL, NULL}, attend[2] = {NULL, NULL};
  const int new_tokens[2] = {PROMPT, 1};
  for (int i = 0; i < 2; ++i) {
    vkattn_append_desc a = cache;
    a.new_tokens = new_tokens[i];
    a.k_src_layout = vkattn_layout_bhsd(HKV, new_tokens[i], D);
    a.v_src_layout = vkattn_layout_bhsd(HKV, new_tokens[i], D);
    if (vkattn_append_plan_create(ctx, &a, 0, &append[i]) != VKATTN_SUCCESS) return fail("vkattn_append_plan_create");
    vkattn_attention_desc desc;
    vkattn_attention_desc_init(&desc);
    desc.batch = B;
    desc.q_heads = HQ;
    desc.kv_heads = HKV;
    desc.q_len = new_tokens[i];
    desc.kv_len = cache.kv_len;
    desc.qk_dim = desc.v_dim = D;
    desc.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
    desc.has_kv_lens = 1;
    vkattn_attention_desc_set_dense_layouts(&desc);
    desc.k_dtype = cache.k_dtype;
    desc.v_dtype = cache.v_dtype;
    desc.k_layout = cache.k_layout;
    desc.v_layout = cache.v_layout;
    desc.page_size = PAGE;
    desc.num_pages = PAGES;
    desc.max_pages = MAX_PAGES;
    desc.rope = cache.rope;  /* queries turn as their keys did */
    if (vkattn_plan_create(ctx, &desc, 0, &attend[i]) != VKATTN_SUCCESS) return fail("vkattn_plan_create");
  }

  float* host = malloc(sizeof(float) * B * HQ * PROMPT * D);
  float* out = malloc(sizeof(float) * B * HQ * D);
  vkattn_buffer k_new = make_buffer(ctx, sizeof(float) * B * HKV * PROMPT * D);
  vkattn_buffer v_new = make_buffer(ctx, sizeof(float) * B * HKV * PROMPT * D);
  vkattn_buffer q = make_buffer(ctx, sizeof(float) * B * HQ * PROMPT * D);
  vkattn_buffer o = make_buffer(ctx, sizeof(float) * B * HQ * PROMPT * D);
  if (!host || !out || !k_cache || !v_cache || !k_new || !v_new || !q || !o) return fail("allocation");

  int length = 0;  /* keys in each sequence's cache */
  for (int step = 0; step <= STEPS; ++step) {
    const int i = step == 0 ? 0 : 1, n = new_tokens[i];
    /* 1. Append the new tokens' K and V at position `length`. */
    tokens(1, HKV, length, n, host);
    vkattn_buffer_write(k_new, 0, host, sizeof(float) * B * HKV * n * D);
    tokens(2, HKV, length, n, host);
    vkattn_buffer_write(v_new, 0, host, sizeof(float) * B * HKV * n * D);
    const int32_t positions[B] = {length, length};
    vkattn_append_bindings ab;
    vkattn_append_bindings_init(&ab);
    ab.k_src = k_new;
    ab.v_src = v_new;
    ab.k_cache = k_cache;
    ab.v_cache = v_cache;
    ab.positions = positions;
    ab.block_table = table;
    if (vkattn_append_execute(append[i], &ab) != VKATTN_SUCCESS) return fail("vkattn_append_execute");
    length += n;
    /* 2. Attend: the new queries against everything cached so far. */
    tokens(0, HQ, length - n, n, host);
    vkattn_buffer_write(q, 0, host, sizeof(float) * B * HQ * n * D);
    const int32_t lengths[B] = {length, length};
    vkattn_bindings bindings;
    vkattn_bindings_init(&bindings);
    bindings.q = q;
    bindings.k = k_cache;
    bindings.v = v_cache;
    bindings.out = o;
    bindings.kv_lens = lengths;
    bindings.block_table = table;
    if (vkattn_plan_execute(attend[i], &bindings) != VKATTN_SUCCESS) return fail("vkattn_plan_execute");
  }
  if (vkattn_buffer_read(o, 0, out, sizeof(float) * B * HQ * D) != VKATTN_SUCCESS) return fail("vkattn_buffer_read");

  /* The last step in double: its query at position TOKENS - 1 against keys
   * 0..TOKENS-1, all turned, unquantized. */
  double worst = 0.0, largest = 0.0;
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < HQ; ++h) {
      double qv[D], logits[TOKENS], acc[D] = {0}, sum = 0.0, max = -INFINITY;
      for (int d = 0; d < D; ++d) qv[d] = element(0, b, h, TOKENS - 1, d);
      rope(qv, TOKENS - 1);
      for (int j = 0; j < TOKENS; ++j) {
        double kv[D], dot = 0.0;
        for (int d = 0; d < D; ++d) kv[d] = element(1, b, h / (HQ / HKV), j, d);
        rope(kv, j);
        for (int d = 0; d < D; ++d) dot += qv[d] * kv[d];
        logits[j] = dot / sqrt((double)D);
        if (logits[j] > max) max = logits[j];
      }
      for (int j = 0; j < TOKENS; ++j) {
        const double w = exp(logits[j] - max);
        sum += w;
        for (int d = 0; d < D; ++d) acc[d] += w * element(2, b, h / (HQ / HKV), j, d);
      }
      for (int d = 0; d < D; ++d) {
        const double expected = acc[d] / sum;
        worst = fmax(worst, fabs(out[(b * HQ + h) * D + d] - expected));
        largest = fmax(largest, fabs(expected));
      }
    }
  }
  const double relative = worst / largest;
  printf("decode loop on %s: %d prompt tokens + %d decoded, q8_0 K and V in pages of %d\n", info.name, PROMPT,
         STEPS, PAGE);
  printf("last step: out[0][0][0..3] = %.4f %.4f %.4f %.4f; max |out - double reference| = %.2e of max |out|\n",
         out[0], out[1], out[2], out[3], relative);
  /* q8_0 values carry up to 1/254 of their block's largest magnitude; the softmax passes a few times that on. */
  printf("decode loop: %s\n", relative < 0.02 ? "OK" : "MISMATCH");

  for (int i = 0; i < 2; ++i) {
    vkattn_plan_destroy(append[i]);
    vkattn_plan_destroy(attend[i]);
  }
  vkattn_buffer_destroy(k_cache);
  vkattn_buffer_destroy(v_cache);
  vkattn_buffer_destroy(k_new);
  vkattn_buffer_destroy(v_new);
  vkattn_buffer_destroy(q);
  vkattn_buffer_destroy(o);
  vkattn_context_destroy(ctx);
  free(host);
  free(out);
  return relative < 0.02 ? 0 : 1;
}
