// Device choice, quirks, kernel configuration, slicing and the pipeline-cache
// file format, as pure functions of fake device descriptions: no GPU needed.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/vulkan/device_caps.h"
#include "runtime/vulkan/cache_file.h"
#include "runtime/vulkan/plan_layout.h"
#include "runtime/vulkan/slicing.h"
#include "runtime/vulkan/tuning.h"
#include "runtime/vulkan/vk_api.h"

using namespace vkattn;
using namespace vkattn::vk;

namespace {

DeviceCaps base_device(const char* name, vkattn_device_type type, uint32_t vendor) {
  DeviceCaps d;
  d.name = name;
  d.type = type;
  d.vendor_id = vendor;
  d.api_version = VK_MAKE_VERSION(1, 1, 128);
  d.usable = true;
  d.max_workgroup_invocations = 1024;
  d.max_workgroup_size_x = 1024;
  d.max_storage_buffer_range = (uint64_t{1} << 32) - 1;
  d.storage_offset_alignment = 16;
  d.uniform_offset_alignment = 64;
  d.storage_16bit = true;
  d.max_allocation_bytes = uint64_t{1} << 32;
  d.max_buffer_bytes = uint64_t{1} << 32;
  return d;
}

DeviceCaps mali_g78() {
  DeviceCaps d = base_device("Mali-G78", VKATTN_DEVICE_TYPE_INTEGRATED_GPU, kVendorArm);
  d.subgroup_size = d.min_subgroup_size = d.max_subgroup_size = 16;
  d.subgroup_arithmetic = d.subgroup_shuffle = true;
  d.float16_arithmetic = true;
  d.shared_memory_bytes = 32768;
  d.max_workgroup_invocations = 512;
  d.max_workgroup_size_x = 512;
  d.max_storage_buffer_range = 1u << 27;
  d.unified_memory = true;
  return d;
}

DeviceCaps adreno_650() {
  DeviceCaps d = base_device("Adreno (TM) 650", VKATTN_DEVICE_TYPE_INTEGRATED_GPU, kVendorQualcomm);
  d.subgroup_size = d.min_subgroup_size = 64;
  d.max_subgroup_size = 128;
  d.subgroup_shuffle = false;  // some Adreno 6xx drivers report no shuffle support
  d.float16_arithmetic = true;
  d.shared_memory_bytes = 32768;
  d.max_storage_buffer_range = 1u << 27;
  d.storage_offset_alignment = 64;
  d.unified_memory = true;
  return d;
}

DeviceCaps adreno_530_old_driver() {
  DeviceCaps d = adreno_650();
  d.name = "Adreno (TM) 530";
  d.api_version = VK_MAKE_VERSION(1, 0, 61);
  d.usable = false;
  d.unusable_reason = "Vulkan 1.1 is required";
  return d;
}

DeviceCaps intel_uhd() {
  DeviceCaps d = base_device("Intel(R) UHD Graphics 770", VKATTN_DEVICE_TYPE_INTEGRATED_GPU, kVendorIntel);
  d.subgroup_size = 32;
  d.min_subgroup_size = 8;
  d.max_subgroup_size = 32;
  d.subgroup_arithmetic = d.subgroup_shuffle = true;
  d.subgroup_size_control = d.required_subgroup_size = d.compute_full_subgroups = true;
  d.float16_arithmetic = true;
  d.shared_memory_bytes = 65536;
  d.max_storage_buffer_range = (uint64_t{1} << 30);
  d.unified_memory = true;
  return d;
}

DeviceCaps nvidia_rtx() {
  DeviceCaps d = base_device("NVIDIA GeForce RTX 4070", VKATTN_DEVICE_TYPE_DISCRETE_GPU, kVendorNvidia);
  d.subgroup_size = d.min_subgroup_size = d.max_subgroup_size = 32;
  d.subgroup_arithmetic = d.subgroup_shuffle = true;
  d.subgroup_size_control = d.required_subgroup_size = d.compute_full_subgroups = true;
  d.float16_arithmetic = true;
  d.compute_units = 46;
  d.shared_memory_bytes = 49152;
  d.max_workgroup_count[1] = d.max_workgroup_count[2] = 65535;
  return d;
}

DeviceCaps lavapipe() {
  DeviceCaps d = base_device("llvmpipe (LLVM 15.0.6, 256 bits)", VKATTN_DEVICE_TYPE_CPU, kVendorMesa);
  d.subgroup_size = d.min_subgroup_size = d.max_subgroup_size = 8;
  d.subgroup_arithmetic = d.subgroup_shuffle = true;
  d.subgroup_size_control = d.required_subgroup_size = d.compute_full_subgroups = true;
  d.float16_arithmetic = true;
  d.shared_memory_bytes = 32768;
  d.max_storage_buffer_range = 1u << 27;
  d.unified_memory = true;
  return d;
}

DeviceCaps radeon_rx6800() {
  DeviceCaps d = base_device("AMD Radeon RX 6800 (RADV NAVI21)", VKATTN_DEVICE_TYPE_DISCRETE_GPU, kVendorAmd);
  d.subgroup_size = 64;
  d.min_subgroup_size = 32;
  d.max_subgroup_size = 64;
  d.subgroup_arithmetic = d.subgroup_shuffle = true;
  d.subgroup_size_control = d.required_subgroup_size = d.compute_full_subgroups = true;
  d.float16_arithmetic = true;
  d.shared_memory_bytes = 65536;
  d.compute_units = 60;
  return d;
}

DeviceCaps swiftshader() {
  DeviceCaps d = base_device("SwiftShader Device (Subzero)", VKATTN_DEVICE_TYPE_CPU, 0x1AE0);
  d.subgroup_size = d.min_subgroup_size = d.max_subgroup_size = 4;
  d.subgroup_arithmetic = d.subgroup_shuffle = true;
  d.storage_16bit = false;
  d.shared_memory_bytes = 16384;
  d.max_storage_buffer_range = uint64_t{1} << 30;
  d.unified_memory = true;
  return d;
}

DeviceCaps powervr_ge8320() {
  DeviceCaps d = base_device("PowerVR Rogue GE8320", VKATTN_DEVICE_TYPE_INTEGRATED_GPU, kVendorImgTec);
  d.subgroup_size = d.min_subgroup_size = d.max_subgroup_size = 1;
  d.subgroup_arithmetic = d.subgroup_shuffle = true;
  d.shared_memory_bytes = 16384;
  d.max_workgroup_invocations = 512;
  d.max_workgroup_size_x = 512;
  return d;
}

Problem make(int64_t batch, int64_t q_heads, int64_t kv_heads, int64_t q_len, int64_t kv_len, int64_t qk_dim,
             int64_t v_dim, vkattn_dtype dtype = VKATTN_DTYPE_F32) {
  vkattn_attention_desc d;
  vkattn_attention_desc_init(&d);
  d.batch = batch;
  d.q_heads = q_heads;
  d.kv_heads = kv_heads;
  d.q_len = q_len;
  d.kv_len = kv_len;
  d.qk_dim = qk_dim;
  d.v_dim = v_dim;
  d.dtype = dtype;
  vkattn_attention_desc_set_dense_layouts(&d);
  Problem p;
  REQUIRE(make_problem(d, &p).ok());
  return p;
}

bool is_pow2(uint32_t x) { return x != 0 && (x & (x - 1)) == 0; }

}  // namespace

