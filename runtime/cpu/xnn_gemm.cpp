#include "xnn_gemm.h"

#include <xnnpack.h>

#include <cmath>

namespace vkattn {
namespace cpu {

namespace {

Status from_xnn(xnn_status status, const char* call) {
  switch (status) {
    case xnn_status_success: return Status();
    case xnn_status_out_of_memory: return out_of_host_memory("XNNPACK %s ran out of memory", call);
    case xnn_status_unsupported_hardware:
      return backend_unavailable("XNNPACK %s: this CPU is not supported by XNNPACK", call);
    default: return internal_error("XNNPACK %s failed with xnn_status %d", call, (int)status);
  }
}

}  // namespace

size_t xnn_read_overrun_bytes() { return XNN_EXTRA_BYTES; }

Status initialize_xnnpack() { return from_xnn(xnn_initialize(nullptr), "xnn_initialize"); }

XnnGemm::~XnnGemm() {
  if (op_ != nullptr) xnn_delete_operator(op_);
}

Status XnnGemm::create(size_t in_channels, size_t out_channels, const float* weights, bool transposed) {
  if (op_ != nullptr) {
    xnn_delete_operator(op_);
    op_ = nullptr;
  }
  return from_xnn(xnn_create_fully_connected_nc_f32(in_channels, out_channels, in_channels, out_channels, weights,
                                                    /*bias=*/nullptr, -INFINITY, INFINITY,
                                                    transposed ? XNN_FLAG_TRANSPOSE_WEIGHTS : 0, &op_),
                  "xnn_create_fully_connected_nc_f32");
}

Status XnnGemm::run(size_t rows, const float* in, float* out) {
  VKATTN_RETURN_IF_ERROR(
      from_xnn(xnn_setup_fully_connected_nc_f32(op_, rows, in, out, /*threadpool=*/nullptr),
               "xnn_setup_fully_connected_nc_f32"));
  return from_xnn(xnn_run_operator(op_, /*threadpool=*/nullptr), "xnn_run_operator");
}

}  // namespace cpu
}  // namespace vkattn
