// What vkattn needs to know about a Vulkan physical device, as plain data.
// Device choice, driver quirks and kernel configuration are pure functions of
// it, unit-tested with fake Mali, Adreno, Intel, NVIDIA and lavapipe
// descriptions (tests/unit/test_vulkan_config.cpp); no GPU needed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/problem.h"
#include "runtime/status.h"
#include "vkattn.h"

namespace vkattn {
namespace vk {

struct DeviceCaps {
  uint32_t index = 0;
  vkattn_device_type type = VKATTN_DEVICE_TYPE_OTHER;
  std::string name;
  std::string driver;  // driver name and info text
  uint32_t vendor_id = 0;
  uint32_t device_id = 0;
  uint32_t driver_id = 0;  // VkDriverId, 0 if unknown
  uint32_t driver_version = 0;
  uint32_t api_version = 0;

  uint32_t subgroup_size = 1;
  uint32_t min_subgroup_size = 1;
  uint32_t max_subgroup_size = 1;
  bool subgroup_arithmetic = false; // compute stage: basic + arithmetic
  bool subgroup_clustered = false;  // compute stage: basic + arithmetic + clustered
  bool subgroup_size_control = false;
  bool compute_full_subgroups = false;

  uint32_t shared_memory_bytes = 16384;
  uint32_t max_workgroup_invocations = 128;
  uint32_t max_workgroup_size_x = 128;
  uint32_t max_workgroup_count[3] = {65535, 65535, 65535};
  uint64_t max_storage_buffer_range = 1u << 27;
  uint64_t storage_offset_alignment = 256;
  uint64_t uniform_offset_alignment = 256;
  uint32_t max_push_constants = 128;

  bool storage_16bit = false;
  bool float16_arithmetic = false;
  bool unified_memory = false;  // a large DEVICE_LOCAL|HOST_VISIBLE memory type exists
  uint64_t device_local_bytes = 0;
  uint64_t max_allocation_bytes = 1u << 30;
  uint64_t max_buffer_bytes = 1u << 30;
  bool timestamps = false;       // the compute queue family writes timestamps
  uint32_t timestamp_bits = 0;   // valid bits of its timestamps
  float timestamp_period_ns = 1.0f;

  bool usable = false;
  std::string unusable_reason;
};

// Vendors, for the quirks table and defaults (PCI ids, Khronos vendor ids).
constexpr uint32_t kVendorAmd = 0x1002;
constexpr uint32_t kVendorNvidia = 0x10de;
constexpr uint32_t kVendorIntel = 0x8086;
constexpr uint32_t kVendorArm = 0x13b5;
constexpr uint32_t kVendorQualcomm = 0x5143;
constexpr uint32_t kVendorImgTec = 0x1010;
constexpr uint32_t kVendorMesa = 0x10005;  // VK_VENDOR_ID_MESA (lavapipe)

// Picks the device to use: `requested` (>= 0) or the VKATTN_DEVICE value
// (`env`, may be null) if given, else the best usable device by type:
// discrete > integrated > virtual > CPU > other, lowest index on ties.
// BACKEND_UNAVAILABLE with the reason when nothing fits.
Status choose_device(const std::vector<DeviceCaps>& devices, int32_t requested, const char* env, uint32_t* chosen);

// Driver bugs and device traits the kernels must respect. Kernels read these
// named flags, never vendor ids. See quirks.cpp for each entry's evidence.
struct Quirks {
  bool avoid_subgroup_ops = false;      // subgroup reductions are unreliable here
  bool disable_pipeline_cache = false;  // the driver corrupts shared/persisted pipeline caches
  bool prefer_contiguous_loads = false; // one contiguous chunk per invocation is fastest (CPU-type devices)
  bool invocations_are_simd_lanes = false;  // a workgroup is one CPU core's SIMD lanes: shared memory and barriers are slow
  uint32_t shared_memory_budget = 0;    // bytes of shared memory a workgroup should use
  uint32_t max_loop_iterations = 0;     // loops of one invocation silently stop after this many iterations (0 = no cap)
};
Quirks quirks_for(const DeviceCaps& device);

// VKATTN_VULKAN_KERNEL (`env`, may be null): "tiled" or "lanes" forces that
// kernel wherever it can run, "auto" or unset keeps the device's choice. The
// conformance tests use it to cover both kernels on one device.
// INVALID_ARGUMENT for any other value.
Status apply_kernel_override(const char* env, Quirks* quirks);

// The kernel variant and tiling of one plan, chosen from the problem and the
// device's limits. Every field becomes a specialization constant or a
// dispatch dimension; shared_bytes is what the shader will declare.
struct KernelConfig {
  // tiled: shaders/flash_attn.comp, shared-memory tiles (GPUs).
  // lanes: shaders/flash_attn_lanes.comp, rows in private memory, no shared
  //        memory or barriers (devices whose invocations are SIMD lanes).
  enum class Kernel { tiled, lanes };
  Kernel kernel = Kernel::tiled;
  uint32_t workgroup_size = 64;
  uint32_t lane_rows = 0;       // lanes kernel: query rows per workgroup (= block_q); lanes split the keys
  uint32_t block_q = 32;        // query rows per workgroup (of the G*q_len rows of a kv head)
  uint32_t block_kv = 32;       // keys per tile
  uint32_t qk_rows = 1;         // Q.K^T micro-tile per thread: rows x keys
  uint32_t qk_cols = 1;
  uint32_t pv_rows = 1;         // P.V micro-tile per thread: rows x dims
  uint32_t pv_dims = 1;
  uint32_t v_dim_padded = 0;    // v_dim rounded up to the P.V thread grid
  uint32_t softmax_threads = 1; // threads per row in the softmax step
  bool subgroup_softmax = false;  // reduce with subgroup ops (else shared memory)
  bool contiguous_loads = false;
  uint32_t kv_splits = 1;       // > 1: split-KV with a reduce pass
  uint32_t max_tiles_per_dispatch = 0;  // key tiles one workgroup may walk per dispatch (0 = no limit)
  uint32_t shared_bytes = 0;
};

// UNSUPPORTED (naming the limit) when the problem cannot fit this device.
Status choose_kernel_config(const Problem& problem, const DeviceCaps& device, const Quirks& quirks,
                            KernelConfig* out);

// Floats of one query row's (O, m, l) record in the Partials buffer: O, m
// and l padded to a multiple of 4 (mirrors state_stride() in
// shaders/attention_common.glsl).
inline uint64_t state_record_floats(uint64_t v_dim) { return (v_dim + 2 + 3) / 4 * 4; }

// Largest qk_dim / v_dim the lanes kernel keeps in registers, and its
// budget of q and o floats per lane (rows x (qk_dim + v_dim)).
constexpr int64_t kLanesMaxHeadDim = 256;
constexpr uint64_t kLanesRegisterFloats = 512;

// Shared memory (bytes) the flash-attention shader declares for a config.
uint32_t shared_memory_bytes(const KernelConfig& config, uint32_t qk_dim);

// Upper bounds of the loop iterations one invocation of the config's kernel
// runs (loops the shader marks [[unroll]] excluded): once per dispatch, and
// per key tile. Used against Quirks::max_loop_iterations.
uint64_t loop_iterations_per_dispatch(const KernelConfig& config, uint32_t qk_dim, uint32_t v_dim);
uint64_t loop_iterations_per_tile(const KernelConfig& config, uint32_t qk_dim, uint32_t v_dim);

}  // namespace vk
}  // namespace vkattn
