// Device choice, quirks, kernel configuration, slicing and the pipeline-cache
// file format, as pure functions of fake device descriptions: no GPU needed.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/vulkan/device_caps.h"
#include "runtime/vulkan/pipeline_cache_file.h"
#include "runtime/vulkan/slicing.h"
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
  d.subgroup_clustered = true;
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
  d.subgroup_clustered = false;  // Adreno 6xx drivers report no clustered/shuffle support
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
  d.subgroup_clustered = true;
  d.subgroup_size_control = d.compute_full_subgroups = true;
  d.shared_memory_bytes = 65536;
  d.max_storage_buffer_range = (uint64_t{1} << 30);
  d.unified_memory = true;
  return d;
}

DeviceCaps nvidia_rtx() {
  DeviceCaps d = base_device("NVIDIA GeForce RTX 4070", VKATTN_DEVICE_TYPE_DISCRETE_GPU, kVendorNvidia);
  d.subgroup_size = d.min_subgroup_size = d.max_subgroup_size = 32;
  d.subgroup_clustered = true;
  d.subgroup_size_control = d.compute_full_subgroups = true;
  d.shared_memory_bytes = 49152;
  d.max_workgroup_count[1] = d.max_workgroup_count[2] = 65535;
  return d;
}

DeviceCaps lavapipe() {
  DeviceCaps d = base_device("llvmpipe (LLVM 15.0.6, 256 bits)", VKATTN_DEVICE_TYPE_CPU, kVendorMesa);
  d.subgroup_size = d.min_subgroup_size = d.max_subgroup_size = 8;
  d.subgroup_arithmetic = true;
  d.subgroup_clustered = false;
  d.subgroup_size_control = d.compute_full_subgroups = true;
  d.shared_memory_bytes = 32768;
  d.max_storage_buffer_range = 1u << 27;
  d.unified_memory = true;
  return d;
}

DeviceCaps powervr_ge8320() {
  DeviceCaps d = base_device("PowerVR Rogue GE8320", VKATTN_DEVICE_TYPE_INTEGRATED_GPU, kVendorImgTec);
  d.subgroup_size = d.min_subgroup_size = d.max_subgroup_size = 1;
  d.subgroup_clustered = true;
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
  CHECK(quirks_for(lavapipe()).shared_memory_budget == 32768);
  CHECK(quirks_for(powervr_ge8320()).shared_memory_budget == 16384);
}

TEST_CASE("kernel configs fit every device's limits for every head size") {
  const std::vector<DeviceCaps> devices = {mali_g78(), adreno_650(), intel_uhd(), nvidia_rtx(), lavapipe(),
                                           powervr_ge8320()};
  const int64_t dims[][2] = {{1, 1}, {8, 8}, {63, 63}, {64, 64}, {80, 80}, {96, 96}, {128, 128}, {256, 256},
                             {64, 32}, {32, 128}, {256, 1}};
  const int64_t shapes[][4] = {{8, 8, 2048, 2048}, {32, 8, 1, 32768}, {8, 8, 77, 4096}, {1, 1, 5, 3}};
  for (const DeviceCaps& device : devices) {
    const Quirks quirks = quirks_for(device);
    for (const auto& dim : dims) {
      for (const auto& shape : shapes) {
        CAPTURE(device.name);
        CAPTURE(dim[0]);
        CAPTURE(dim[1]);
        CAPTURE(shape[2]);
        const Problem p = make(1, shape[0], shape[1], shape[2], shape[3], dim[0], dim[1]);
        KernelConfig c;
        const Status status = choose_kernel_config(p, device, quirks, &c);
        REQUIRE_MESSAGE(status.ok(), status.message());
        CHECK(c.workgroup_size <= device.max_workgroup_invocations);
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
          CHECK(p.qk_dim <= kLanesMaxHeadDim);
          CHECK(p.v_dim <= kLanesMaxHeadDim);
        } else {
          CHECK(c.shared_bytes == shared_memory_bytes(c, static_cast<uint32_t>(p.qk_dim)));
          CHECK(c.shared_bytes <= quirks.shared_memory_budget);
          CHECK((is_pow2(c.block_q) && is_pow2(c.block_kv) && is_pow2(c.softmax_threads)));
          CHECK(c.block_q % c.qk_rows == 0);
          CHECK(c.block_kv % c.qk_cols == 0);
          CHECK((c.block_q / c.qk_rows) * (c.block_kv / c.qk_cols) <= c.workgroup_size);
          CHECK(c.block_q % c.pv_rows == 0);
          CHECK(c.v_dim_padded >= p.v_dim);
          CHECK(c.v_dim_padded % c.pv_dims == 0);
          CHECK((c.block_q / c.pv_rows) * (c.v_dim_padded / c.pv_dims) <= c.workgroup_size);
          CHECK(c.softmax_threads * c.block_q <= c.workgroup_size);
          CHECK(c.softmax_threads <= c.block_kv);
          if (c.subgroup_softmax) {
            CHECK(device.subgroup_clustered);
            CHECK_FALSE(quirks.avoid_subgroup_ops);
            CHECK(c.softmax_threads <= device.min_subgroup_size);
          }
          CHECK(c.contiguous_loads == quirks.prefer_contiguous_loads);
        }
        CHECK((c.kv_splits >= 1 && c.kv_splits <= 64));
      }
    }
  }
}