TEST_CASE("device choice: discrete > integrated > virtual > CPU, or what the user names") {
  const std::vector<DeviceCaps> all = {lavapipe(), intel_uhd(), nvidia_rtx()};
  uint32_t chosen = 99;
  REQUIRE(choose_device(all, -1, nullptr, &chosen).ok());
  CHECK(chosen == 2);
  REQUIRE(choose_device({lavapipe(), intel_uhd()}, -1, nullptr, &chosen).ok());
  CHECK(chosen == 1);
  REQUIRE(choose_device({lavapipe()}, -1, "", &chosen).ok());
  CHECK(chosen == 0);
  REQUIRE(choose_device(all, 0, nullptr, &chosen).ok());
  CHECK(chosen == 0);
  REQUIRE(choose_device(all, -1, "1", &chosen).ok());
  CHECK(chosen == 1);

  Status bad = choose_device(all, 5, nullptr, &chosen);
  CHECK(bad.code() == VKATTN_ERROR_BACKEND_UNAVAILABLE);
  CHECK(bad.message().find("device 5 but 3 exist") != std::string::npos);
  bad = choose_device(all, -1, "gpu", &chosen);
  CHECK(bad.code() == VKATTN_ERROR_BACKEND_UNAVAILABLE);
  CHECK(bad.message().find("VKATTN_DEVICE") != std::string::npos);
  bad = choose_device({adreno_530_old_driver(), lavapipe()}, 0, nullptr, &chosen);
  CHECK(bad.message().find("Vulkan 1.1 is required") != std::string::npos);
  REQUIRE(choose_device({adreno_530_old_driver(), lavapipe()}, -1, nullptr, &chosen).ok());
  CHECK(chosen == 1);  // an unusable device is never chosen automatically
  bad = choose_device({adreno_530_old_driver()}, -1, nullptr, &chosen);
  CHECK(bad.message().find("no usable Vulkan device") != std::string::npos);
  CHECK(choose_device({}, -1, nullptr, &chosen).message().find("no physical device") != std::string::npos);
}

TEST_CASE("quirks: named flags from evidence, never vendor checks in kernels") {
  CHECK(quirks_for(powervr_ge8320()).avoid_subgroup_ops);
  CHECK_FALSE(quirks_for(nvidia_rtx()).avoid_subgroup_ops);
  CHECK(quirks_for(adreno_530_old_driver()).disable_pipeline_cache);
  CHECK_FALSE(quirks_for(adreno_650()).disable_pipeline_cache);
  CHECK(quirks_for(lavapipe()).prefer_contiguous_loads);
  CHECK_FALSE(quirks_for(mali_g78()).prefer_contiguous_loads);
  CHECK(quirks_for(lavapipe()).invocations_are_simd_lanes);
  CHECK_FALSE(quirks_for(intel_uhd()).invocations_are_simd_lanes);
  CHECK(quirks_for(mali_g78()).shared_memory_budget == 24576);
  CHECK(quirks_for(mali_g78()).shared_memory_is_global);
  CHECK_FALSE(quirks_for(radeon_rx6800()).shared_memory_is_global);
  CHECK(quirks_for(lavapipe()).shared_memory_budget == 32768);
  CHECK(quirks_for(powervr_ge8320()).shared_memory_budget == 16384);
}

const KernelOverride kAutomatic;

TEST_CASE("kernel configs fit every device's limits for every head size") {
  const std::vector<DeviceCaps> devices = {mali_g78(), adreno_650(),  intel_uhd(),     nvidia_rtx(),
                                           lavapipe(), swiftshader(), radeon_rx6800(), powervr_ge8320()};
  const int64_t dims[][2] = {{1, 1}, {8, 8}, {63, 63}, {64, 64}, {80, 80}, {96, 96}, {128, 128}, {256, 256},
                             {64, 32}, {32, 128}, {256, 1}};
  const int64_t shapes[][4] = {{8, 8, 2048, 2048}, {32, 8, 1, 32768}, {8, 8, 77, 4096}, {1, 1, 5, 3}};
  for (const DeviceCaps& device : devices) {
    const Quirks quirks = quirks_for(device);
    for (const auto& dim : dims) {
      for (const auto& shape : shapes) {
        for (vkattn_dtype dtype : {VKATTN_DTYPE_F32, VKATTN_DTYPE_F16}) {
          CAPTURE(device.name);
          CAPTURE(dim[0]);
          CAPTURE(dim[1]);
          CAPTURE(shape[2]);
          const Problem p = make(1, shape[0], shape[1], shape[2], shape[3], dim[0], dim[1], dtype);
          KernelConfig c;
          const Status status = choose_kernel_config(p, device, quirks, kAutomatic, &c);
          REQUIRE_MESSAGE(status.ok(), status.message());
          CHECK(c.workgroup_size <= device.max_workgroup_invocations);
          CHECK(c.workgroup_size <= device.max_workgroup_size_x);
          if (c.kernel == KernelConfig::Kernel::lanes) {
            CHECK(quirks.invocations_are_simd_lanes);
            CHECK(c.workgroup_size == device.subgroup_size);
            CHECK(device.subgroup_arithmetic);
            CHECK(c.block_q == c.lane_rows);
            CHECK(c.block_kv % c.workgroup_size == 0);
            CHECK(((c.lane_rows == 1 || c.lane_rows == 2 || c.lane_rows == 4)));
            CHECK((c.lane_rows == 1 || uint64_t{c.lane_rows} * static_cast<uint64_t>(p.qk_dim + p.v_dim) <=
                                           kLanesRegisterFloats));
            CHECK(c.shared_bytes == 0);
          } else {
            CHECK(c.shared_bytes ==
                  shared_memory_bytes(c, static_cast<uint32_t>(p.qk_dim), static_cast<uint32_t>(p.v_dim), dtype));
            CHECK(c.shared_bytes <= quirks.shared_memory_budget);
            CHECK((is_pow2(c.d_split) && is_pow2(c.col_threads) && is_pow2(c.rows_per_thread) &&
                   is_pow2(c.cols_per_thread)));
            const uint32_t team = c.d_split * c.col_threads;
            CHECK(c.workgroup_size % team == 0);
            CHECK(c.block_q == c.workgroup_size / team * c.rows_per_thread);
            CHECK(c.block_kv == c.col_threads * c.cols_per_thread);
            if (c.subgroups) {
              // A team lies inside one subgroup of a guaranteed size.
              CHECK(device.subgroup_shuffle);
              CHECK_FALSE(quirks.avoid_subgroup_ops);
              const uint32_t size = c.subgroup_size != 0 ? c.subgroup_size : device.max_subgroup_size;
              CHECK((c.subgroup_size == 0 || (c.subgroup_size >= device.min_subgroup_size &&
                                              c.subgroup_size <= device.max_subgroup_size)));
              CHECK((c.subgroup_size != 0 || device.min_subgroup_size == device.max_subgroup_size));
              CHECK(size % team == 0);
              CHECK(c.workgroup_size % size == 0);
            }
            CHECK((!c.fp16_math || (dtype == VKATTN_DTYPE_F16 && device.float16_arithmetic)));
            CHECK((!c.staged || !quirks.shared_memory_is_global));
          }
          CHECK((c.kv_splits >= 1 && c.kv_splits <= 64));
          CHECK((c.kv_splits == 1 || static_cast<uint64_t>(p.kv_len) / c.kv_splits >= 512));
        }
      }
    }
  }
}

