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
  bool subgroup_shuffle = false;    // compute stage: basic + shuffle
  bool subgroup_size_control = false;
  bool required_subgroup_size = false;  // a compute pipeline may require a subgroup size
  bool compute_full_subgroups = false;
  uint32_t compute_units = 0;       // CUs / SMs / shader cores where the driver says (0: unknown)

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
  bool timeline_semaphore = false;  // VK_KHR_timeline_semaphore with its feature
  bool unified_memory = false;  // a large DEVICE_LOCAL|HOST_VISIBLE memory type exists
  uint64_t device_local_bytes = 0;
  uint64_t max_allocation_bytes = 1u << 30;
  uint64_t max_buffer_bytes = 1u << 30;
  bool timestamps = false;       // the compute queue family writes timestamps
  uint32_t timestamp_bits = 0;   // valid bits of its timestamps
  float timestamp_period_ns = 1.0f;

  bool compiles_only = false;  // no memory types: pipelines compile, nothing executes (RADV_FORCE_FAMILY)
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
  bool avoid_subgroup_ops = false;      // subgroup operations are unreliable here
  bool disable_pipeline_cache = false;  // the driver corrupts shared/persisted pipeline caches
  bool prefer_contiguous_loads = false; // one contiguous chunk per invocation streams fastest (CPU-type devices; the probe)
  bool invocations_are_simd_lanes = false;  // a workgroup is one CPU core's SIMD lanes: shared memory and barriers are slow
  bool shared_memory_is_global = false;  // no dedicated on-chip shared memory: staging K/V only adds a copy
  uint32_t max_rows_per_thread = 4;     // query rows one thread of the tiled kernel may hold (its registers)
  uint32_t max_cols_per_thread = 4;     // keys one thread of the tiled kernel takes per tile
  uint32_t shared_memory_budget = 0;    // bytes of shared memory a workgroup should use
  uint32_t max_loop_iterations = 0;     // loops of one invocation silently stop after this many iterations (0 = no cap)
};
Quirks quirks_for(const DeviceCaps& device);

// Choices a plan can be forced into, where the device can make them: tests
// run every kernel variant this way, and tuning times the candidates. Each
// is automatic (the device's choice) unless set.
struct KernelOverride {
  enum class Kernel { automatic, tiled, lanes };
  enum class Choice { automatic, yes, no };
  Kernel kernel = Kernel::automatic;
  Choice subgroups = Choice::automatic;  // tiled: team reductions with subgroup shuffles (no: shared memory)
  Choice fp16_math = Choice::automatic;  // tiled: f16 operands (shaderFloat16) where the storage is f16 (no: f32)
  Choice staged = Choice::automatic;     // tiled: K/V tiles through shared memory (no: straight to registers)
  Choice split = Choice::automatic;      // split the keys across workgroups (yes: wherever there are 2 tiles)
  // Sizes (0: automatic). Powers of two up to the device's limits.
  uint32_t rows_per_thread = 0;          // tiled: ROWS
  uint32_t cols_per_thread = 0;          // tiled: COLS (shrunk if the shared memory cannot hold the tile)
  uint32_t kv_splits = 0;                // both: this many key splits (1: whole), as far as the keys allow
  uint32_t topk_keys = 0;                // top-k: keys per invocation per selection round (1: a GPU's choice)

  bool automatic() const {
    return kernel == Kernel::automatic && subgroups == Choice::automatic && fp16_math == Choice::automatic &&
           staged == Choice::automatic && split == Choice::automatic && rows_per_thread == 0 &&
           cols_per_thread == 0 && kv_splits == 0 && topk_keys == 0;
  }
  bool operator==(const KernelOverride& o) const {
    return kernel == o.kernel && subgroups == o.subgroups && fp16_math == o.fp16_math && staged == o.staged &&
           split == o.split && rows_per_thread == o.rows_per_thread && cols_per_thread == o.cols_per_thread &&
           kv_splits == o.kv_splits && topk_keys == o.topk_keys;
  }
};

// VKATTN_VULKAN_KERNEL (`text`, may be null or empty = all automatic): a
// comma-separated list of auto, tiled, lanes, subgroup, shared, fp16, fp32,
// staged, direct, split, whole, rows=N, cols=N, splits=N. INVALID_ARGUMENT
// naming anything else. The tuning cache stores its choices in the same
// words (format_kernel_override).
Status parse_kernel_override(const char* text, KernelOverride* out);
// The words parse_kernel_override reads back into `forced` ("auto" when
// nothing is forced).
std::string format_kernel_override(const KernelOverride& forced);

