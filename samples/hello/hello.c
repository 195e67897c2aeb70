/* The README's example as a complete C99 program: one GQA decode step. */
#include <stdio.h>
#include <stdlib.h>

#include <vkattn.h>

int main(void) {
  enum { HQ = 32, HKV = 8, SKV = 4096, D = 128 };
  float* q = calloc((size_t)HQ * D, sizeof(float));
  float* k = calloc((size_t)HKV * SKV * D, sizeof(float));
  float* v = calloc((size_t)HKV * SKV * D, sizeof(float));
  float* out = calloc((size_t)HQ * D, sizeof(float));
  if (!q || !k || !v || !out) return 1;
  for (size_t i = 0; i < (size_t)HKV * SKV * D; ++i) v[i] = (float)(i % D); /* every key's value row is 0..D-1 */

  vkattn_context ctx;
  if (vkattn_context_create(NULL, &ctx) != VKATTN_SUCCESS) {  /* AUTO: GPU if any, else CPU */
    fprintf(stderr, "vkattn: %s\n", vkattn_last_error());
    return 1;
  }

  vkattn_attention_desc desc;
  vkattn_attention_desc_init(&desc);
  desc.batch = 1; desc.q_heads = HQ; desc.kv_heads = HKV;  /* GQA */
  desc.q_len = 1; desc.kv_len = SKV;                       /* one decode step */
  desc.qk_dim = desc.v_dim = D;
  desc.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
  vkattn_attention_desc_set_dense_layouts(&desc);          /* contiguous BHSD */

  vkattn_host_tensors t;
  vkattn_host_tensors_init(&t);
  t.q = q; t.k = k; t.v = v; t.out = out;
  int status = 0;
  if (vkattn_attention(ctx, &desc, &t) != VKATTN_SUCCESS) {
    fprintf(stderr, "vkattn: %s\n", vkattn_last_error());
    status = 1;
  } else {
    /* All logits are 0, so the output is the mean value row: out[c] = c. */
    printf("out[0][5] = %.3f, out[31][127] = %.3f\n", out[5], out[31 * D + 127]);
  }
  vkattn_context_destroy(ctx);
  free(q); free(k); free(v); free(out);
  return status;
}
