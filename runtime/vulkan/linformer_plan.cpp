// A Vulkan Linformer plan (VKATTN_MODE_LINFORMER): first the projections
// K' = E K and V' = F V (shaders/linformer_proj.comp) into one plan-owned
// buffer, K' [batch, kv_heads, proj_len, qk_dim] then V' (.., v_dim), in
// Q's storage; then the softmax kernel's stages (softmax_stages.h) for
// linformer_attend_problem, with K and V bound to that buffer. One
// command buffer holds both, a barrier between them; descriptor sets:
// the projection's per slice of the problem (the execution's K and V
// through their windows), then the softmax stages' per slice of theirs.
// E and F live in plan-owned buffers, bound in the head-constants and
// additive-mask bindings (the projection shader reads them there).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "attention_plan.h"
#include "plan_layout.h"
#include "runtime/checked_math.h"
#include "shader_params.h"
#include "softmax_stages.h"
#include "vulkan_device.h"

namespace vkattn {
namespace vk {

namespace {

constexpr uint32_t kProjWorkgroup = 64;  // the shader's tiling assumes it
constexpr uint32_t kProjTile = 32;       // rows and columns per workgroup, keys per step (TILE)
constexpr uint32_t kProjOutputs = 4;     // rows (and columns) per invocation (OUT)

// Loop iterations one invocation of linformer_proj.comp runs, as written
// (unrolled loops counted too, in case the driver does not unroll them):
// per step of kProjTile keys (the step, the two block loads, the keys of
// the step with their loads and 4 x 4 products), and per dispatch besides
// (the accumulators' load and store).
constexpr uint64_t kProjLoopsPerStep = 1 + 2 * (kProjTile * kProjTile / kProjWorkgroup) +
                                       kProjTile * (1 + 2 * kProjOutputs + kProjOutputs * (1 + kProjOutputs));
constexpr uint64_t kProjLoopsPerDispatch = 2 * kProjOutputs * (1 + kProjOutputs);

uint32_t projection_tiles(const Problem& p, int64_t dim) {
  return static_cast<uint32_t>(ceil_div(p.proj_len, int64_t{kProjTile}) * ceil_div(dim, int64_t{kProjTile}));
}

}  // namespace

Status linformer_layout(const Problem& p, const DeviceCaps& caps, const Quirks& quirks, LinformerLayout* out) {
  VKATTN_RETURN_IF_ERROR(check_shader_lengths(p));
  LinformerLayout layout;
  if (caps.max_workgroup_invocations < kProjWorkgroup || caps.max_workgroup_size_x < kProjWorkgroup) {
    return unsupported("Linformer's projections need workgroups of %u invocations; %s allows %u", kProjWorkgroup,
                       caps.name.c_str(), std::min(caps.max_workgroup_invocations, caps.max_workgroup_size_x));
  }
  const uint64_t tiles = std::max(projection_tiles(p, p.qk_dim), projection_tiles(p, p.v_dim));
  if (tiles > caps.max_workgroup_count[0]) {
    return unsupported("Linformer's projections of %lld rows (vkattn_attention_desc.linformer.proj_len) need %llu "
                       "workgroups per head; %s allows %u",
                       (long long)p.proj_len, (unsigned long long)tiles, caps.name.c_str(), caps.max_workgroup_count[0]);
  }
  // Keys per dispatch, a multiple of kProjTile: on a GPU as many as keep a
  // dispatch (every batch and kv head of the problem, the largest slice)
  // within the watchdog budget at the device's assumed rate, at least one
  // step; within three quarters of a loop cap (llvmpipe).
  uint64_t chunk_keys = UINT64_MAX;
  const double rate = dispatch_flops_per_second(caps);
  if (rate > 0.0) {
    const double flops_per_key = 2.0 * static_cast<double>(p.proj_len) * static_cast<double>(std::max(p.qk_dim, p.v_dim)) *
                                 static_cast<double>(p.batch) * static_cast<double>(p.kv_heads);
    const double steps = std::floor(kDispatchBudgetSeconds * rate / flops_per_key / kProjTile);
    chunk_keys = static_cast<uint64_t>(std::max(1.0, std::min(steps, 1e9))) * kProjTile;
  }
  if (quirks.max_loop_iterations != 0) {
    const uint64_t budget = uint64_t{quirks.max_loop_iterations} * 3 / 4;
    chunk_keys = std::min(chunk_keys, (budget - kProjLoopsPerDispatch) / kProjLoopsPerStep * kProjTile);
  }
  const uint64_t kv_len = static_cast<uint64_t>(p.kv_len);
  layout.chunks = static_cast<uint32_t>(ceil_div(kv_len, std::min(chunk_keys, kv_len)));  // kv_len < 2^30
  layout.chunk_keys = layout.chunks > 1 ? static_cast<uint32_t>(chunk_keys) : 0;

  PipelineSpec& spec = layout.pipeline;
  spec.role = "Linformer projection";
  spec.shader = p.dtype == VKATTN_DTYPE_F16 ? shaders::ShaderId::linformer_proj_f16 : shaders::ShaderId::linformer_proj_f32;
  spec.constants.assign(kSpecCount, 0u);
  spec.constants[kSpecWorkgroup] = kProjWorkgroup;
  spec.constants[kSpecQkDim] = static_cast<uint32_t>(p.qk_dim);
  spec.constants[kSpecVDim] = static_cast<uint32_t>(p.v_dim);
  spec.constants[kSpecFlags] = p.has_kv_lens ? kFlagKvLens : 0u;
  set_kv_constants(p, &spec.constants);
  *out = layout;
  return Status();
}

namespace {

class LinformerStages final : public PlanStages {
 public:
  LinformerStages(VulkanDevice& device, const Problem& problem, const KernelOverride& forced)
      : device_(device),
        p_(problem),
        attend_problem_(linformer_attend_problem(problem, problem.dtype)),
        attend_(device, attend_problem_, forced, false) {}