// The kernel variant and tiling of one plan, chosen from the problem and the
// device's limits. Every field becomes a specialization constant, a
// pipeline requirement or a dispatch dimension.
struct KernelConfig {
  // tiled: shaders/flash_attn.comp, GPUs: teams of threads per row block,
  //        every thread's softmax state in registers.
  // lanes: shaders/flash_attn_lanes.comp, rows in private memory, no shared
  //        memory or barriers (devices whose invocations are SIMD lanes).
  enum class Kernel { tiled, lanes };
  Kernel kernel = Kernel::tiled;
  uint32_t workgroup_size = 64;
  uint32_t block_q = 1;         // query rows per workgroup (of the G*q_len rows of a kv head)
  uint32_t block_kv = 1;        // keys per tile
  // tiled (see the comment at the top of shaders/flash_attn.comp):
  uint32_t rows_per_thread = 1; // ROWS
  uint32_t cols_per_thread = 1; // COLS: keys per thread per tile
  uint32_t d_split = 1;         // D_SPLIT: threads sharing one key's head dimension
  uint32_t col_threads = 1;     // COL_THREADS: threads taking different keys of a tile
  bool subgroups = false;       // team reductions with subgroup shuffles (else shared memory)
  uint32_t subgroup_size = 0;   // the subgroup size the pipeline requires (0: the driver's)
  bool fp16_math = false;       // FP16_MATH: Q, K, V as f16 operands of f32 multiply-adds
  bool staged = false;          // K/V tiles through shared memory
  // lanes:
  uint32_t lane_rows = 0;       // query rows per workgroup (= block_q); the lanes split the keys
  // both:
  uint32_t kv_splits = 1;       // > 1: split-KV with a reduce pass
  uint32_t max_tiles_per_dispatch = 0;  // key tiles one workgroup may walk per dispatch (0 = no limit)
  uint32_t watchdog_tiles_per_dispatch = 0;  // ... and should, to stay within a GPU watchdog (0 = no limit)
  uint32_t shared_bytes = 0;    // shared memory the shader declares
};

// UNSUPPORTED (naming the limit) when the problem cannot fit this device.
// UNSUPPORTED unless every sequence quantity fits the shaders' 32-bit
// index arithmetic (below 2^30, sums included).
Status check_shader_lengths(const Problem& problem);

Status choose_kernel_config(const Problem& problem, const DeviceCaps& device, const Quirks& quirks,
                            const KernelOverride& forced, KernelConfig* out);

// "tiled.f16.subgroup.fp16.staged.split", "lanes.f32.whole", ...: the
// variant a config runs, as vkattn_plan_info.kernel names it (after
// "vulkan."). One name per distinct shader path the tests must execute.
std::string variant_name(const KernelConfig& config, vkattn_dtype dtype);
// The linear-attention kernel's variant (linear_plan.cpp):
// "linear.<elu|favor>.<f32|f16>".
std::string linear_variant_name(vkattn_feature_map map, vkattn_dtype dtype);
// The top-k kernel's variant (topk_plan.cpp): "topk.<f32|f16>".
std::string topk_variant_name(vkattn_dtype dtype);
// Every name variant_name(), linear_variant_name() and topk_variant_name()
// can give, and
// Linformer's projections ("linformer.<f32|f16>", linformer_plan.cpp):
// the variants the tests must execute.
std::vector<std::string> all_variant_names();

// Floats of one query row's (O, m, l) record in the Partials buffer: O, m
// and l padded to a multiple of 4 (mirrors state_stride() in
// shaders/attention_common.glsl).
inline uint64_t state_record_floats(uint64_t v_dim) { return (v_dim + 2 + 3) / 4 * 4; }

// Largest qk_dim / v_dim the lanes kernel keeps in registers, and its
// budget of q and o floats per lane (rows x (qk_dim + v_dim)).
constexpr int64_t kLanesMaxHeadDim = 256;
constexpr uint64_t kLanesRegisterFloats = 512;

// GPU watchdogs (Android, Windows) reset a device whose dispatch runs for
// about 2 s: no dispatch of a plan should be expected to run longer than
// this on its device, the device's speed estimated low.
constexpr double kDispatchBudgetSeconds = 0.050;
// The rate one workgroup is assumed to reach at least (a phone's shader
// core runs tens of GFLOP/s, shared by several workgroups).
constexpr double kWorkgroupFlopsPerSecond = 2e10;
// Key chunks made only for the watchdog may take this much scratch at most.
constexpr uint64_t kWatchdogScratchBytes = uint64_t{64} << 20;

// The rate (FLOP/s) a whole dispatch is assumed to reach at least, to keep
// each dispatch within a GPU watchdog's patience; 0: no limit (CPU-type
// devices have no watchdog).
double dispatch_flops_per_second(const DeviceCaps& device);

// Shared memory (bytes) shaders/flash_attn.comp declares for a tiled config.
uint32_t shared_memory_bytes(const KernelConfig& config, uint32_t qk_dim, uint32_t v_dim, vkattn_dtype dtype);

// Upper bounds of the loop iterations one invocation of the config's kernel
// runs (loops the shader marks [[unroll]] excluded): once per dispatch, and
// per key tile. Used against Quirks::max_loop_iterations.
uint64_t loop_iterations_per_dispatch(const KernelConfig& config, uint32_t qk_dim, uint32_t v_dim);
// Block-sparse problems (block_sparse) add the tile's test of the mask:
// the query blocks the workgroup's rows span times the key blocks of a tile.
uint64_t loop_iterations_per_tile(const KernelConfig& config, bool block_sparse);

}  // namespace vk
}  // namespace vkattn
