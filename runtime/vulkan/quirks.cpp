// Device choice and the quirks table: pure functions of DeviceCaps.
#include <cstdlib>
#include <cstring>
#include <string>

#include "device_caps.h"
#include "vk_api.h"

namespace vkattn {
namespace vk {

namespace {

int type_rank(vkattn_device_type type) {
  switch (type) {
    case VKATTN_DEVICE_TYPE_DISCRETE_GPU: return 4;
    case VKATTN_DEVICE_TYPE_INTEGRATED_GPU: return 3;
    case VKATTN_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VKATTN_DEVICE_TYPE_CPU: return 1;
    default: return 0;
  }
}

Status pick_index(const std::vector<DeviceCaps>& devices, int64_t index, const char* source, uint32_t* chosen) {
  if (index < 0 || index >= static_cast<int64_t>(devices.size())) {
    return backend_unavailable("%s asks for Vulkan device %lld but %zu exist", source, (long long)index,
                               devices.size());
  }
  const DeviceCaps& device = devices[static_cast<size_t>(index)];
  if (!device.usable) {
    return backend_unavailable("%s asks for Vulkan device %lld (%s), which vkattn cannot use: %s", source,
                               (long long)index, device.name.c_str(), device.unusable_reason.c_str());
  }
  *chosen = static_cast<uint32_t>(index);
  return Status();
}

}  // namespace

Status choose_device(const std::vector<DeviceCaps>& devices, int32_t requested, const char* env, uint32_t* chosen) {
  if (requested >= 0) return pick_index(devices, requested, "device_index", chosen);
  if (env != nullptr && env[0] != '\0') {
    char* end = nullptr;
    const long long value = std::strtoll(env, &end, 10);
    if (*end != '\0') return backend_unavailable("VKATTN_DEVICE='%s' is not a device index", env);
    return pick_index(devices, value, "VKATTN_DEVICE", chosen);
  }
  int best = -1;
  std::string reasons;
  for (size_t i = 0; i < devices.size(); ++i) {
    if (!devices[i].usable) {
      reasons += (reasons.empty() ? "" : "; ") + devices[i].name + ": " + devices[i].unusable_reason;
      continue;
    }
    if (best < 0 || type_rank(devices[i].type) > type_rank(devices[static_cast<size_t>(best)].type)) {
      best = static_cast<int>(i);
    }
  }
  if (best < 0) {
    if (devices.empty()) return backend_unavailable("the Vulkan loader reports no physical device");
    return backend_unavailable("no usable Vulkan device (%s)", reasons.c_str());
  }
  *chosen = static_cast<uint32_t>(best);
  return Status();
}

// "Bug is not feature": every entry names its evidence.
Quirks quirks_for(const DeviceCaps& d) {
  Quirks q;
  // Subgroup sizes outside [4, 128] have been reported by real drivers
  // (PowerVR Rogue GE8320 reports 1); ncnn disables subgroup ops for them
  // ("sanitize weird subgroup_size", Tencent/ncnn src/layer/vulkan/*.cpp).
  if (d.subgroup_size < 4 || d.subgroup_size > 128) q.avoid_subgroup_ops = true;
  // Qualcomm Adreno drivers older than Vulkan 1.0.66 "cannot share created
  // pipeline properly" (ncnn gpu.cpp: bug_corrupted_online_pipeline_cache).
  if (d.vendor_id == kVendorQualcomm && d.api_version < VK_MAKE_VERSION(1, 0, 66)) q.disable_pipeline_cache = true;
  // CPU-type devices (lavapipe) run each invocation as a SIMD lane on a CPU
  // core: one contiguous chunk per invocation reads ~5x faster than the
  // interleaved pattern GPUs want (measured on lavapipe/llvmpipe with the
  // bandwidth probe, see docs/PERFORMANCE.md).
  if (d.type == VKATTN_DEVICE_TYPE_CPU) q.prefer_contiguous_loads = true;
  // The same devices run a workgroup as one core's SIMD lanes: shared
  // memory is reached by per-lane gathers and every barrier is a coroutine
  // switch, so the lanes kernel (no shared memory, no barriers, uniform K/V
  // loads) runs several times faster there (docs/PERFORMANCE.md).
  if (d.type == VKATTN_DEVICE_TYPE_CPU) q.invocations_are_simd_lanes = true;
  // Mali GPUs have no dedicated on-chip shared memory: workgroup shared
  // memory lives in the load/store cache that global loads go through, so
  // copying K/V tiles into it saves no traffic and adds a copy and two
  // barriers per tile (Arm Mali GPU Best Practices Developer Guide, "Shared
  // memory": "Mali GPUs do not implement dedicated on-chip shared memory").
  if (d.vendor_id == kVendorArm) q.shared_memory_is_global = true;
  // RADV before Mesa 23 compiles GFX11 (RDNA3) compute shaders for at most
  // 144 VGPRs per wave32 thread, whatever the workgroup, and spills beyond:
  // the tiled kernel with 4 rows per thread spilled 380-540 VGPRs there,
  // 2 rows still 3-14, 1 row none (vkattn-bench --shader-stats with
  // RADV_FORCE_FAMILY=gfx1100, Mesa 22.3.6). Navi21 and Polaris10 fit 4.
  if (d.driver_id == VK_DRIVER_ID_MESA_RADV && d.driver_version < VK_MAKE_VERSION(23, 0, 0) &&
      d.name.find("(RADV GFX11") != std::string::npos) {
    q.max_rows_per_thread = 1;
  }
  // Use at most 24 KiB of shared memory per workgroup: phone GPUs (Mali,
  // Adreno) have 32 KiB and lose occupancy when one workgroup takes it all;
  // CPU-type devices may use everything (one workgroup per core).
  const uint32_t cap = d.type == VKATTN_DEVICE_TYPE_CPU ? d.shared_memory_bytes : 24576u;
  q.shared_memory_budget = d.shared_memory_bytes < cap ? d.shared_memory_bytes : cap;
  // llvmpipe (lavapipe) caps the iterations of all loops of one shader
  // invocation together at 65535 and then silently leaves them (Mesa
  // gallivm lp_bld_limits.h, LP_MAX_TGSI_LOOP_ITERATIONS, "shared between
  // every loop"). Measured here: a workgroup walking 384 key tiles stopped
  // after 377, losing 2% of the softmax mass without any error.
  // The same driver compiles the tiled kernel's unrolled register tiles
  // slowly (LLVM; the kernel runs there only when forced, in tests): with
  // one row and two keys per thread a forced run of the matrix's head-dim
  // section took 19.5 s instead of 63 s with 4 x 4 (measured here), the
  // shader paths being the same. SwiftShader runs the GPU-sized tiles.
  const bool llvmpipe = d.driver_id == VK_DRIVER_ID_MESA_LLVMPIPE ||
                        (d.vendor_id == kVendorMesa && d.name.compare(0, 8, "llvmpipe") == 0);
  if (llvmpipe) {
    q.max_loop_iterations = 65535;
    q.max_rows_per_thread = 1;
    q.max_cols_per_thread = 2;
  }
  return q;
}

}  // namespace vk
}  // namespace vkattn
