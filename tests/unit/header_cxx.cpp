// The public header must compile on its own as C++ (no C-only constructs).
#include "vkattn.h"

int vkattn_header_cxx_probe() {
  vkattn_attention_desc desc;
  vkattn_attention_desc_init(&desc);
  vkattn_attention_desc_set_dense_layouts(&desc);
  return static_cast<int>(desc.struct_size);
}
