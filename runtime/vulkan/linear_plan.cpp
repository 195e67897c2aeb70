// A Vulkan linear-attention plan (VKATTN_MODE_LINEAR): one
// shaders/linear_attn.comp pipeline, the shared parameter block per slice
// (slicing.h: every tensor through a window of one binding), FAVOR+'s W in
// the head-constants binding, the state records in a scratch buffer
// (Partials binding), and the shared per-execution words (key and query
// lengths, block table). A workgroup covers TILE columns of V of one
// (batch, kv head), its part of the state in shared memory; TILE is the
// largest of 16, 8, 4 whose state fits the device's shared memory
// (UNSUPPORTED, naming the feature count, when none does). Per slice, four
// phases (the shader's): each key chunk's sums in parallel, their prefixes,
// causally a second walk over each chunk from the sums before it emitting
// its rows, then the rows that need every key (or none) from the total.
// On drivers that cap one invocation's loop iterations, chunks and row
// dispatches stay under the cap (linear_loop_costs counts the loops).
#include <algorithm>
#include <cstring>

#include "attention_plan.h"
#include "plan_layout.h"
#include "runtime/checked_math.h"
#include "shader_params.h"
#include "vulkan_device.h"

namespace vkattn {
namespace vk {

namespace {

constexpr uint32_t kLinearWorkgroup = 64;  // a power of two (the shader's max reduction)
// Workgroups the chunk phases aim for: a GPU's compute units several
// times over, or on a CPU-type device a few per core.
constexpr uint64_t kTargetWorkgroups = 256;
constexpr uint64_t kTargetCpuWorkgroups = 16;

// Shared memory of linear_attn.comp in bytes for m features and a tile.
uint64_t linear_shared_bytes(uint64_t m, uint64_t tile, uint64_t workgroup) {
  return 4 * (2 * m * tile + m + 2 * tile * tile + 2 * tile + workgroup + 1);
}

// The shader's phases (PHASE_* in linear_attn.comp), as Dispatch.chunk.
constexpr uint32_t kPhaseSum = 0, kPhasePrefix = 1, kPhaseWalk = 2, kPhaseRows = 3;

// Upper bounds of the loop iterations one invocation of linear_attn.comp
// runs, loop by loop as the shader has them (each iteration of an inner
// loop counts, as llvmpipe counts them): per step of `tile` keys, per row
// block, and per dispatch besides.
struct LoopCosts {
  uint64_t per_step = 0, per_row_block = 0, per_dispatch = 0;
};

LoopCosts linear_loop_costs(const Problem& p, uint64_t tile, uint64_t workgroup) {
  const uint64_t m = static_cast<uint64_t>(p.num_features), dqk = static_cast<uint64_t>(p.qk_dim);
  const bool favor = p.feature_map == VKATTN_FEATURE_MAP_FAVOR;
  auto spread = [&](uint64_t entries) { return ceil_div(entries, workgroup); };  // for (e = inv; e < entries; e += WG)
  uint64_t log_wg = 0;
  while ((uint64_t{1} << log_wg) < workgroup) ++log_wg;
  LoopCosts costs;
  // emit_rows (and its call): query features (FAVOR+: a dot product
  // each), the row maxima and exps, the chunk's dots, the denominators,
  // the outputs.
  costs.per_row_block = 1 + spread(tile * m) * (favor ? 1 + dqk : 1) + (favor ? m + spread(tile * m) : 0) +
                        spread(tile * tile) * (1 + m) + m + tile + spread(tile * tile) * (1 + m + tile);
  // A step: the key norms, V, the key features, the stabiliser (a
  // reduction, the rescaling, the exps), the update.
  costs.per_step = 1 + (favor ? dqk : 0) + spread(tile * tile) + spread(tile * m) * (favor ? 1 + dqk : 1) +
                   (favor ? log_wg + spread(m * tile) + spread(m) + spread(tile * m) : 0) +
                   spread(m * tile) * (1 + tile) + spread(m) * (1 + tile);
  // The state's initialisation or load, and its store.
  costs.per_dispatch = 2 * (spread(m * tile) + spread(m));
  return costs;
}

// The most steps one chunk may take under a loop budget (`available`
// iterations beyond the per-dispatch ones), its causal walk included:
// the rows a walk emits are those before the last key, at most
// group x min(q_len, kv_len) in all, and a step holds at most `tile`
// positions (group + 1 row blocks); either bound may be the tighter.
uint64_t steps_within(const Problem& p, const LoopCosts& costs, uint64_t tile, uint64_t available) {
  if (p.causal == VKATTN_CAUSAL_NONE) return available / costs.per_step;
  const uint64_t group = static_cast<uint64_t>(p.group());
  const uint64_t per_step_rows = available / (costs.per_step + (group + 1) * costs.per_row_block);
  const uint64_t all_blocks = ceil_div(group * static_cast<uint64_t>(std::min(p.q_len, p.kv_len)), tile);
  const uint64_t fixed = all_blocks * costs.per_row_block;
  const uint64_t all_rows = available > fixed ? (available - fixed) / (costs.per_step + costs.per_row_block) : 0;
  return std::max(per_step_rows, all_rows);
}

}  // namespace

Status linear_layout(const Problem& p, const DeviceCaps& caps, const Quirks& quirks, LinearLayout* out) {
  VKATTN_RETURN_IF_ERROR(check_shader_lengths(p));
  LinearLayout layout;
  const uint32_t workgroup = kLinearWorkgroup;
  if (caps.max_workgroup_invocations < workgroup || caps.max_workgroup_size_x < workgroup) {
    return unsupported("linear attention needs workgroups of %u invocations; %s allows %u", workgroup,
                       caps.name.c_str(), std::min(caps.max_workgroup_invocations, caps.max_workgroup_size_x));
  }
  const uint64_t m = static_cast<uint64_t>(p.num_features);
  for (uint32_t tile : {16u, 8u, 4u}) {
    if (linear_shared_bytes(m, tile, workgroup) <= caps.shared_memory_bytes) {
      layout.tile = tile;
      break;
    }
  }
  if (layout.tile == 0) {
    return unsupported("linear attention with %llu features (vkattn_attention_desc.%s) needs %llu bytes of shared "
                       "memory; %s has %u",
                       (unsigned long long)m,
                       p.feature_map == VKATTN_FEATURE_MAP_FAVOR ? "linear.num_features" : "qk_dim",
                       (unsigned long long)linear_shared_bytes(m, 4, workgroup), caps.name.c_str(),
                       caps.shared_memory_bytes);
  }
  const uint32_t tile = layout.tile;
  // Keys are walked in steps of `tile`, grouped into chunks whose sums run
  // in parallel (then a prefix pass joins them). Chunks: enough for about
  // kTargetWorkgroups workgroups, but on drivers that stop an invocation's
  // loops after max_loop_iterations no longer than stays within three
  // quarters of the cap (a margin over the count); row blocks per row
  // dispatch likewise.
  const uint64_t tiles = static_cast<uint64_t>(ceil_div(p.v_dim, int64_t{tile}));
  const uint64_t units = static_cast<uint64_t>(p.batch * p.kv_heads) * tiles;
  const uint64_t key_steps = static_cast<uint64_t>(std::max<int64_t>(1, ceil_div(p.kv_len, int64_t{tile})));
  const uint64_t row_blocks = static_cast<uint64_t>(ceil_div(p.group() * p.q_len, int64_t{tile}));
  uint64_t max_steps = key_steps, blocks_per_dispatch = row_blocks, budget = 0;
  const LoopCosts costs = linear_loop_costs(p, tile, workgroup);
  if (quirks.max_loop_iterations != 0) {
    budget = uint64_t{quirks.max_loop_iterations} * 3 / 4;
    const uint64_t available = budget > costs.per_dispatch + 1 ? budget - costs.per_dispatch - 1 : 0;
    max_steps = steps_within(p, costs, tile, available);
    blocks_per_dispatch = available / (1 + costs.per_row_block);
    if (max_steps == 0 || blocks_per_dispatch == 0) {
      return unsupported("linear attention with %lld features, qk_dim %lld and %lld query heads per kv head loops more "
                         "than %s allows one invocation (%u iterations)",
                         (long long)p.num_features, (long long)p.qk_dim, (long long)p.group(), caps.name.c_str(),
                         quirks.max_loop_iterations);
    }
  }
  // (CPU-type devices run a few workgroups at once; more chunks only add walks.)
  const uint64_t target = caps.type == VKATTN_DEVICE_TYPE_CPU ? kTargetCpuWorkgroups : kTargetWorkgroups;
  uint64_t chunks = std::min(key_steps, std::max<uint64_t>(1, ceil_div(target, units)));
  chunks = std::max(chunks, ceil_div(key_steps, max_steps));
  // Fewer chunks where their records would not fit one binding or the
  // workgroup grid (the records of the whole problem bound any slice's).
  const uint64_t record_bytes = units * (m * (tile + 1) + 1) * 4;
  const uint64_t most_chunks = std::min<uint64_t>(caps.max_storage_buffer_range / record_bytes,
                                                  caps.max_workgroup_count[0] / tiles);
  chunks = std::min(chunks, most_chunks);
  const uint64_t steps_per_chunk = chunks > 0 ? ceil_div(key_steps, chunks) : 0;
  if (chunks == 0 || steps_per_chunk > max_steps ||
      (budget != 0 && chunks * (1 + ceil_div(m * (tile + 1), uint64_t{workgroup})) + costs.per_dispatch > budget)) {
    return unsupported("linear attention over %lld keys needs more state records (%llu bytes each) than %s holds in one "
                       "binding (%llu bytes) or loops through",
                       (long long)p.kv_len, (unsigned long long)record_bytes, caps.name.c_str(),
                       (unsigned long long)caps.max_storage_buffer_range);
  }
  layout.chunk_keys = static_cast<uint32_t>(steps_per_chunk * tile);  // <= kv_len + tile < 2^31
  layout.chunks = static_cast<uint32_t>(ceil_div(key_steps, steps_per_chunk));
  layout.row_blocks_per_dispatch = static_cast<uint32_t>(std::max<uint64_t>(1, std::min(blocks_per_dispatch, row_blocks)));
  layout.row_dispatches = static_cast<uint32_t>(ceil_div(row_blocks, uint64_t{layout.row_blocks_per_dispatch}));

  uint32_t flags = 0;
  if (p.has_kv_lens) flags |= kFlagKvLens;
  if (p.has_q_lens) flags |= kFlagQLens;
  if (p.packed_queries()) flags |= kFlagQLens | kFlagPackedQ;
  PipelineSpec& spec = layout.pipeline;
  spec.role = "linear attention";
  spec.shader = p.dtype == VKATTN_DTYPE_F16 ? shaders::ShaderId::linear_attn_f16 : shaders::ShaderId::linear_attn_f32;
  spec.constants.assign(kSpecCount, 0u);
  spec.constants[kSpecWorkgroup] = workgroup;
  spec.constants[kSpecLinearTile] = tile;
  spec.constants[kSpecLinearFeatures] = static_cast<uint32_t>(m);
  spec.constants[kSpecQkDim] = static_cast<uint32_t>(p.qk_dim);
  spec.constants[kSpecVDim] = static_cast<uint32_t>(p.v_dim);
  spec.constants[kSpecLinearFeatureMap] = static_cast<uint32_t>(p.feature_map);
  spec.constants[kSpecFlags] = flags;
  set_kv_constants(p, &spec.constants);
  *out = layout;
  return Status();
}

namespace {

class LinearStages final : public PlanStages {
 public:
  LinearStages(VulkanDevice& device, const Problem& problem) : device_(device), p_(problem) {}

