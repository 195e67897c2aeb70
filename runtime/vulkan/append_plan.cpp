// A Vulkan append plan (vkattn_append_desc): one kv_append.comp pipeline,
// its parameter block, a descriptor set, and per-execution host-visible
// positions and block table. Each tensor is bound through a window covering
// its whole view (so indices are 32-bit and relative, as in slicing.h); a
// view larger than maxStorageBufferRange is UNSUPPORTED.
#include <algorithm>
#include <cstring>

#include "plan_layout.h"
#include "runtime/append.h"
#include "runtime/checked_math.h"
#include "runtime/quant.h"
#include "vulkan_device.h"

namespace vkattn {
namespace vk {

namespace {

// Mirrors the std140 AppendParams block in shaders/kv_append.comp.
struct AppendParams {
  uint32_t k_src[4];
  uint32_t v_src[4];
  uint32_t k_cache[4];
  uint32_t v_cache[4];
  uint32_t sizes[4];
  uint32_t extra[4];
};
static_assert(sizeof(AppendParams) == 96, "std140 layout of AppendParams");

constexpr uint32_t kAppendWorkgroup = 64;

// Cache and source types as kv_append.comp numbers them.
uint32_t shader_type(vkattn_dtype dtype) {
  switch (dtype) {
    case VKATTN_DTYPE_F16: return 1;
    case VKATTN_DTYPE_Q8_0: return 2;
    case VKATTN_DTYPE_Q4_0: return 3;
    default: return 0;
  }
}

// Units of a row the shader gives one invocation each (kv_append.comp).
uint64_t row_units(vkattn_dtype dtype, int64_t dim) {
  switch (dtype) {
    case VKATTN_DTYPE_F32: return static_cast<uint64_t>(dim);
    case VKATTN_DTYPE_F16: return static_cast<uint64_t>(dim + 1) / 2;
    default: return static_cast<uint64_t>(dim) / kQuantBlock;
  }
}

// The window binding a view of `dtype` (element units; bytes for block
// types) and the view's offset and strides relative to it.
Status view_window(const char* name, const TensorView& view, vkattn_dtype dtype, uint64_t outer, uint64_t heads,
                   uint64_t rows, const DeviceCaps& caps, Window* window, uint32_t out[4]) {
  const bool blocks = is_block_dtype(dtype);
  const uint64_t unit = blocks ? 1 : dtype_size(dtype);  // bytes per addressed unit
  const uint64_t first = storage_offset(dtype, view.offset);
  const uint64_t end = storage_offset(dtype, view.extent);
  const uint64_t start = first / caps.storage_offset_alignment * caps.storage_offset_alignment;
  const uint64_t range = (end - start + 3) / 4 * 4;
  if (range > caps.max_storage_buffer_range) {
    return unsupported("vkattn_append_desc.%s spans %llu bytes, more than one binding of %s can reach "
                       "(maxStorageBufferRange %llu bytes)",
                       name, (unsigned long long)range, caps.name.c_str(),
                       (unsigned long long)caps.max_storage_buffer_range);
  }
  window->offset = start;
  window->range = range;
  // Strides of axes with one index never multiply anything; the others are
  // below the window, hence below 2^32.
  auto stride = [&](uint64_t count, uint64_t s) {
    return count > 1 ? static_cast<uint32_t>(blocks ? storage_offset(dtype, s) : s) : 0u;
  };
  out[0] = static_cast<uint32_t>((first - start) / unit);
  out[1] = stride(outer, view.batch_stride);
  out[2] = stride(heads, view.head_stride);
  out[3] = stride(rows, view.seq_stride);
  return Status();
}

class VulkanAppendPlan final : public DeviceAppendPlan {
 public:
  VulkanAppendPlan(VulkanDevice& device, const AppendProblem& problem) : device_(device), p_(problem) {}
  ~VulkanAppendPlan() override;

  Status initialize();
  Status execute(const AppendArgs& args) override;
  PlanInfo info() const override;
  Status last_time(double* ms) override;