TEST_CASE("CPU-type devices get the lanes kernel where its registers hold the rows, GPUs the tiled one") {
  KernelConfig c;
  const Quirks lvp = quirks_for(lavapipe());
  REQUIRE(choose_kernel_config(make(1, 8, 8, 2048, 2048, 64, 64), lavapipe(), lvp, kAutomatic, &c).ok());
  CHECK(c.kernel == KernelConfig::Kernel::lanes);
  CHECK(c.lane_rows == 4);
  CHECK(c.block_q == 4);
  CHECK(c.block_kv == 16);  // two keys per lane
  REQUIRE(choose_kernel_config(make(1, 8, 8, 2048, 2048, 128, 128), lavapipe(), lvp, kAutomatic, &c).ok());
  CHECK(c.lane_rows == 2);
  REQUIRE(choose_kernel_config(make(1, 8, 8, 2048, 2048, 256, 256), lavapipe(), lvp, kAutomatic, &c).ok());
  CHECK(c.lane_rows == 1);
  REQUIRE(choose_kernel_config(make(1, 32, 8, 1, 4096, 64, 64), lavapipe(), lvp, kAutomatic, &c).ok());
  CHECK(c.lane_rows == 4);  // decode: the 4 query heads of a kv head, the lanes over its keys
  REQUIRE(choose_kernel_config(make(1, 8, 8, 1, 4096, 64, 64), lavapipe(), lvp, kAutomatic, &c).ok());
  CHECK(c.lane_rows == 1);
  DeviceCaps no_arithmetic = lavapipe();
  no_arithmetic.subgroup_arithmetic = false;
  REQUIRE(choose_kernel_config(make(1, 8, 8, 2048, 2048, 64, 64), no_arithmetic, quirks_for(no_arithmetic), kAutomatic,
                               &c).ok());
  CHECK(c.kernel == KernelConfig::Kernel::tiled);  // the lanes merge with subgroup arithmetic
  REQUIRE(choose_kernel_config(make(1, 1, 1, 16, 16, 512, 512), lavapipe(), lvp, kAutomatic, &c).ok());
  CHECK(c.kernel == KernelConfig::Kernel::tiled);  // too many registers for the lanes kernel
  for (const DeviceCaps& gpu : {mali_g78(), adreno_650(), intel_uhd(), nvidia_rtx(), radeon_rx6800()}) {
    CAPTURE(gpu.name);
    REQUIRE(choose_kernel_config(make(1, 8, 8, 2048, 2048, 64, 64), gpu, quirks_for(gpu), kAutomatic, &c).ok());
    CHECK(c.kernel == KernelConfig::Kernel::tiled);
    // Never the lanes kernel on a GPU, whatever is asked.
    KernelOverride lanes;
    lanes.kernel = KernelOverride::Kernel::lanes;
    const Status refused = choose_kernel_config(make(1, 8, 8, 2048, 2048, 64, 64), gpu, quirks_for(gpu), lanes, &c);
    CHECK(refused.code() == VKATTN_ERROR_UNSUPPORTED);
    CHECK(refused.message().find("only on CPU-type devices") != std::string::npos);
  }

  // One loop iteration per key tile: a dispatch on llvmpipe covers tens of
  // thousands of keys before the plan needs another.
  REQUIRE(choose_kernel_config(make(1, 8, 1, 64, 1000000, 64, 64), lavapipe(), lvp, kAutomatic, &c).ok());
  CHECK(loop_iterations_per_tile(c, false) == 1);
  CHECK(loop_iterations_per_tile(c, true) == 1 + (c.block_q / 16 + 2) * (1 + c.block_kv / 16 + 2));
  CHECK(uint64_t{c.max_tiles_per_dispatch} * c.block_kv > 500000);
}

