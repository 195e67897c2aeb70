// One XNNPACK fully-connected operator used as a GEMM with fixed weights:
// out[rows x out_channels] = in[rows x in_channels] . W^T. XNNPACK packs W at
// creation (that copy is the cost the tiling amortises over many rows), then
// each run() multiplies a new set of rows on the calling thread.
#pragma once

#include <cstddef>

#include "runtime/status.h"

struct xnn_operator;

namespace vkattn {
namespace cpu {

// Bytes XNNPACK may read past the end of any input array it is given.
size_t xnn_read_overrun_bytes();

// Initialises XNNPACK once per process (it is idempotent and thread-safe).
Status initialize_xnnpack();

class XnnGemm {
 public:
  XnnGemm() = default;
  XnnGemm(const XnnGemm&) = delete;
  XnnGemm& operator=(const XnnGemm&) = delete;
  ~XnnGemm();

  // weights: [out_channels][in_channels], or [in_channels][out_channels] when
  // `transposed`; both contiguous. in/out row strides equal the channel counts.
  Status create(size_t in_channels, size_t out_channels, const float* weights, bool transposed);
  Status run(size_t rows, const float* in, float* out);

 private:
  xnn_operator* op_ = nullptr;
};

}  // namespace cpu
}  // namespace vkattn