 private:
  Status record(const AppendArgs& args);

  VulkanDevice& device_;
  AppendProblem p_;
  VkPipeline pipeline_ = VK_NULL_HANDLE;
  Window windows_[kBindingCount];
  std::unique_ptr<VulkanBuffer> params_;
  std::unique_ptr<VulkanBuffer> positions_;
  std::unique_ptr<VulkanBuffer> block_table_;
  std::unique_ptr<VulkanBuffer> rope_;
  PlanObjects objects_;  // one descriptor set
  std::vector<uint64_t> bound_;  // serials of the buffers the command buffer was recorded with
  uint64_t rows_ = 0;            // batch x kv_heads x new_tokens
  uint32_t groups_x_ = 0;        // workgroups per row
  bool executed_ = false;
};

VulkanAppendPlan::~VulkanAppendPlan() { device_.destroy_plan_objects(objects_); }

Status VulkanAppendPlan::initialize() {
  const DeviceCaps& caps = device_.caps();
  const uint64_t outer = static_cast<uint64_t>(p_.paged() ? p_.num_pages : p_.batch);
  const uint64_t cache_rows = static_cast<uint64_t>(p_.paged() ? p_.page_size : p_.kv_len);
  const uint64_t batch = static_cast<uint64_t>(p_.batch), heads = static_cast<uint64_t>(p_.kv_heads);
  const uint64_t tokens = static_cast<uint64_t>(p_.new_tokens);
  AppendParams params{};
  VKATTN_RETURN_IF_ERROR(view_window("k_src_layout", p_.k_src, p_.src_dtype, batch, heads, tokens, caps,
                                     &windows_[kBindingQ], params.k_src));
  VKATTN_RETURN_IF_ERROR(view_window("v_src_layout", p_.v_src, p_.src_dtype, batch, heads, tokens, caps,
                                     &windows_[kBindingOut], params.v_src));
  VKATTN_RETURN_IF_ERROR(view_window("k_layout", p_.k, p_.k_dtype, outer, heads, cache_rows, caps,
                                     &windows_[kBindingK], params.k_cache));
  VKATTN_RETURN_IF_ERROR(view_window("v_layout", p_.v, p_.v_dtype, outer, heads, cache_rows, caps,
                                     &windows_[kBindingV], params.v_cache));
  rows_ = batch * heads * tokens;
  if (rows_ > UINT32_MAX) {
    return unsupported("vkattn_append_desc: batch x kv_heads x new_tokens (%llu) exceeds 2^32 - 1 rows",
                       (unsigned long long)rows_);
  }
  const uint64_t units = row_units(p_.k_dtype, p_.qk_dim) + row_units(p_.v_dtype, p_.v_dim);  // <= 8192
  groups_x_ = static_cast<uint32_t>(ceil_div(units, uint64_t{kAppendWorkgroup}));
  params.sizes[0] = static_cast<uint32_t>(p_.kv_heads);
  params.sizes[1] = static_cast<uint32_t>(p_.new_tokens);
  params.sizes[2] = static_cast<uint32_t>(p_.qk_dim);
  params.sizes[3] = static_cast<uint32_t>(p_.v_dim);
  params.extra[0] = static_cast<uint32_t>(p_.max_pages);
  params.extra[1] = static_cast<uint32_t>(p_.rope.dims);
  params.extra[2] = static_cast<uint32_t>(rows_);

  PipelineSpec spec;
  spec.role = "append";
  spec.shader = shaders::ShaderId::kv_append;
  spec.constants = {kAppendWorkgroup, p_.src_dtype == VKATTN_DTYPE_F16 ? 1u : 0u, shader_type(p_.k_dtype),
                    shader_type(p_.v_dtype), static_cast<uint32_t>(p_.page_size),
                    static_cast<uint32_t>(p_.rope.style)};
  VKATTN_RETURN_IF_ERROR(device_.pipeline(spec, &pipeline_));

  VKATTN_RETURN_IF_ERROR(device_.create_vulkan_buffer(sizeof(params), true, &params_));
  std::memcpy(params_->mapped(), &params, sizeof(params));
  VKATTN_RETURN_IF_ERROR(params_->flush(0, sizeof(params)));
  VKATTN_RETURN_IF_ERROR(device_.create_vulkan_buffer(batch * 4, true, &positions_));
  if (p_.paged()) {
    uint64_t bytes = 0;
    if (!checked_mul(batch, static_cast<uint64_t>(p_.max_pages) * 4, &bytes) || bytes > caps.max_storage_buffer_range) {
      return unsupported("the block table (batch %lld x max_pages %lld) exceeds maxStorageBufferRange (%llu bytes)",
                         (long long)p_.batch, (long long)p_.max_pages, (unsigned long long)caps.max_storage_buffer_range);
    }
    VKATTN_RETURN_IF_ERROR(device_.create_vulkan_buffer(bytes, true, &block_table_));
  }
  if (p_.rope.enabled()) {
    std::vector<uint32_t> words(2 * p_.rope.turns.size());
    for (size_t pair = 0; pair < p_.rope.turns.size(); ++pair) {
      words[2 * pair] = static_cast<uint32_t>(p_.rope.turns[pair] >> 32);
      words[2 * pair + 1] = static_cast<uint32_t>(p_.rope.turns[pair]);
    }
    VKATTN_RETURN_IF_ERROR(device_.create_vulkan_buffer(words.size() * 4, true, &rope_));
    std::memcpy(rope_->mapped(), words.data(), words.size() * 4);
    VKATTN_RETURN_IF_ERROR(rope_->flush(0, words.size() * 4));
  }

  return device_.create_plan_objects(1, &objects_);
}

// Binds the execution's buffers and records the dispatches.
Status VulkanAppendPlan::record(const AppendArgs& args) {
  DeviceBuffer* tensors[kBindingCount] = {};
  tensors[kBindingQ] = args.k_src;
  tensors[kBindingOut] = args.v_src;
  tensors[kBindingK] = args.k_cache;
  tensors[kBindingV] = args.v_cache;
  VkDescriptorBufferInfo infos[kBindingCount];
  VkWriteDescriptorSet writes[kBindingCount];
  for (uint32_t b = 0; b < kBindingCount; ++b) {
    VkDescriptorBufferInfo& info = infos[b];
    if (b == kBindingParams) {
      info = {params_->handle(), 0, sizeof(AppendParams)};
    } else if (b == kBindingKvLens) {
      info = {positions_->handle(), 0, VK_WHOLE_SIZE};
    } else if (b == kBindingBlockTable && block_table_ != nullptr) {
      info = {block_table_->handle(), 0, VK_WHOLE_SIZE};
    } else if (b == kBindingHeadConstants && rope_ != nullptr) {
      info = {rope_->handle(), 0, VK_WHOLE_SIZE};
    } else if (tensors[b] != nullptr) {
      // Every buffer of the plan's context is a VulkanBuffer (checked by bindings).
      info = {static_cast<VulkanBuffer*>(tensors[b])->handle(), windows_[b].offset, windows_[b].range};
    } else {
      info = {device_.placeholder_buffer(), 0, VK_WHOLE_SIZE};  // the shader never reads it
    }
    writes[b] = VkWriteDescriptorSet{};
    writes[b].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
    writes[b].dstSet = objects_.sets[0];
    writes[b].dstBinding = b;
    writes[b].descriptorCount = 1;
    writes[b].descriptorType = b == kBindingParams ? VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[b].pBufferInfo = &infos[b];
  }
  const DeviceFunctions& fn = device_.fn();
  fn.vkUpdateDescriptorSets(device_.handle(), kBindingCount, writes, 0, nullptr);

  VkCommandBuffer cmd = objects_.commands;
  VKATTN_RETURN_IF_ERROR(device_.check(fn.vkResetCommandBuffer(cmd, 0), "vkResetCommandBuffer"));
  VkCommandBufferBeginInfo begin{};
  begin.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
  VKATTN_RETURN_IF_ERROR(device_.check(fn.vkBeginCommandBuffer(cmd, &begin), "vkBeginCommandBuffer"));
  device_.record_barrier_after_prior_work(cmd);
  if (objects_.timestamps != VK_NULL_HANDLE) {
    fn.vkCmdResetQueryPool(cmd, objects_.timestamps, 0, 2);
    fn.vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, objects_.timestamps, 0);
  }
  fn.vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_);
  fn.vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, device_.pipeline_layout(), 0, 1, &objects_.sets[0], 0, nullptr);
  const uint32_t max_y = device_.caps().max_workgroup_count[1];
  for (uint64_t base = 0; base < rows_; base += max_y) {
    const uint32_t constants[5] = {static_cast<uint32_t>(base), 0, 0, 0, 0};
    fn.vkCmdPushConstants(cmd, device_.pipeline_layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(constants), constants);
    fn.vkCmdDispatch(cmd, groups_x_, static_cast<uint32_t>(std::min<uint64_t>(max_y, rows_ - base)), 1);
  }
  if (objects_.timestamps != VK_NULL_HANDLE) fn.vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, objects_.timestamps, 1);
  device_.record_barrier_before_host_reads(cmd);
  return device_.check(fn.vkEndCommandBuffer(cmd), "vkEndCommandBuffer");
}