TEST_CASE("GPUs get teams inside one subgroup of a size the kernel asks for, and vector-sized head chunks") {
  KernelConfig c;
  // RDNA: 32-lane subgroups required (the driver would pick 64), D=128 split
  // over 8 threads (4 chunks of 4 each), 4 threads taking different keys.
  REQUIRE(choose_kernel_config(make(1, 8, 8, 2048, 2048, 128, 128), radeon_rx6800(), quirks_for(radeon_rx6800()),
                               kAutomatic, &c).ok());
  CHECK(c.subgroups);
  CHECK(c.subgroup_size == 32);
  CHECK(c.d_split == 8);
  CHECK(c.col_threads == 4);
  CHECK(c.staged);  // several teams share the keys; dedicated shared memory
  // Intel: 16-lane subgroups asked for; NVIDIA: its fixed 32, none asked for.
  REQUIRE(choose_kernel_config(make(1, 8, 8, 2048, 2048, 64, 64), intel_uhd(), quirks_for(intel_uhd()), kAutomatic,
                               &c).ok());
  CHECK(c.subgroup_size == 16);
  CHECK(c.d_split == 4);
  REQUIRE(choose_kernel_config(make(1, 8, 8, 2048, 2048, 64, 64), nvidia_rtx(), quirks_for(nvidia_rtx()), kAutomatic,
                               &c).ok());
  CHECK(c.subgroup_size == 0);
  CHECK(c.d_split * c.col_threads == 32);
  // Mali: no dedicated shared memory, so K/V go straight to registers.
  REQUIRE(choose_kernel_config(make(1, 8, 8, 2048, 2048, 64, 64), mali_g78(), quirks_for(mali_g78()), kAutomatic,
                               &c).ok());
  CHECK(c.subgroups);
  CHECK_FALSE(c.staged);
  // Adreno without shuffles and PowerVR's odd subgroup size: shared-memory teams.
  REQUIRE(choose_kernel_config(make(1, 8, 8, 2048, 2048, 64, 64), adreno_650(), quirks_for(adreno_650()), kAutomatic,
                               &c).ok());
  CHECK_FALSE(c.subgroups);
  REQUIRE(choose_kernel_config(make(1, 8, 8, 2048, 2048, 64, 64), powervr_ge8320(), quirks_for(powervr_ge8320()),
                               kAutomatic, &c).ok());
  CHECK_FALSE(c.subgroups);
  // fp16 arithmetic where shaderFloat16 exists and the storage is f16.
  REQUIRE(choose_kernel_config(make(1, 8, 8, 2048, 2048, 64, 64, VKATTN_DTYPE_F16), mali_g78(), quirks_for(mali_g78()),
                               kAutomatic, &c).ok());
  CHECK(c.fp16_math);
  REQUIRE(choose_kernel_config(make(1, 8, 8, 2048, 2048, 64, 64), mali_g78(), quirks_for(mali_g78()), kAutomatic,
                               &c).ok());
  CHECK_FALSE(c.fp16_math);
  // With RoPE the turned Q is not an f16 value: f32 arithmetic, forced or not.
  vkattn::Problem turned = make(1, 8, 8, 2048, 2048, 64, 64, VKATTN_DTYPE_F16);
  turned.rope = vkattn::Rope::make(VKATTN_ROPE_NEOX, 10000.0, 64);
  REQUIRE(choose_kernel_config(turned, mali_g78(), quirks_for(mali_g78()), kAutomatic, &c).ok());
  CHECK_FALSE(c.fp16_math);
  KernelOverride fp16;
  REQUIRE(parse_kernel_override("tiled,fp16", &fp16).ok());
  REQUIRE(choose_kernel_config(turned, mali_g78(), quirks_for(mali_g78()), fp16, &c).ok());
  CHECK_FALSE(c.fp16_math);
}

TEST_CASE("forced choices reach the config, or are refused by name where the device cannot make them") {
  KernelConfig c;
  KernelOverride forced;
  REQUIRE(parse_kernel_override("tiled,shared,staged,split,fp32", &forced).ok());
  CHECK(forced.kernel == KernelOverride::Kernel::tiled);
  REQUIRE(choose_kernel_config(make(1, 8, 8, 64, 2048, 64, 64, VKATTN_DTYPE_F16), lavapipe(), quirks_for(lavapipe()),
                               forced, &c).ok());
  CHECK(c.kernel == KernelConfig::Kernel::tiled);
  CHECK_FALSE(c.subgroups);
  CHECK(c.staged);
  CHECK_FALSE(c.fp16_math);
  CHECK(c.kv_splits > 1);
  CHECK(variant_name(c, VKATTN_DTYPE_F16) == "tiled.f16.shared.fp32.staged.split");
  REQUIRE(parse_kernel_override("tiled,subgroup,direct,whole,fp16", &forced).ok());
  REQUIRE(choose_kernel_config(make(1, 32, 8, 1, 32768, 128, 128, VKATTN_DTYPE_F16), lavapipe(), quirks_for(lavapipe()),
                               forced, &c).ok());
  CHECK(variant_name(c, VKATTN_DTYPE_F16) == "tiled.f16.subgroup.fp16.direct.whole");
  // f32 storage keeps f32 arithmetic, forced or not.
  REQUIRE(choose_kernel_config(make(1, 8, 8, 64, 64, 64, 64), lavapipe(), quirks_for(lavapipe()), forced, &c).ok());
  CHECK(variant_name(c, VKATTN_DTYPE_F32) == "tiled.f32.subgroup.direct.whole");
  // Every name is one of the variants the tests must execute.
  const std::vector<std::string> all = all_variant_names();
  CHECK(all.size() == 36);
  CHECK(std::count(all.begin(), all.end(), "linear.favor.f16") == 1);
  CHECK(std::count(all.begin(), all.end(), "topk.f16") == 1);
  CHECK(std::count(all.begin(), all.end(), "linformer.f32") == 1);
  CHECK(std::count(all.begin(), all.end(), "tiled.f16.subgroup.fp16.direct.whole") == 1);
  CHECK(std::count(all.begin(), all.end(), "lanes.f32.split") == 1);
  // What the device cannot do is UNSUPPORTED, naming it.
  Status s = choose_kernel_config(make(1, 8, 8, 64, 64, 64, 64, VKATTN_DTYPE_F16), swiftshader(),
                                  quirks_for(swiftshader()), forced, &c);
  CHECK(s.code() == VKATTN_ERROR_UNSUPPORTED);
  CHECK(s.message().find("shaderFloat16") != std::string::npos);
  REQUIRE(parse_kernel_override("subgroup", &forced).ok());
  s = choose_kernel_config(make(1, 8, 8, 64, 64, 64, 64), adreno_650(), quirks_for(adreno_650()), forced, &c);
  CHECK(s.code() == VKATTN_ERROR_UNSUPPORTED);
  CHECK(s.message().find("subgroup") != std::string::npos);
  // Unknown words are rejected by name.
  const Status bad = parse_kernel_override("tiled,fast", &forced);
  CHECK(bad.code() == VKATTN_ERROR_INVALID_ARGUMENT);
  CHECK(bad.message().find("'fast'") != std::string::npos);
  CHECK(parse_kernel_override(nullptr, &forced).ok());
  CHECK(forced.kernel == KernelOverride::Kernel::automatic);
}