TEST_CASE("CPU-type devices get the lanes kernel where its registers hold the rows, GPUs the tiled one") {
  KernelConfig c;
  REQUIRE(choose_kernel_config(make(1, 8, 8, 2048, 2048, 64, 64), lavapipe(), quirks_for(lavapipe()), &c).ok());
  CHECK(c.kernel == KernelConfig::Kernel::lanes);
  CHECK(c.lane_rows == 4);
  CHECK(c.block_q == 4);
  CHECK(c.block_kv == 16);  // two keys per lane
  REQUIRE(choose_kernel_config(make(1, 8, 8, 2048, 2048, 128, 128), lavapipe(), quirks_for(lavapipe()), &c).ok());
  CHECK(c.lane_rows == 2);
  REQUIRE(choose_kernel_config(make(1, 8, 8, 2048, 2048, 256, 256), lavapipe(), quirks_for(lavapipe()), &c).ok());
  CHECK(c.lane_rows == 1);
  REQUIRE(choose_kernel_config(make(1, 32, 8, 1, 4096, 64, 64), lavapipe(), quirks_for(lavapipe()), &c).ok());
  CHECK(c.lane_rows == 4);  // decode: the 4 query heads of a kv head, the lanes over its keys
  REQUIRE(choose_kernel_config(make(1, 8, 8, 1, 4096, 64, 64), lavapipe(), quirks_for(lavapipe()), &c).ok());
  CHECK(c.lane_rows == 1);
  DeviceCaps no_arithmetic = lavapipe();
  no_arithmetic.subgroup_arithmetic = false;
  REQUIRE(choose_kernel_config(make(1, 8, 8, 2048, 2048, 64, 64), no_arithmetic, quirks_for(no_arithmetic), &c).ok());
  CHECK(c.kernel == KernelConfig::Kernel::tiled);  // the lanes merge with subgroup arithmetic
  REQUIRE(choose_kernel_config(make(1, 1, 1, 16, 16, 512, 512), lavapipe(), quirks_for(lavapipe()), &c).ok());
  CHECK(c.kernel == KernelConfig::Kernel::tiled);  // too many registers: shared-memory tiles
  REQUIRE(choose_kernel_config(make(1, 8, 8, 2048, 2048, 64, 64), mali_g78(), quirks_for(mali_g78()), &c).ok());
  CHECK(c.kernel == KernelConfig::Kernel::tiled);

  // One loop iteration per key tile: a dispatch on llvmpipe covers tens of
  // thousands of keys before the plan needs another.
  REQUIRE(choose_kernel_config(make(1, 8, 1, 64, 1000000, 64, 64), lavapipe(), quirks_for(lavapipe()), &c).ok());
  CHECK(loop_iterations_per_tile(c, 64, 64) == 1);
  CHECK(loop_iterations_per_dispatch(c, 64, 64) == 16);
  CHECK(uint64_t{c.max_tiles_per_dispatch} * c.block_kv > 500000);
}