Status VulkanAppendPlan::execute(const AppendArgs& args) {
  VKATTN_RETURN_IF_ERROR(device_.usable());
  // The previous run must be done before the positions, table or command buffer change.
  VKATTN_RETURN_IF_ERROR(device_.wait(objects_.fence));
  std::vector<uint64_t> serials;
  for (DeviceBuffer* buffer : {args.k_src, args.v_src, args.k_cache, args.v_cache}) {
    serials.push_back(static_cast<VulkanBuffer*>(buffer)->serial());
  }
  if (serials != bound_) {
    bound_.clear();
    VKATTN_RETURN_IF_ERROR(record(args));
    bound_ = serials;
  }
  std::memcpy(positions_->mapped(), args.positions.data(), args.positions.size() * 4);
  VKATTN_RETURN_IF_ERROR(positions_->flush(0, args.positions.size() * 4));
  if (block_table_ != nullptr) {
    std::memcpy(block_table_->mapped(), args.block_table.data(), args.block_table.size() * 4);
    VKATTN_RETURN_IF_ERROR(block_table_->flush(0, args.block_table.size() * 4));
  }
  VKATTN_RETURN_IF_ERROR(device_.submit(objects_.commands, objects_.fence));
  executed_ = true;
  return Status();
}

Status VulkanAppendPlan::last_time(double* ms) {
  if (!executed_) return failed_precondition("the plan has not been executed yet");
  return device_.elapsed_ms(objects_.timestamps, objects_.fence, ms);
}

PlanInfo VulkanAppendPlan::info() const {
  PlanInfo info;
  info.kernel = "vulkan.append";
  info.tasks = static_cast<uint32_t>(std::min<uint64_t>(UINT32_MAX, rows_ * groups_x_));
  const uint32_t max_y = device_.caps().max_workgroup_count[1];
  info.dispatches = static_cast<uint32_t>(ceil_div(rows_, uint64_t{max_y}));
  info.workspace_bytes = params_->size() + positions_->size() + (block_table_ ? block_table_->size() : 0) +
                         (rope_ ? rope_->size() : 0);
  return info;
}

}  // namespace

Status create_vulkan_append_plan(VulkanDevice& device, const AppendProblem& problem,
                                 std::unique_ptr<DeviceAppendPlan>* out) {
  VKATTN_RETURN_IF_ERROR(device.usable());
  std::unique_ptr<VulkanAppendPlan> plan(new VulkanAppendPlan(device, problem));
  VKATTN_RETURN_IF_ERROR(plan->initialize());
  *out = std::move(plan);
  return Status();
}

}  // namespace vk
}  // namespace vkattn