TEST_CASE("forced sizes (rows=, cols=, splits=) reach the config, round-trip as words, and are refused beyond the "
          "device's limits") {
  KernelOverride forced;
  REQUIRE(parse_kernel_override("tiled,subgroup,rows=2,cols=1,splits=3", &forced).ok());
  CHECK(forced.rows_per_thread == 2);
  CHECK(forced.cols_per_thread == 1);
  CHECK(forced.kv_splits == 3);
  CHECK(format_kernel_override(forced) == "tiled,subgroup,rows=2,cols=1,splits=3");
  KernelOverride again;
  REQUIRE(parse_kernel_override(format_kernel_override(forced).c_str(), &again).ok());
  CHECK(again == forced);
  CHECK(format_kernel_override(KernelOverride()) == "auto");
  CHECK(KernelOverride().automatic());
  CHECK_FALSE(forced.automatic());

  KernelConfig c;
  const DeviceCaps gpu = radeon_rx6800();
  REQUIRE(choose_kernel_config(make(1, 32, 8, 1, 8192, 128, 128, VKATTN_DTYPE_F16), gpu, quirks_for(gpu), forced, &c).ok());
  CHECK(c.rows_per_thread == 2);
  CHECK(c.cols_per_thread == 1);
  CHECK(c.kv_splits == 3);
  REQUIRE(parse_kernel_override("splits=1", &forced).ok());
  REQUIRE(choose_kernel_config(make(1, 32, 8, 1, 8192, 128, 128, VKATTN_DTYPE_F16), gpu, quirks_for(gpu), forced, &c).ok());
  CHECK(c.kv_splits == 1);
  // More splits than the keys have tiles: as many as there are.
  REQUIRE(parse_kernel_override("tiled,splits=64", &forced).ok());
  REQUIRE(choose_kernel_config(make(1, 8, 8, 1, 40, 64, 64), gpu, quirks_for(gpu), forced, &c).ok());
  CHECK(c.kv_splits == 40 / c.block_kv);

  // Beyond the device's limit, or not a power of two: UNSUPPORTED naming it.
  REQUIRE(parse_kernel_override("rows=8", &forced).ok());
  Status s = choose_kernel_config(make(1, 8, 8, 64, 64, 64, 64), gpu, quirks_for(gpu), forced, &c);
  CHECK(s.code() == VKATTN_ERROR_UNSUPPORTED);
  CHECK(s.message().find("rows=8") != std::string::npos);
  REQUIRE(parse_kernel_override("tiled,cols=4", &forced).ok());
  s = choose_kernel_config(make(1, 8, 8, 64, 64, 64, 64), lavapipe(), quirks_for(lavapipe()), forced, &c);
  CHECK(s.code() == VKATTN_ERROR_UNSUPPORTED);  // lavapipe's quirk: 2 keys per thread at most
  REQUIRE(parse_kernel_override("cols=3", &forced).ok());
  CHECK(choose_kernel_config(make(1, 8, 8, 64, 64, 64, 64), gpu, quirks_for(gpu), forced, &c).code() ==
        VKATTN_ERROR_UNSUPPORTED);
  for (const char* bad : {"rows=0", "rows=65", "rows=", "rows=x", "splits=-1", "cols=2x"}) {
    CAPTURE(bad);
    const Status parsed = parse_kernel_override(bad, &forced);
    CHECK(parsed.code() == VKATTN_ERROR_INVALID_ARGUMENT);
    CHECK(parsed.message().find(std::string("'") + bad + "'") != std::string::npos);
  }
}

TEST_CASE("tuning classes group problems by storage, dims, group, rounded sizes, masking and alignment") {
  const Problem decode = make(1, 32, 8, 1, 4000, 128, 128, VKATTN_DTYPE_F16);
  CHECK(tuning_class(decode, kFlagKvVec4 | kFlagOutVec4) == "f16.d128x128.g4.q1.kv4096.bh8.kvvec4.ovec4");
  // Sizes rounded up to powers of two share a class; a different group does not.
  CHECK(tuning_class(make(1, 32, 8, 1, 2049, 128, 128, VKATTN_DTYPE_F16), kFlagKvVec4 | kFlagOutVec4) ==
        tuning_class(decode, kFlagKvVec4 | kFlagOutVec4));
  CHECK(tuning_class(make(1, 32, 32, 1, 4000, 128, 128, VKATTN_DTYPE_F16), 0) != tuning_class(decode, 0));
  Problem masked = make(2, 8, 8, 77, 300, 64, 32);
  masked.causal = VKATTN_CAUSAL_TOP_LEFT;
  masked.window_left = 16;
  CHECK(tuning_class(masked, kFlagAdditiveMask | kFlagBoolMask | kFlagKvLens | kFlagLse) ==
        "f32.d64x32.g1.q128.kv512.bh16.causal-tl.window.amask.bmask.lens.lse");
}

TEST_CASE("the tuning table round-trips and refuses stale and malformed payloads, keeping its entries") {
  TuningTable table;
  TunedEntry entry;
  REQUIRE(parse_kernel_override("tiled,staged,rows=2,splits=4", &entry.choice).ok());
  entry.tuned_ms = 1.25;
  entry.default_ms = 2.5;
  table.set("f16.d128x128.g4.q1.kv4096.bh8", entry);
  TunedEntry untouched;
  untouched.tuned_ms = untouched.default_ms = 3.0;
  table.set("f32.d64x64.g1.q512.kv512.bh8.causal-br", untouched);
  const uint64_t hash = 0x0123456789abcdefull;
  const std::string payload = table.serialize(hash);
  CHECK(payload.rfind("vkattn-tuning 1\nshaders 0123456789abcdef\n", 0) == 0);

  TuningTable loaded;
  std::string why;
  REQUIRE(loaded.parse(payload, hash, &why));
  CHECK(loaded.size() == 2);
  const TunedEntry* found = loaded.find("f16.d128x128.g4.q1.kv4096.bh8");
  REQUIRE(found != nullptr);
  CHECK(found->choice == entry.choice);
  CHECK(found->tuned_ms == 1.25);
  CHECK(found->default_ms == 2.5);
  REQUIRE(loaded.find("f32.d64x64.g1.q512.kv512.bh8.causal-br") != nullptr);
  CHECK(loaded.find("f32.d64x64.g1.q512.kv512.bh8.causal-br")->choice.automatic());
  CHECK(loaded.find("f32.d64x64.g1.q1.kv512.bh8") == nullptr);

  CHECK_FALSE(loaded.parse(payload, hash + 1, &why));
  CHECK(why.find("stale") != std::string::npos);
  const std::vector<std::pair<std::string, std::string>> malformed = {
      {"vkattn-tuning 2\n", "format"},
      {"vkattn-tuning 1\nplain\n", "shaders"},
      {payload + "f32.x tiled,fast 1 2\n", "malformed"},
      {payload + "f32.x tiled 1\n", "malformed"},
      {payload + "f32.x tiled 1 2 3\n", "malformed"},
      {payload + "f32.x tiled -1 2\n", "malformed"},
      {payload + "f32.x tiled nan 2\n", "malformed"}};
  for (const auto& bad : malformed) {
    CAPTURE(bad.first);
    CHECK_FALSE(loaded.parse(bad.first, hash, &why));
    CHECK(why.find(bad.second) != std::string::npos);
    CHECK(loaded.size() == 2);  // a refused payload changes nothing
  }
}

