#include "probes.h"

#include <algorithm>
#include <vector>

#include "plan_layout.h"
#include "slicing.h"
#include "vulkan_device.h"

namespace vkattn {
namespace vk {

namespace {

constexpr uint32_t kWorkgroup = 64;
constexpr uint32_t kFmaIterations = 256;  // x 16 x 8 FMAs per invocation

// Runs `pipeline` over `groups` workgroups and returns the device time of the
// fastest of three runs, in milliseconds.
Status time_dispatch(VulkanDevice& device, VkPipeline pipeline, VkDescriptorSet set, uint32_t groups, double* ms) {
  const DeviceFunctions& fn = device.fn();
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  uint64_t serial = 0;
  VkQueryPool queries = VK_NULL_HANDLE;
  VKATTN_RETURN_IF_ERROR(device.allocate_command_buffer(&cmd));
  Status status;
  VkQueryPoolCreateInfo query_info{};
  query_info.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO;
  query_info.queryType = VK_QUERY_TYPE_TIMESTAMP;
  query_info.queryCount = 2;
  if (status.ok()) status = device.check(fn.vkCreateQueryPool(device.handle(), &query_info, nullptr, &queries), "vkCreateQueryPool");
  double best = 1e30;
  for (int run = 0; run < 3 && status.ok(); ++run) {
    status = device.check(fn.vkResetCommandBuffer(cmd, 0), "vkResetCommandBuffer");
    VkCommandBufferBeginInfo begin{};
    begin.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
    if (status.ok()) status = device.check(fn.vkBeginCommandBuffer(cmd, &begin), "vkBeginCommandBuffer");
    if (!status.ok()) break;
    device.record_barrier_after_prior_work(cmd);
    fn.vkCmdResetQueryPool(cmd, queries, 0, 2);
    fn.vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, queries, 0);
    fn.vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
    fn.vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, device.pipeline_layout(), 0, 1, &set, 0, nullptr);
    fn.vkCmdDispatch(cmd, groups, 1, 1);
    fn.vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries, 1);
    device.record_barrier_before_host_reads(cmd);
    status = device.check(fn.vkEndCommandBuffer(cmd), "vkEndCommandBuffer");
    if (status.ok()) status = device.submit_commands(&cmd, 1, nullptr, &serial);
    if (status.ok()) status = device.wait_for(serial);
    uint64_t ticks[2] = {0, 0};
    if (status.ok()) {
      status = device.check(fn.vkGetQueryPoolResults(device.handle(), queries, 0, 2, sizeof(ticks), ticks,
                                                     sizeof(uint64_t), VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
                            "vkGetQueryPoolResults");
    }
    const uint32_t bits = device.caps().timestamp_bits;
    const uint64_t mask = bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
    if (status.ok()) best = std::min(best, static_cast<double>((ticks[1] - ticks[0]) & mask) * device.caps().timestamp_period_ns * 1e-6);
  }
  if (queries != VK_NULL_HANDLE) fn.vkDestroyQueryPool(device.handle(), queries, nullptr);
  if (!status.ok()) device.settle(serial);  // nothing may still use the command buffer
  device.free_command_buffer(cmd);
  *ms = best;
  return status;
}

}  // namespace

Status measure_device_peaks(int32_t index, DevicePeaks* out) {
  vkattn_context_options options;
  vkattn_context_options_init(&options);
  options.backend = VKATTN_BACKEND_VULKAN;
  options.device_index = index;
  std::unique_ptr<Device> base;
  VKATTN_RETURN_IF_ERROR(VulkanDevice::create(options, Logger(), &base));
  VulkanDevice& device = static_cast<VulkanDevice&>(*base);
  if (!device.caps().timestamps) return unsupported("%s has no timestamp queries", device.caps().name.c_str());
  out->name = device.caps().name;

  // Buffers: the largest read the device allows in one binding (at most 64 MiB).
  const uint64_t bytes = std::min<uint64_t>(64ull << 20, device.caps().max_storage_buffer_range / 16 * 16);
  const uint32_t read_floats = 1024;  // per invocation
  const uint32_t groups_read = static_cast<uint32_t>(bytes / 4 / read_floats / kWorkgroup);
  const uint32_t groups_fma = std::min<uint32_t>(4096, device.caps().max_workgroup_count[0]);
  std::unique_ptr<VulkanBuffer> input, output;
  VKATTN_RETURN_IF_ERROR(device.create_vulkan_buffer(bytes, false, &input));
  VKATTN_RETURN_IF_ERROR(device.create_vulkan_buffer(uint64_t{std::max(groups_fma, groups_read)} * kWorkgroup * 4, false, &output));
  VkDescriptorPool pool = VK_NULL_HANDLE;
  VkDescriptorPoolSize sizes[2] = {{VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER, 1}, {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kBindingCount}};
  VkDescriptorPoolCreateInfo pool_info{};
  pool_info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
  pool_info.maxSets = 1;
  pool_info.poolSizeCount = 2;
  pool_info.pPoolSizes = sizes;
  VKATTN_RETURN_IF_ERROR(device.check(device.fn().vkCreateDescriptorPool(device.handle(), &pool_info, nullptr, &pool), "vkCreateDescriptorPool"));
  VkDescriptorSetLayout layout = device.set_layout();
  VkDescriptorSetAllocateInfo set_info{};
  set_info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
  set_info.descriptorPool = pool;
  set_info.descriptorSetCount = 1;
  set_info.pSetLayouts = &layout;
  VkDescriptorSet set = VK_NULL_HANDLE;
  Status status = device.check(device.fn().vkAllocateDescriptorSets(device.handle(), &set_info, &set), "vkAllocateDescriptorSets");
  if (status.ok()) {
    VkDescriptorBufferInfo infos[kBindingCount] = {};  // (none: the placeholder)
    infos[kBindingQ] = {input->handle(), 0, VK_WHOLE_SIZE};
    infos[kBindingPartials] = {output->handle(), 0, VK_WHOLE_SIZE};
    device.write_descriptor_set(set, infos);
    VkPipeline fma = VK_NULL_HANDLE, read = VK_NULL_HANDLE;
    status = device.pipeline(PipelineSpec{"probe (FMA)", shaders::ShaderId::probe, {kWorkgroup, 0, kFmaIterations, 0}, false}, &fma);
    const uint32_t contiguous = device.quirks().prefer_contiguous_loads ? 1u : 0u;
    if (status.ok()) status = device.pipeline(PipelineSpec{"probe (read)", shaders::ShaderId::probe, {kWorkgroup, 1, read_floats, contiguous}, false}, &read);
    double ms = 0.0;
    if (status.ok()) status = time_dispatch(device, fma, set, groups_fma, &ms);
    if (status.ok()) {
      const double flops = 2.0 * 16 * 8 * kFmaIterations * double(groups_fma) * kWorkgroup;
      out->fma_gflops = flops / (ms * 1e-3) / 1e9;
      status = time_dispatch(device, read, set, groups_read, &ms);
    }
    if (status.ok()) out->read_gbytes_per_s = double(groups_read) * kWorkgroup * read_floats * 4 / (ms * 1e-3) / 1e9;
  }
  device.fn().vkDestroyDescriptorPool(device.handle(), pool, nullptr);
  return status;
}

}  // namespace vk
}  // namespace vkattn
