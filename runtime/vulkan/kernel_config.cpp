// Kernel configuration: tile sizes, thread mapping and split-KV from the
// problem and the device's limits. A pure function, unit-tested with fake
// devices; the shader's shared-memory declarations mirror shared_memory_bytes.
#include <algorithm>

#include "device_caps.h"
#include "runtime/checked_math.h"

namespace vkattn {
namespace vk {

namespace {

uint32_t next_pow2(uint64_t value) {
  uint32_t p = 1;
  while (p < value && p < (1u << 30)) p <<= 1;
  return p;
}

// Smallest power-of-two micro-tile (rows x cols) whose thread grid over a
// `total_rows x total_cols` tile fits in `threads`, kept near square.
void micro_tile(uint32_t total_rows, uint32_t total_cols, uint32_t threads, uint32_t* rows, uint32_t* cols) {
  *rows = 1;
  *cols = 1;
  auto grid = [&]() {
    return static_cast<uint64_t>(total_rows / *rows) * ((total_cols + *cols - 1) / *cols);
  };
  while (grid() > threads) {
    const bool can_cols = *cols < total_cols;
    const bool can_rows = *rows < total_rows;
    if (can_cols && (!can_rows || *cols <= *rows)) {
      *cols *= 2;
    } else {
      *rows *= 2;
    }
  }
}

// Workgroups below which the key range is split across workgroups (decode).
uint32_t parallelism_target(const DeviceCaps& device) {
  return device.type == VKATTN_DEVICE_TYPE_CPU ? 16 : 128;
}

}  // namespace

uint32_t shared_memory_bytes(const KernelConfig& c, uint32_t qk_dim) {
  // Mirrors shaders/flash_attn.comp: Q tile, K tile, V tile, score tile
  // (row strides padded to odd lengths against bank conflicts), running max,
  // running sum and rescale factor per row, the softmax reduction scratch
  // (vec2 per thread of a row), and two flag words.
  const uint32_t qk_stride = qk_dim | 1u;
  const uint32_t s_stride = c.block_kv | 1u;
  const uint64_t floats = static_cast<uint64_t>(c.block_q) * qk_stride + static_cast<uint64_t>(c.block_kv) * qk_stride +
                          static_cast<uint64_t>(c.block_kv) * c.v_dim_padded +
                          static_cast<uint64_t>(c.block_q) * s_stride + 3ull * c.block_q +
                          2ull * c.block_q * c.softmax_threads + 2;
  return floats * 4 > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(floats * 4);
}

uint64_t loop_iterations_per_dispatch(const KernelConfig& c, uint32_t qk_dim, uint32_t /*v_dim*/) {
  if (c.kernel == KernelConfig::Kernel::lanes) {
    // shaders/flash_attn_lanes.comp unrolls every loop but the key loop.
    return 16;
  }
  // shaders/flash_attn.comp, outside the key loop: the Q tile load and the
  // row-state initialisation (the shader unrolls its micro-tile loops).
  const uint64_t w = c.workgroup_size;
  return ceil_div(uint64_t{c.block_q} * qk_dim, w) + ceil_div(uint64_t{c.block_q}, w) + 16;
}

uint64_t loop_iterations_per_tile(const KernelConfig& c, uint32_t qk_dim, uint32_t /*v_dim*/) {
  if (c.kernel == KernelConfig::Kernel::lanes) {
    // The key loop: one iteration per tile.
    return 1;
  }
  // Per key tile: the K and V tile loads, the Q.K^T loop over qk_dim, the
  // P.V loop over the tile's keys, the softmax reductions, and the key loop
  // itself.
  const uint64_t w = c.workgroup_size;
  return ceil_div(uint64_t{c.block_kv} * qk_dim, w) + ceil_div(uint64_t{c.block_kv} * c.v_dim_padded, w) + qk_dim +
         c.block_kv + 2ull * c.softmax_threads + 4;
}

namespace {

// Tiling of shaders/flash_attn.comp: the largest tiles whose shared memory
// fits the budget, micro-tiles that cover them with the workgroup.
Status choose_tiled_config(const Problem& p, const DeviceCaps& device, const Quirks& quirks, int64_t rows,
                           KernelConfig* out) {
  KernelConfig& c = *out;
  c.kernel = KernelConfig::Kernel::tiled;
  c.workgroup_size = std::min<uint32_t>({64u, device.max_workgroup_invocations, device.max_workgroup_size_x});
  c.contiguous_loads = quirks.prefer_contiguous_loads;
  c.block_q = std::min<uint32_t>(32, next_pow2(static_cast<uint64_t>(rows)));
  c.block_kv = std::min<uint32_t>(32, std::max<uint32_t>(8, next_pow2(static_cast<uint64_t>(p.kv_len))));

  const uint32_t budget = quirks.shared_memory_budget;
  for (;;) {
    micro_tile(c.block_q, c.block_kv, c.workgroup_size, &c.qk_rows, &c.qk_cols);
    micro_tile(c.block_q, static_cast<uint32_t>(p.v_dim), c.workgroup_size, &c.pv_rows, &c.pv_dims);
    c.v_dim_padded = static_cast<uint32_t>((p.v_dim + c.pv_dims - 1) / c.pv_dims * c.pv_dims);
    // Threads per row in the softmax step: as many as the workgroup and the
    // tile allow; with subgroups each row's threads must share a subgroup.
    const bool subgroups = device.subgroup_clustered && !quirks.avoid_subgroup_ops &&
                           c.workgroup_size % device.max_subgroup_size == 0;
    uint32_t threads = 1;
    while (threads * 2 * c.block_q <= c.workgroup_size && threads * 2 <= c.block_kv &&
           (!subgroups || threads * 2 <= device.min_subgroup_size)) {
      threads *= 2;
    }
    c.softmax_threads = threads;
    c.subgroup_softmax = subgroups && threads > 1;
    c.shared_bytes = shared_memory_bytes(c, static_cast<uint32_t>(p.qk_dim));
    if (c.shared_bytes <= budget) break;
    // Shrink the key tile to 8, the query tile to 4, then both to 1: even
    // head size 256 fits the 16 KiB every Vulkan device guarantees.
    if (c.block_kv > 8) {
      c.block_kv /= 2;
    } else if (c.block_q > 4) {
      c.block_q /= 2;
    } else if (c.block_kv > 1) {
      c.block_kv /= 2;
    } else if (c.block_q > 1) {
      c.block_q /= 2;
    } else {
      return unsupported(
          "qk_dim %lld / v_dim %lld need %u bytes of shared memory even with the smallest tiles; %s allows %u "
          "(maxComputeSharedMemorySize %u)",
          (long long)p.qk_dim, (long long)p.v_dim, c.shared_bytes, device.name.c_str(), budget,
          device.shared_memory_bytes);
    }
  }
  return Status();
}

// Whether shaders/flash_attn_lanes.comp can run: a CPU-type device (or an
// override), head dimensions its registers hold, and one fixed-size
// subgroup with arithmetic per workgroup (its lanes' states merge with
// subgroup operations).
bool lanes_kernel_fits(const Problem& p, const DeviceCaps& device, const Quirks& quirks) {
  return quirks.invocations_are_simd_lanes && !quirks.avoid_subgroup_ops && device.subgroup_arithmetic &&
         device.min_subgroup_size == device.max_subgroup_size && device.subgroup_size == device.max_subgroup_size &&
         device.subgroup_size <= device.max_workgroup_invocations && device.subgroup_size <= device.max_workgroup_size_x &&
         p.qk_dim <= kLanesMaxHeadDim && p.v_dim <= kLanesMaxHeadDim;
}

// Tiling of shaders/flash_attn_lanes.comp: one subgroup per workgroup, a few
// query rows whose q and o stay in registers, the lanes splitting the keys.
void choose_lanes_config(const Problem& p, const DeviceCaps& device, int64_t rows, KernelConfig* out) {
  KernelConfig& c = *out;
  c.kernel = KernelConfig::Kernel::lanes;
  c.workgroup_size = device.subgroup_size;
  // Rows per workgroup: each K and V element a lane loads serves that many
  // multiply-adds, but every row's q and o are registers the unrolled code
  // carries (and compile time grows with them): at most
  // kLanesRegisterFloats of them, and no more rows than the problem has.
  const uint64_t floats_per_row = static_cast<uint64_t>(p.qk_dim + p.v_dim);
  c.lane_rows = 1;
  while (c.lane_rows < 4 && floats_per_row * c.lane_rows * 2 <= kLanesRegisterFloats && c.lane_rows < rows) {
    c.lane_rows *= 2;
  }
  c.block_q = c.lane_rows;
  // Two keys per lane per softmax step measured fastest (docs/PERFORMANCE.md).
  c.block_kv = 2 * c.workgroup_size;
  c.v_dim_padded = static_cast<uint32_t>(p.v_dim);
  c.shared_bytes = 0;
}

}  // namespace

Status choose_kernel_config(const Problem& p, const DeviceCaps& device, const Quirks& quirks, KernelConfig* out) {
  // Index arithmetic in the shader is 32-bit; keep every sequence quantity
  // (including windows, q_len + kv_len) below 2^30.
  constexpr int64_t kMaxShaderLength = int64_t{1} << 30;
  const int64_t rows = p.group() * p.q_len;  // query rows of one kv head
  if (rows >= kMaxShaderLength || p.kv_len >= kMaxShaderLength || p.q_len + p.kv_len >= kMaxShaderLength ||
      p.batch * p.kv_heads >= kMaxShaderLength || p.q_heads >= kMaxShaderLength) {
    return unsupported("the Vulkan kernels index with 32-bit integers: sequence lengths (q_len %lld, kv_len %lld, "
                       "group x q_len %lld) must stay below 2^30",
                       (long long)p.q_len, (long long)p.kv_len, (long long)rows);
  }
  if (p.dtype == VKATTN_DTYPE_F16 && !device.storage_16bit) {
    return unsupported("f16 storage needs storageBuffer16BitAccess, which %s does not support", device.name.c_str());
  }

  KernelConfig c;
  if (lanes_kernel_fits(p, device, quirks)) {
    choose_lanes_config(p, device, rows, &c);
  } else {
    VKATTN_RETURN_IF_ERROR(choose_tiled_config(p, device, quirks, rows, &c));
  }

  // Split-KV when too few workgroups would run: each split walks a slice of
  // the keys, a reduce pass merges the partial (O, m, l).
  const uint64_t workgroups = ceil_div(static_cast<uint64_t>(rows), static_cast<uint64_t>(c.block_q)) *
                              static_cast<uint64_t>(p.kv_heads) * static_cast<uint64_t>(p.batch);
  const uint32_t target = parallelism_target(device);
  const uint64_t min_keys_per_split = 4ull * c.block_kv;
  if (workgroups < target && static_cast<uint64_t>(p.kv_len) >= 2 * min_keys_per_split) {
    const uint64_t wanted = ceil_div(static_cast<uint64_t>(target), workgroups);
    const uint64_t possible = static_cast<uint64_t>(p.kv_len) / min_keys_per_split;
    c.kv_splits = static_cast<uint32_t>(std::min<uint64_t>({wanted, possible, 64}));
  }
  // Devices that cut long loops short: bound the key tiles per dispatch
  // (with a quarter of the budget to spare); the plan then walks long key
  // ranges as several dispatches carrying (O, m, l) in between.
  if (quirks.max_loop_iterations != 0) {
    const uint64_t budget = quirks.max_loop_iterations / 4 * 3;
    const uint64_t fixed = loop_iterations_per_dispatch(c, static_cast<uint32_t>(p.qk_dim), static_cast<uint32_t>(p.v_dim));
    const uint64_t per_tile = loop_iterations_per_tile(c, static_cast<uint32_t>(p.qk_dim), static_cast<uint32_t>(p.v_dim));
    if (fixed + per_tile > budget) {
      return unsupported("one key tile of qk_dim %lld needs more loop iterations than %s allows an invocation (%u)",
                         (long long)p.qk_dim, device.name.c_str(), quirks.max_loop_iterations);
    }
    c.max_tiles_per_dispatch = static_cast<uint32_t>((budget - fixed) / per_tile);
  }
  *out = c;
  return Status();
}

}  // namespace vk
}  // namespace vkattn