TEST_CASE("decode splits the key range across workgroups, prefill does not, and no split is under 512 keys") {
  KernelConfig decode, prefill;
  REQUIRE(choose_kernel_config(make(1, 32, 8, 1, 32768, 128, 128), nvidia_rtx(), quirks_for(nvidia_rtx()), kAutomatic,
                               &decode).ok());
  CHECK(decode.kv_splits > 1);
  CHECK(decode.block_q == 4);  // the 4 query heads of a kv head share its K/V tiles
  REQUIRE(choose_kernel_config(make(1, 8, 8, 2048, 2048, 64, 64), nvidia_rtx(), quirks_for(nvidia_rtx()), kAutomatic,
                               &prefill).ok());
  CHECK(prefill.kv_splits == 1);
  KernelConfig small;
  REQUIRE(choose_kernel_config(make(1, 1, 1, 1, 1000, 64, 64), nvidia_rtx(), quirks_for(nvidia_rtx()), kAutomatic,
                               &small).ok());
  CHECK(small.kv_splits == 1);  // two splits would have under 512 keys each
  // The split count follows the device's size: more compute units, more splits.
  DeviceCaps big = nvidia_rtx();
  big.compute_units = 132;
  KernelConfig wide;
  REQUIRE(choose_kernel_config(make(1, 32, 8, 1, 32768, 128, 128), big, quirks_for(big), kAutomatic, &wide).ok());
  CHECK(wide.kv_splits > decode.kv_splits);
}

TEST_CASE("the largest head dimension runs with shared-memory teams; what a device cannot hold is UNSUPPORTED") {
  KernelConfig c;
  // D = 4096: more chunks than a subgroup's threads can hold, so teams of up
  // to 64 threads reduce through shared memory.
  for (const DeviceCaps& device : {swiftshader(), powervr_ge8320(), nvidia_rtx()}) {
    CAPTURE(device.name);
    KernelOverride tiled;
    tiled.kernel = KernelOverride::Kernel::tiled;
    REQUIRE(choose_kernel_config(make(1, 1, 1, 16, 16, 4096, 4096), device, quirks_for(device), tiled, &c).ok());
    CHECK_FALSE(c.subgroups);
    CHECK(1024 / c.d_split <= 16);
  }
  KernelOverride subgroups;
  subgroups.subgroups = KernelOverride::Choice::yes;
  Status s = choose_kernel_config(make(1, 1, 1, 16, 16, 4096, 4096), nvidia_rtx(), quirks_for(nvidia_rtx()), subgroups,
                                  &c);
  CHECK(s.code() == VKATTN_ERROR_UNSUPPORTED);
  CHECK(s.message().find("head dimension 4096 needs more registers") != std::string::npos);
  s = choose_kernel_config(make(1, 1, 1, int64_t{1} << 30, 16, 64, 64), nvidia_rtx(), quirks_for(nvidia_rtx()),
                           kAutomatic, &c);
  CHECK(s.code() == VKATTN_ERROR_UNSUPPORTED);
  CHECK(s.message().find("2^30") != std::string::npos);
}

TEST_CASE("on GPUs no dispatch is expected to outlast the watchdog budget; CPU-type devices take one dispatch") {
  // The work of one attention dispatch (its row blocks x the workgroups of
  // each) against the rate the device is assumed to reach at least.
  auto dispatch_seconds = [](const Problem& p, const PlanLayout& layout, const DeviceCaps& device) {
    const KernelConfig& c = layout.config;
    const uint64_t keys = layout.chunk_keys != 0 ? layout.chunk_keys
                                                 : static_cast<uint64_t>((p.kv_len + c.kv_splits - 1) / c.kv_splits);
    const double per_workgroup = 2.0 * c.block_q * static_cast<double>(keys) * static_cast<double>(p.qk_dim + p.v_dim);
    const double heads = std::min<double>(static_cast<double>(p.kv_heads), layout.heads_per_dispatch);
    return layout.blocks_per_dispatch * heads * static_cast<double>(p.batch * c.kv_splits) * per_workgroup /
           dispatch_flops_per_second(device);
  };
  const Problem prefill = make(1, 32, 32, 32768, 32768, 128, 128);
  const Problem decode = make(1, 32, 8, 1, 1 << 17, 128, 128);
  for (const DeviceCaps& gpu : {mali_g78(), adreno_650(), intel_uhd(), nvidia_rtx(), radeon_rx6800()}) {
    CAPTURE(gpu.name);
    PlanLayout layout;
    REQUIRE(plan_layout(prefill, gpu, quirks_for(gpu), kAutomatic, &layout).ok());
    CHECK(layout.blocks_per_dispatch < (32768 + layout.config.block_q - 1) / layout.config.block_q);
    CHECK(dispatch_seconds(prefill, layout, gpu) <= kDispatchBudgetSeconds * 1.0001);
    // A 128k-key decode: split across workgroups, each within the budget.
    REQUIRE(plan_layout(decode, gpu, quirks_for(gpu), kAutomatic, &layout).ok());
    CHECK(layout.config.kv_splits > 1);
    CHECK(dispatch_seconds(decode, layout, gpu) <= kDispatchBudgetSeconds * 1.0001);
  }
  PlanLayout cpu;
  REQUIRE(plan_layout(prefill, lavapipe(), quirks_for(lavapipe()), kAutomatic, &cpu).ok());
  CHECK(cpu.blocks_per_dispatch == (32768 + cpu.config.block_q - 1) / cpu.config.block_q);
}