  Status initialize();
  // PlanDispatches
  uint32_t slice_count() const override { return static_cast<uint32_t>(slices_.size()); }
  const Window& window(uint32_t slice, uint32_t binding) const override { return slices_[slice].windows[binding]; }
  VkDescriptorBufferInfo own_binding(uint32_t slice, uint32_t binding) const override;
  void record_dispatches(VkCommandBuffer cmd, const VkDescriptorSet* sets) const override;
  // PlanStages
  PlanInfo info() const override;

 private:
  uint32_t column_tiles() const { return static_cast<uint32_t>(ceil_div(p_.v_dim, static_cast<int64_t>(layout_.tile))); }
  uint64_t record_floats() const { return static_cast<uint64_t>(p_.num_features) * (layout_.tile + 1) + 1; }

  VulkanDevice& device_;
  Problem p_;
  LinearLayout layout_;
  std::vector<Slice> slices_;
  VkPipeline pipeline_ = VK_NULL_HANDLE;
  std::unique_ptr<VulkanBuffer> params_;
  std::unique_ptr<VulkanBuffer> features_;  // FAVOR+: W [m, qk_dim]
  std::unique_ptr<VulkanBuffer> states_;    // the state records of a slice (the largest)
  uint64_t params_stride_ = 0;
};

Status LinearStages::initialize() {
  const DeviceCaps& caps = device_.caps();
  VKATTN_RETURN_IF_ERROR(linear_layout(p_, caps, device_.quirks(), &layout_));
  const SliceLimits limits{caps.max_storage_buffer_range, caps.storage_offset_alignment, caps.max_workgroup_count[1],
                           caps.max_workgroup_count[2]};
  VKATTN_RETURN_IF_ERROR(plan_slices(p_, limits, 1, 0, &slices_));
  VKATTN_RETURN_IF_ERROR(device_.pipeline(layout_.pipeline, &pipeline_));

  params_stride_ = ceil_div(uint64_t{sizeof(ShaderParams)}, caps.uniform_offset_alignment) * caps.uniform_offset_alignment;
  VKATTN_RETURN_IF_ERROR(device_.create_vulkan_buffer(params_stride_ * slices_.size(), true, &params_));
  uint64_t largest_slice = 0;  // (batch, kv head) pairs
  for (size_t s = 0; s < slices_.size(); ++s) {
    const Slice& slice = slices_[s];
    ShaderParams params = slice_params(p_, slice);
    params.split[0] = layout_.row_blocks_per_dispatch;
    params.split[2] = static_cast<uint32_t>(slice.kv_head_end - slice.kv_head_begin);
    std::memcpy(params_->mapped() + s * params_stride_, &params, sizeof(params));
    largest_slice = std::max<uint64_t>(
        largest_slice, static_cast<uint64_t>((slice.batch_end - slice.batch_begin) * (slice.kv_head_end - slice.kv_head_begin)));
  }
  VKATTN_RETURN_IF_ERROR(params_->flush(0, params_stride_ * slices_.size()));
  // The state records: per (batch, kv head), chunk and column tile; within
  // one binding by linear_layout.
  const uint64_t state_bytes = largest_slice * layout_.chunks * column_tiles() * record_floats() * 4;
  VKATTN_RETURN_IF_ERROR(device_.create_vulkan_buffer(state_bytes, false, &states_));
  if (!p_.features.empty()) {
    // m, qk_dim <= 4096: at most 64 MiB.
    const uint64_t bytes = p_.features.size() * sizeof(float);
    if (bytes > caps.max_storage_buffer_range) {
      return unsupported("FAVOR+ features W (%llu bytes) exceed maxStorageBufferRange (%llu bytes) on %s",
                         (unsigned long long)bytes, (unsigned long long)caps.max_storage_buffer_range, caps.name.c_str());
    }
    VKATTN_RETURN_IF_ERROR(device_.create_vulkan_buffer(bytes, true, &features_));
    std::memcpy(features_->mapped(), p_.features.data(), bytes);
    VKATTN_RETURN_IF_ERROR(features_->flush(0, bytes));
  }
  return Status();
}

VkDescriptorBufferInfo LinearStages::own_binding(uint32_t slice, uint32_t binding) const {
  if (binding == kBindingParams) return params_->descriptor(slice * params_stride_, sizeof(ShaderParams));
  if (binding == kBindingHeadConstants && features_ != nullptr) return features_->descriptor(0, VK_WHOLE_SIZE);
  if (binding == kBindingPartials) return states_->descriptor(0, VK_WHOLE_SIZE);
  return VkDescriptorBufferInfo{};
}

void LinearStages::record_dispatches(VkCommandBuffer cmd, const VkDescriptorSet* sets) const {
  const DeviceFunctions& fn = device_.fn();
  fn.vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_);
  // Per slice: the key dispatches, then the row dispatches, each reading
  // the state records the one before wrote (and the next slice reuses
  // them). Kv heads and batches of a slice fit maxComputeWorkGroupCount
  // (plan_slices).
  bool first = true;
  for (size_t s = 0; s < slices_.size(); ++s) {
    const Slice& slice = slices_[s];
    fn.vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, device_.pipeline_layout(), 0, 1, &sets[s], 0,
                               nullptr);
    const uint32_t heads = static_cast<uint32_t>(slice.kv_head_end - slice.kv_head_begin);
    const uint32_t batches = static_cast<uint32_t>(slice.batch_end - slice.batch_begin);
    // The shader's phases: chunk sums, their prefixes, the causal walk,
    // the row blocks (PHASE_* in linear_attn.comp).
    auto dispatch = [&](uint32_t phase, uint32_t groups_x, uint32_t block_base) {
      if (!first) {
        device_.record_barrier_between_dispatches(cmd);
      }
      first = false;
      const DispatchConstants constants{block_base, phase, layout_.chunk_keys, layout_.chunks, 0, 0};
      fn.vkCmdPushConstants(cmd, device_.pipeline_layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(constants),
                            &constants);
      fn.vkCmdDispatch(cmd, groups_x, heads, batches);
    };
    dispatch(kPhaseSum, column_tiles() * layout_.chunks, 0);
    if (layout_.chunks > 1) dispatch(kPhasePrefix, column_tiles(), 0);
    if (p_.causal != VKATTN_CAUSAL_NONE) dispatch(kPhaseWalk, column_tiles() * layout_.chunks, 0);
    for (uint32_t d = 0; d < layout_.row_dispatches; ++d) {
      dispatch(kPhaseRows, column_tiles(), d * layout_.row_blocks_per_dispatch);
    }
  }
}

PlanInfo LinearStages::info() const {
  PlanInfo info;
  info.kernel = "vulkan." + linear_variant_name(p_.feature_map, p_.dtype);
  info.block_q = layout_.tile;
  info.block_kv = layout_.tile;
  info.tasks = static_cast<uint32_t>(
      std::min<uint64_t>(UINT32_MAX, static_cast<uint64_t>(p_.batch * p_.kv_heads) * column_tiles()));
  info.dispatches = static_cast<uint32_t>(slices_.size()) *
                    (1 + (layout_.chunks > 1 ? 1 : 0) + (p_.causal != VKATTN_CAUSAL_NONE ? 1 : 0) + layout_.row_dispatches);
  info.workspace_bytes = params_->size() + states_->size() + (features_ ? features_->size() : 0);
  return info;
}

}  // namespace

Status create_linear_plan(VulkanDevice& device, const Problem& problem, std::unique_ptr<DevicePlan>* out) {
  std::unique_ptr<LinearStages> stages(new LinearStages(device, problem));
  VKATTN_RETURN_IF_ERROR(stages->initialize());
  return make_attention_plan(device, problem, std::move(stages), out);
}

}  // namespace vk
}  // namespace vkattn
