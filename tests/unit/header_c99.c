/* The public header must compile on its own as strict C99, and be usable. */
#include "vkattn.h"

int vkattn_header_c99_probe(void);
int vkattn_header_c99_probe(void) {
  vkattn_attention_desc desc;
  vkattn_context_options options;
  vkattn_bindings bindings;
  vkattn_attention_desc_init(&desc);
  desc.batch = 1;
  desc.q_heads = desc.kv_heads = 1;
  desc.q_len = desc.kv_len = 4;
  desc.qk_dim = desc.v_dim = 8;
  vkattn_attention_desc_set_dense_layouts(&desc);
  vkattn_context_options_init(&options);
  vkattn_bindings_init(&bindings);
  return (int)desc.q_layout.head_stride + (int)options.backend + (int)(bindings.q == NULL);
}