TEST_CASE("Linformer's projection dispatches stay within the GPU watchdog budget and llvmpipe's loop cap") {
  // 8 kv heads, 256 projected keys of 32768, dim 128: on a GPU each
  // dispatch's work (every head's projection of its keys) within the
  // budget at the device's assumed rate, several dispatches where one
  // would not be; on llvmpipe within three quarters of its loop cap.
  Problem p = make(1, 32, 8, 1, 32768, 128, 128);
  p.mode = VKATTN_MODE_LINFORMER;
  p.proj_len = 256;
  for (const DeviceCaps& gpu : {mali_g78(), adreno_650(), intel_uhd(), nvidia_rtx(), radeon_rx6800()}) {
    CAPTURE(gpu.name);
    LinformerLayout layout;
    REQUIRE(linformer_layout(p, gpu, quirks_for(gpu), &layout).ok());
    const uint64_t keys = layout.chunk_keys != 0 ? layout.chunk_keys : 32768;
    CHECK(keys % 32 == 0);
    CHECK(uint64_t{layout.chunks} * keys >= 32768);
    CHECK(2.0 * 256 * 128 * 8 * static_cast<double>(keys) / dispatch_flops_per_second(gpu) <= kDispatchBudgetSeconds);
  }
  LinformerLayout cpu;
  REQUIRE(linformer_layout(p, lavapipe(), quirks_for(lavapipe()), &cpu).ok());
  CHECK(cpu.chunks > 1);
  CHECK(cpu.chunk_keys % 32 == 0);
  // Per step of 32 keys the shader loops 1 + 2 x 16 + 32 x (1 + 8 + 20)
  // times, 40 more per dispatch (linformer_plan.cpp counts them so).
  CHECK(static_cast<uint64_t>(cpu.chunk_keys) / 32 * 961 + 40 <= uint64_t{quirks_for(lavapipe()).max_loop_iterations} * 3 / 4);
  // A sequence within one dispatch's reach takes one, walking all keys.
  p = make(1, 4, 4, 64, 1000, 64, 64);
  p.mode = VKATTN_MODE_LINFORMER;
  p.proj_len = 64;
  REQUIRE(linformer_layout(p, lavapipe(), quirks_for(lavapipe()), &cpu).ok());
  CHECK(cpu.chunks == 1);
  CHECK(cpu.chunk_keys == 0);
}

TEST_CASE("top-k selection dispatches stay within llvmpipe's loop cap with every list cut as often as it can "
          "overflow, and within the GPU watchdog budget") {
  // Decode, 32 query heads on 8 kv heads (4 rows a workgroup), 32768 keys,
  // k = 64: lists of 64 + 512 entries. On llvmpipe (8 invocations, 8 keys
  // each per round) a cut loops 8 x (1 + 32 + 72 + 2 x 32 + 3) + 72 x
  // (1 + 3) = 1664 times, and comes at most every (576 - 64 - 64) / 64 + 1
  // = 8 rounds per row; a round loops 2 + 3 times; 16 + 4 x 128 / 8 more
  // per dispatch (topk_plan.cpp counts them so).
  Problem p = make(1, 32, 8, 1, 32768, 128, 128);
  p.mode = VKATTN_MODE_TOPK;
  p.topk = 64;
  TopkLayout cpu;
  REQUIRE(topk_layout(p, lavapipe(), quirks_for(lavapipe()), KernelOverride{}, &cpu).ok());
  CHECK(cpu.workgroup == 8);
  CHECK(cpu.tile == 8);
  CHECK(cpu.rows == 4);
  CHECK(cpu.capacity == 64 + 512);
  CHECK(cpu.chunks > 1);
  CHECK(cpu.chunk_keys % 64 == 0);
  CHECK(uint64_t{cpu.chunks} * cpu.chunk_keys >= 32768);
  const uint64_t rounds = cpu.chunk_keys / 64 + 2;
  const uint64_t loops = 16 + 4 * 128 / 8 + rounds * 5 + 4 * (1 + rounds / 8) * (1664 + 1);
  CHECK(loops <= uint64_t{quirks_for(lavapipe()).max_loop_iterations} * 3 / 4);
  for (const DeviceCaps& gpu : {mali_g78(), adreno_650(), intel_uhd(), nvidia_rtx(), radeon_rx6800()}) {
    CAPTURE(gpu.name);
    TopkLayout layout;
    REQUIRE(topk_layout(p, gpu, quirks_for(gpu), KernelOverride{}, &layout).ok());
    CHECK(layout.workgroup == 64);
    CHECK(layout.tile == 1);
    const uint64_t keys = layout.chunk_keys != 0 ? layout.chunk_keys : 32768;
    CHECK(2.0 * layout.rows * static_cast<double>(keys + 2 * 64) * 128 / 2e10 <= kDispatchBudgetSeconds);
  }
  // A key range one dispatch walks whole: one chunk. SwiftShader (no cap,
  // a CPU): one chunk, workgroups of its 4-wide subgroups.
  p = make(1, 8, 2, 1, 2000, 64, 64);
  p.mode = VKATTN_MODE_TOPK;
  p.topk = 64;
  REQUIRE(topk_layout(p, lavapipe(), quirks_for(lavapipe()), KernelOverride{}, &cpu).ok());
  CHECK(cpu.chunks == 1);
  CHECK(cpu.chunk_keys == 0);
  REQUIRE(topk_layout(p, swiftshader(), quirks_for(swiftshader()), KernelOverride{}, &cpu).ok());
  CHECK(cpu.workgroup == 4);
  CHECK(cpu.chunks == 1);
}

TEST_CASE("VKATTN_VULKAN_KERNEL keys=N sets top-k's keys per invocation, a power of two within 512 keys a round") {
  Problem p = make(1, 32, 8, 1, 32768, 128, 128);
  p.mode = VKATTN_MODE_TOPK;
  p.topk = 64;
  KernelOverride forced;
  REQUIRE(parse_kernel_override("tiled,keys=1", &forced).ok());
  CHECK(format_kernel_override(forced) == "tiled,keys=1");
  TopkLayout layout;
  REQUIRE(topk_layout(p, lavapipe(), quirks_for(lavapipe()), forced, &layout).ok());
  CHECK(layout.workgroup == 8);
  CHECK(layout.tile == 1);  // a GPU's selection, on a CPU-type device
  REQUIRE(parse_kernel_override("keys=4", &forced).ok());
  REQUIRE(topk_layout(p, nvidia_rtx(), quirks_for(nvidia_rtx()), forced, &layout).ok());
  CHECK(layout.tile == 4);
  for (const char* text : {"keys=3", "keys=16"}) {  // not a power of two; 64 x 16 keys a round
    CAPTURE(text);
    REQUIRE(parse_kernel_override(text, &forced).ok());
    const Status status = topk_layout(p, nvidia_rtx(), quirks_for(nvidia_rtx()), forced, &layout);
    CHECK(status.code() == VKATTN_ERROR_UNSUPPORTED);
    CHECK(status.message().find("keys=") != std::string::npos);
  }
  // Unforced, a round never takes more than 512 keys: a CPU-type device
  // with 128-wide subgroups gets 4 keys per invocation.
  DeviceCaps wide = lavapipe();
  wide.subgroup_size = 128;
  REQUIRE(topk_layout(p, wide, quirks_for(wide), KernelOverride{}, &layout).ok());
  CHECK(layout.workgroup == 128);
  CHECK(layout.tile == 4);
}