  Status initialize();
  // PlanDispatches
  uint32_t slice_count() const override { return static_cast<uint32_t>(slices_.size()) + attend_.slice_count(); }
  const Window& window(uint32_t slice, uint32_t binding) const override {
    return slice < slices_.size() ? slices_[slice].windows[binding] : attend_.window(slice - projection_sets(), binding);
  }
  VkDescriptorBufferInfo own_binding(uint32_t slice, uint32_t binding) const override;
  void record_dispatches(VkCommandBuffer cmd, const VkDescriptorSet* sets) const override;
  // PlanStages
  PlanInfo info() const override;

 private:
  uint32_t projection_sets() const { return static_cast<uint32_t>(slices_.size()); }
  Status upload(const std::vector<float>& matrix, const char* name, std::unique_ptr<VulkanBuffer>* out);

  VulkanDevice& device_;
  Problem p_;
  Problem attend_problem_;
  LinformerLayout layout_;
  std::vector<Slice> slices_;  // the projection's
  VkPipeline pipeline_ = VK_NULL_HANDLE;
  std::unique_ptr<VulkanBuffer> params_;     // the projection's, per slice
  std::unique_ptr<VulkanBuffer> e_, f_;      // E and F
  std::unique_ptr<VulkanBuffer> projected_;  // K' then V' (from v_offset_)
  std::unique_ptr<VulkanBuffer> partials_;   // f32 sums between a long walk's dispatches (16 bytes without)
  uint64_t v_offset_ = 0;
  uint64_t params_stride_ = 0;
  SoftmaxStages attend_;  // last: it binds projected_
};

Status LinformerStages::upload(const std::vector<float>& matrix, const char* name, std::unique_ptr<VulkanBuffer>* out) {
  const DeviceCaps& caps = device_.caps();
  const uint64_t bytes = matrix.size() * sizeof(float);  // <= 2^30 bytes (VKATTN_MAX_PROJECTION_ELEMENTS)
  if (bytes > caps.max_storage_buffer_range) {
    return unsupported("Linformer's %s (%llu bytes) exceeds maxStorageBufferRange (%llu bytes) on %s", name,
                       (unsigned long long)bytes, (unsigned long long)caps.max_storage_buffer_range, caps.name.c_str());
  }
  VKATTN_RETURN_IF_ERROR(device_.create_vulkan_buffer(bytes, true, out));
  std::memcpy((*out)->mapped(), matrix.data(), bytes);
  return (*out)->flush(0, bytes);
}

Status LinformerStages::initialize() {
  const DeviceCaps& caps = device_.caps();
  VKATTN_RETURN_IF_ERROR(linformer_layout(p_, caps, device_.quirks(), &layout_));
  const SliceLimits limits{caps.max_storage_buffer_range, caps.storage_offset_alignment, caps.max_workgroup_count[1],
                           caps.max_workgroup_count[2]};
  VKATTN_RETURN_IF_ERROR(plan_slices(p_, limits, 1, 0, &slices_));
  VKATTN_RETURN_IF_ERROR(device_.pipeline(layout_.pipeline, &pipeline_));
  VKATTN_RETURN_IF_ERROR(upload(*p_.proj_e, "linformer.e", &e_));
  VKATTN_RETURN_IF_ERROR(upload(*p_.proj_f, "linformer.f", &f_));

  // K' and V' in Q's storage, V' from an aligned offset; the projection
  // binds all of it at once, the softmax stages each through windows.
  const uint64_t element = p_.element_size();
  const uint64_t alignment = std::max<uint64_t>(caps.storage_offset_alignment, 16);
  const uint64_t k_bytes = attend_problem_.k.extent * element, v_bytes = attend_problem_.v.extent * element;
  v_offset_ = ceil_div(k_bytes, alignment) * alignment;
  const uint64_t projected_bytes = v_offset_ + v_bytes;  // bounded by make_problem's check, < 2^64
  if (projected_bytes > caps.max_storage_buffer_range) {
    return unsupported("Linformer's projected keys and values (%llu bytes for %lld batches x %lld kv heads x "
                       "vkattn_attention_desc.linformer.proj_len %lld) exceed maxStorageBufferRange (%llu bytes) on %s",
                       (unsigned long long)projected_bytes, (long long)p_.batch, (long long)p_.kv_heads,
                       (long long)p_.proj_len, (unsigned long long)caps.max_storage_buffer_range, caps.name.c_str());
  }
  VKATTN_RETURN_IF_ERROR(device_.create_vulkan_buffer(projected_bytes, false, &projected_));
  uint64_t largest_slice = 0;  // (batch, kv head) pairs
  for (const Slice& slice : slices_) {
    largest_slice = std::max<uint64_t>(largest_slice, static_cast<uint64_t>((slice.batch_end - slice.batch_begin) *
                                                                            (slice.kv_head_end - slice.kv_head_begin)));
  }
  {
    // K' and V' sums of a slice in f32, each row max(qk_dim, v_dim) wide,
    // when the keys take several dispatches. A single dispatch never
    // writes them, but the shader's writes make the binding written for
    // the synchronisation rules: a buffer of its own, never the shared
    // placeholder the next dispatch reads through other bindings.
    const uint64_t bytes = layout_.chunks == 1 ? 16
                                               : largest_slice * 2 * static_cast<uint64_t>(p_.proj_len) *
                                                     static_cast<uint64_t>(std::max(p_.qk_dim, p_.v_dim)) * 4;
    if (bytes > caps.max_storage_buffer_range) {
      return unsupported("Linformer's partial projections (%llu bytes) exceed maxStorageBufferRange (%llu bytes) on %s",
                         (unsigned long long)bytes, (unsigned long long)caps.max_storage_buffer_range,
                         caps.name.c_str());
    }
    VKATTN_RETURN_IF_ERROR(device_.create_vulkan_buffer(bytes, false, &partials_));
  }

  params_stride_ = ceil_div(uint64_t{sizeof(ShaderParams)}, caps.uniform_offset_alignment) * caps.uniform_offset_alignment;
  VKATTN_RETURN_IF_ERROR(device_.create_vulkan_buffer(params_stride_ * slices_.size(), true, &params_));
  // Views of K' and V' from the slice's first (batch, kv head), in elements
  // (< 2^32: the buffer fits one binding).
  auto projected_view = [&](const TensorView& view, uint64_t base, const Slice& slice, uint32_t* out) {
    out[0] = static_cast<uint32_t>(base / element + view.row(slice.batch_begin, slice.kv_head_begin, 0));
    out[1] = static_cast<uint32_t>(view.batch_stride);
    out[2] = static_cast<uint32_t>(view.head_stride);
    out[3] = static_cast<uint32_t>(view.seq_stride);
  };
  for (size_t s = 0; s < slices_.size(); ++s) {
    const Slice& slice = slices_[s];
    ShaderParams params = slice_params(p_, slice);
    projected_view(attend_problem_.k, 0, slice, params.o_view);
    projected_view(attend_problem_.v, v_offset_, slice, params.lse_view);
    params.split[0] = static_cast<uint32_t>(p_.proj_len);
    params.split[1] = p_.proj_per_head ? static_cast<uint32_t>(p_.proj_len * p_.kv_len) : 0u;
    params.split[2] = static_cast<uint32_t>(slice.kv_head_begin);
    params.split[3] = static_cast<uint32_t>(slice.kv_head_end - slice.kv_head_begin);
    std::memcpy(params_->mapped() + s * params_stride_, &params, sizeof(params));
  }
  VKATTN_RETURN_IF_ERROR(params_->flush(0, params_stride_ * slices_.size()));

  attend_.use_projected_kv(projected_.get(), v_offset_);
  return attend_.initialize();
}

VkDescriptorBufferInfo LinformerStages::own_binding(uint32_t slice, uint32_t binding) const {
  if (slice >= projection_sets()) return attend_.own_binding(slice - projection_sets(), binding);
  switch (binding) {
    case kBindingParams: return params_->descriptor(slice * params_stride_, sizeof(ShaderParams));
    case kBindingOut: return projected_->descriptor(0, VK_WHOLE_SIZE);
    case kBindingHeadConstants: return e_->descriptor(0, VK_WHOLE_SIZE);
    case kBindingAdditiveMask: return f_->descriptor(0, VK_WHOLE_SIZE);
    case kBindingPartials: return partials_->descriptor(0, VK_WHOLE_SIZE);
    default: return VkDescriptorBufferInfo{};
  }
}

void LinformerStages::record_dispatches(VkCommandBuffer cmd, const VkDescriptorSet* sets) const {
  const DeviceFunctions& fn = device_.fn();
  fn.vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_);
  bool first = true;
  for (size_t s = 0; s < slices_.size(); ++s) {
    const Slice& slice = slices_[s];
    fn.vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, device_.pipeline_layout(), 0, 1, &sets[s], 0,
                               nullptr);
    const uint32_t heads = static_cast<uint32_t>(slice.kv_head_end - slice.kv_head_begin);
    const uint32_t batches = static_cast<uint32_t>(slice.batch_end - slice.batch_begin);
    // K' then V', each walked in its chunks (each reads the sums the one
    // before left in the partials, which the next slice reuses; every
    // dispatch may write them, so each waits for the one before).
    for (uint32_t of_v = 0; of_v < 2; ++of_v) {
      for (uint32_t chunk = 0; chunk < layout_.chunks; ++chunk) {
        if (!first) device_.record_barrier_between_dispatches(cmd);
        first = false;
        const DispatchConstants constants{of_v, chunk, layout_.chunk_keys, layout_.chunks, 0, 0};
        fn.vkCmdPushConstants(cmd, device_.pipeline_layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(constants),
                              &constants);
        fn.vkCmdDispatch(cmd, projection_tiles(p_, of_v ? p_.v_dim : p_.qk_dim), heads, batches);
      }
    }
  }
  device_.record_barrier_between_dispatches(cmd);  // K' and V' are written before the softmax stages read them
  attend_.record_dispatches(cmd, sets + projection_sets());
}

PlanInfo LinformerStages::info() const {
  PlanInfo info = attend_.info();
  info.kernel = std::string("vulkan.linformer") + (p_.dtype == VKATTN_DTYPE_F16 ? ".f16" : ".f32") + "+" + info.kernel;
  const uint64_t projections = static_cast<uint64_t>(p_.batch * p_.kv_heads) *
                               (projection_tiles(p_, p_.qk_dim) + projection_tiles(p_, p_.v_dim));
  info.tasks = static_cast<uint32_t>(std::min<uint64_t>(UINT32_MAX, info.tasks + projections));
  info.dispatches += static_cast<uint32_t>(slices_.size()) * 2 * layout_.chunks;
  info.workspace_bytes += params_->size() + e_->size() + f_->size() + projected_->size() + partials_->size();
  return info;
}

}  // namespace

Status create_linformer_plan(VulkanDevice& device, const Problem& problem, const KernelOverride& forced,
                             std::unique_ptr<DevicePlan>* out) {
  std::unique_ptr<LinformerStages> stages(new LinformerStages(device, problem, forced));
  VKATTN_RETURN_IF_ERROR(stages->initialize());
  return make_attention_plan(device, problem, std::move(stages), out);
}

}  // namespace vk
}  // namespace vkattn