TEST_CASE("VKATTN_VULKAN_KERNEL forces a kernel, anything else is rejected by name") {
  Quirks q = quirks_for(lavapipe());
  REQUIRE(apply_kernel_override(nullptr, &q).ok());
  CHECK(q.invocations_are_simd_lanes);
  REQUIRE(apply_kernel_override("auto", &q).ok());
  CHECK(q.invocations_are_simd_lanes);
  REQUIRE(apply_kernel_override("tiled", &q).ok());
  CHECK_FALSE(q.invocations_are_simd_lanes);
  Quirks gpu = quirks_for(nvidia_rtx());
  REQUIRE(apply_kernel_override("lanes", &gpu).ok());
  CHECK(gpu.invocations_are_simd_lanes);
  const Status bad = apply_kernel_override("fast", &gpu);
  CHECK(bad.code() == VKATTN_ERROR_INVALID_ARGUMENT);
  CHECK(bad.message().find("VKATTN_VULKAN_KERNEL='fast'") != std::string::npos);
}

TEST_CASE("decode splits the key range across workgroups, prefill does not") {
  KernelConfig decode, prefill;
  REQUIRE(choose_kernel_config(make(1, 32, 8, 1, 32768, 128, 128), nvidia_rtx(), quirks_for(nvidia_rtx()), &decode).ok());
  CHECK(decode.kv_splits > 1);
  CHECK(decode.block_q == 4);  // the 4 query heads of a kv head share its K/V tiles
  REQUIRE(choose_kernel_config(make(1, 8, 8, 2048, 2048, 64, 64), nvidia_rtx(), quirks_for(nvidia_rtx()), &prefill).ok());
  CHECK(prefill.kv_splits == 1);
  KernelConfig tiny;
  REQUIRE(choose_kernel_config(make(1, 1, 1, 1, 16, 64, 64), nvidia_rtx(), quirks_for(nvidia_rtx()), &tiny).ok());
  CHECK(tiny.kv_splits == 1);  // too few keys to be worth a second pass
}

TEST_CASE("what a device cannot hold is UNSUPPORTED, naming the limit") {
  KernelConfig c;
  Status s = choose_kernel_config(make(1, 1, 1, 16, 16, 4096, 4096), mali_g78(), quirks_for(mali_g78()), &c);
  CHECK(s.code() == VKATTN_ERROR_UNSUPPORTED);
  CHECK(s.message().find("maxComputeSharedMemorySize 32768") != std::string::npos);
  DeviceCaps no16 = mali_g78();
  no16.storage_16bit = false;
  s = choose_kernel_config(make(1, 1, 1, 16, 16, 64, 64, VKATTN_DTYPE_F16), no16, quirks_for(no16), &c);
  CHECK(s.code() == VKATTN_ERROR_UNSUPPORTED);
  CHECK(s.message().find("storageBuffer16BitAccess") != std::string::npos);
  s = choose_kernel_config(make(1, 1, 1, int64_t{1} << 30, 16, 64, 64), nvidia_rtx(), quirks_for(nvidia_rtx()), &c);
  CHECK(s.code() == VKATTN_ERROR_UNSUPPORTED);
  CHECK(s.message().find("2^30") != std::string::npos);
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
  REQUIRE(write_pipeline_cache(path, id, payload, &why));
  CHECK(read_pipeline_cache(path, id, &why) == payload);
  CHECK(why.empty());

  CacheIdentity other = id;
  other.driver_version = 43;
  CHECK(read_pipeline_cache(path, other, &why).empty());
  CHECK(why.find("another device or driver") != std::string::npos);

  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  auto rewrite = [&](const std::vector<char>& contents) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  };
  rewrite(std::vector<char>(bytes.begin(), bytes.end() - 5));
  CHECK(read_pipeline_cache(path, id, &why).empty());
  CHECK(why.find("truncated") != std::string::npos);
  std::vector<char> flipped = bytes;
  flipped.back() ^= 1;
  rewrite(flipped);
  CHECK(read_pipeline_cache(path, id, &why).empty());
  CHECK(why.find("checksum") != std::string::npos);
  rewrite(std::vector<char>(10, 'z'));
  CHECK(read_pipeline_cache(path, id, &why).empty());
  CHECK(why.find("magic") != std::string::npos);
  std::remove(path.c_str());
  CHECK(read_pipeline_cache(path, id, &why).empty());
  CHECK(why.empty());  // no file is not an error
}