TEST_CASE("top-k row batches keep the candidate lists within 64 MiB and the binding range, covering every row") {
  // k = 4096 over 65536 keys: lists of 8192 entries (64 KiB); 8 heads x
  // 8192 rows need 4 GiB of lists at once, so rows go in batches.
  Problem p = make(2, 8, 8, 8192, 65536, 64, 64);
  p.mode = VKATTN_MODE_TOPK;
  p.topk = VKATTN_MAX_TOPK;
  for (const DeviceCaps& device : {lavapipe(), swiftshader(), mali_g78(), nvidia_rtx()}) {
    CAPTURE(device.name);
    TopkLayout layout;
    REQUIRE(topk_layout(p, device, quirks_for(device), KernelOverride{}, &layout).ok());
    CHECK(layout.capacity == 2 * VKATTN_MAX_TOPK);
    const uint64_t slot = (4 + 2 * uint64_t{layout.capacity}) * 4;
    CHECK(layout.scratch_bytes == uint64_t{layout.batch_blocks} * layout.batch_heads * layout.batch_batches *
                                      layout.rows * slot);
    CHECK(layout.scratch_bytes <= (uint64_t{64} << 20));
    CHECK(layout.scratch_bytes <= device.max_storage_buffer_range);
    CHECK(uint64_t{layout.batch_blocks} * layout.rows <= device.max_workgroup_count[0]);
    CHECK(layout.batch_blocks >= 1);
  }
  // Head dimensions beyond the kernel's 256 are refused by name.
  p = make(1, 4, 4, 16, 64, 320, 64);
  p.mode = VKATTN_MODE_TOPK;
  p.topk = 8;
  TopkLayout layout;
  const Status status = topk_layout(p, nvidia_rtx(), quirks_for(nvidia_rtx()), KernelOverride{}, &layout);
  CHECK(status.code() == VKATTN_ERROR_UNSUPPORTED);
  CHECK(status.message().find("qk_dim") != std::string::npos);
}

TEST_CASE("slices keep every binding inside maxStorageBufferRange and cover every head once") {
  // K and V of 256 MiB each (Hkv = 8, Skv = 65536, D = 128, f32) on a 128 MiB range.
  const Problem p = make(2, 16, 8, 4, 65536, 128, 128);
  SliceLimits limits{uint64_t{1} << 27, 16, 65535, 65535};
  std::vector<Slice> slices;
  REQUIRE(plan_slices(p, limits, 1, 0, &slices).ok());
  CHECK(slices.size() > 2);
  std::vector<int> seen(static_cast<size_t>(p.batch * p.kv_heads), 0);
  for (const Slice& s : slices) {
    for (int64_t b = s.batch_begin; b < s.batch_end; ++b) {
      for (int64_t g = s.kv_head_begin; g < s.kv_head_end; ++g) seen[static_cast<size_t>(b * p.kv_heads + g)]++;
    }
    for (uint32_t binding = 0; binding < kBindingCount; ++binding) {
      CHECK(s.windows[binding].range <= limits.max_binding_bytes);
      CHECK(s.windows[binding].offset % limits.offset_alignment == 0);
      CHECK(s.windows[binding].range % 4 == 0);
    }
    // The highest element the shader indexes stays inside the K window.
    const uint64_t last_k = s.k.offset + (s.batch_end - s.batch_begin - 1) * uint64_t{s.k.batch_stride} +
                            (s.kv_head_end - s.kv_head_begin - 1) * uint64_t{s.k.head_stride} +
                            (p.kv_len - 1) * uint64_t{s.k.seq_stride} + (p.qk_dim - 1);
    CHECK((last_k + 1) * 4 <= s.windows[kBindingK].range);
    // And the window starts at the slice's first K element.
    CHECK(s.windows[kBindingK].offset + uint64_t{s.k.offset} * 4 ==
          (p.k.row(s.batch_begin, s.kv_head_begin, 0)) * 4);
  }
  for (int count : seen) CHECK(count == 1);

  std::vector<Slice> one;
  REQUIRE(plan_slices(make(2, 16, 8, 4, 1024, 128, 128), limits, 1, 0, &one).ok());
  CHECK(one.size() == 1);

  const Status too_big = plan_slices(make(1, 1, 1, 1, (int64_t{1} << 27) / 512 + 1, 128, 128), limits, 1, 0, &slices);
  CHECK(too_big.code() == VKATTN_ERROR_UNSUPPORTED);
  CHECK(too_big.message().find("maxStorageBufferRange") != std::string::npos);
}

TEST_CASE("the pipeline-cache file round-trips and rejects foreign, truncated and corrupt data") {
  const std::string path = "/tmp/vkattn_cache_unit_" + std::to_string(getpid());
  CacheIdentity id{0x10005, 0, 42, {}};
  for (int i = 0; i < 16; ++i) id.uuid[i] = static_cast<uint8_t>(i * 7);
  // A payload that starts with a matching VkPipelineCacheHeaderVersionOne.
  std::vector<uint8_t> payload(32 + 100, 0xab);
  const uint32_t header[4] = {32, 1, id.vendor_id, id.device_id};
  std::memcpy(payload.data(), header, 16);
  std::memcpy(payload.data() + 16, id.uuid, 16);
  std::string why;
  REQUIRE(write_cache_file(path, CacheKind::pipeline, id, payload, &why));
  CHECK(read_cache_file(path, CacheKind::pipeline, id, &why) == payload);
  CHECK(why.empty());

  CacheIdentity other = id;
  other.driver_version = 43;
  CHECK(read_cache_file(path, CacheKind::pipeline, other, &why).empty());
  CHECK(why.find("another device or driver") != std::string::npos);

  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  auto rewrite = [&](const std::vector<char>& contents) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  };
  rewrite(std::vector<char>(bytes.begin(), bytes.end() - 5));
  CHECK(read_cache_file(path, CacheKind::pipeline, id, &why).empty());
  CHECK(why.find("truncated") != std::string::npos);
  std::vector<char> flipped = bytes;
  flipped.back() ^= 1;
  rewrite(flipped);
  CHECK(read_cache_file(path, CacheKind::pipeline, id, &why).empty());
  CHECK(why.find("checksum") != std::string::npos);
  rewrite(std::vector<char>(10, 'z'));
  CHECK(read_cache_file(path, CacheKind::pipeline, id, &why).empty());
  CHECK(why.find("magic") != std::string::npos);
  std::remove(path.c_str());
  CHECK(read_cache_file(path, CacheKind::pipeline, id, &why).empty());
  CHECK(why.empty());  // no file is not an error
}
