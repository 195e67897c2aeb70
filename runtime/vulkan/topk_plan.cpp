// A Vulkan top-k plan (VKATTN_MODE_TOPK): shaders/topk_attn.comp's two
// pipelines. Rows are taken in row batches (row blocks x kv heads x
// batches of a slice) whose candidate lists share one scratch buffer
// (Partials binding) of at most kTopkScratchBytes: for each batch, the
// selection dispatches walk the keys chunk by chunk (each list carried
// from one to the next in the scratch), then one attention dispatch reads
// each row's list and writes O and the LSE. The shared parameter block
// per slice, the head constants and the per-execution words are the
// softmax kernel's. On drivers that cap one invocation's loop iterations
// (llvmpipe) chunks stay under the cap, its worst case counted loop by
// loop (topk_loop_costs): a list cut as often as keys can overflow it.
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

constexpr uint32_t kTopkGpuWorkgroup = 64;
constexpr uint32_t kTopkGpuTile = 1, kTopkCpuTile = 8;  // keys per invocation per selection round
constexpr uint32_t kTopkMaxRows = 4;           // rows a selecting workgroup takes (the shader's flags are a uvec4)
constexpr int64_t kTopkMaxHeadDim = 256;       // q rows in shared memory, K rows read per invocation
constexpr uint64_t kTopkSpareEntries = 512;    // list room beyond k: a cut frees at least this much
constexpr uint64_t kTopkScratchBytes = uint64_t{64} << 20;  // the lists of one row batch, at most

// Upper bounds of the loop iterations one invocation of topk_attn.comp
// runs, loop by loop as the shader has them (llvmpipe counts every
// iteration of every loop it does not unroll): per key tile and per cut
// of a list while selecting, per selecting dispatch besides, and per
// attention dispatch.
struct TopkLoopCosts {
  uint64_t per_tile = 0, per_cut = 0, select_fixed = 0, attend = 0;
};

TopkLoopCosts topk_loop_costs(const Problem& p, uint32_t workgroup, uint32_t log_workgroup, uint32_t tile,
                              uint32_t rows, uint32_t capacity) {
  const uint64_t wg = workgroup, scan = log_workgroup, k = static_cast<uint64_t>(p.topk);
  auto spread = [&](uint64_t n) { return ceil_div(n, wg); };  // for (i = lane; i < n; i += WG)
  TopkLoopCosts costs;
  // cut_list over at most `capacity` entries: up to 8 passes (clearing the
  // bins, the histogram, the invocation's own bins and its walk through
  // them, exclusive_sum), then the compaction's rounds with their sums.
  costs.per_cut = 8 * (1 + spread(256) + spread(capacity) + 2 * (256 / wg) + scan) + spread(capacity) * (1 + scan);
  // A tile (a round of workgroup x tile keys): its loop, the last round of
  // the cut check, exclusive_sum; with block sparsity the query blocks of
  // the rows' positions (blocks of at least 16) times the key blocks of the
  // tile.
  costs.per_tile = 2 + scan;
  if (p.block_sparse()) costs.per_tile += (rows / 16 + 2) * (1 + (wg * tile / 16 + 2));
  costs.select_fixed = spread(uint64_t{rows} * static_cast<uint64_t>(p.qk_dim)) + 16;
  // Attention: the cut to k, the maximum and the sum with their
  // reductions, every kept entry for O.
  costs.attend = costs.per_cut + 2 * (spread(k) + scan) + k + 16;
  return costs;
}

uint32_t log2_of(uint32_t power_of_two) {
  uint32_t log = 0;
  while ((1u << log) < power_of_two) ++log;
  return log;
}

}  // namespace

Status topk_layout(const Problem& p, const DeviceCaps& caps, const Quirks& quirks, const KernelOverride& forced,
                   TopkLayout* out) {
  VKATTN_RETURN_IF_ERROR(check_shader_lengths(p));
  if (p.qk_dim > kTopkMaxHeadDim || p.v_dim > kTopkMaxHeadDim) {
    return unsupported("top-k attention on Vulkan handles head dimensions up to %lld (vkattn_attention_desc.%s is %lld)",
                       (long long)kTopkMaxHeadDim, p.qk_dim > kTopkMaxHeadDim ? "qk_dim" : "v_dim",
                       (long long)std::max(p.qk_dim, p.v_dim));
  }
  TopkLayout layout;
  // The workgroup: on CPU-type devices one subgroup (its barriers cost
  // least), on GPUs 64 invocations; a power of two from 4 to 256 (the
  // radix select's 256 digit bins are split evenly among invocations).
  uint32_t wanted = quirks.invocations_are_simd_lanes ? caps.subgroup_size : kTopkGpuWorkgroup;
  wanted = std::min({wanted, caps.max_workgroup_invocations, caps.max_workgroup_size_x, 256u});
  uint32_t workgroup = 4;
  while (workgroup * 2 <= wanted) workgroup *= 2;
  if (workgroup > wanted) {
    return unsupported("top-k attention needs workgroups of 4 invocations; %s allows %u", caps.name.c_str(), wanted);
  }
  layout.workgroup = workgroup;
  const uint32_t log_workgroup = log2_of(workgroup);
  // Keys per invocation per selection round: several on CPU-type devices
  // (each round's prefix sum costs barriers, coroutine switches there),
  // one on GPUs (with two keys RADV's compiler keeps both K rows' loads in
  // flight and spills: 256 VGPRs on navi21, against 64 with one). A round
  // takes at most kTopkSpareEntries keys, so that a cut list (k entries)
  // always has room for the next round. VKATTN_VULKAN_KERNEL keys=N forces
  // the count (keys=1 runs a GPU's selection on a CPU-type device).
  if (forced.topk_keys != 0) {
    const uint32_t keys = forced.topk_keys;
    if ((keys & (keys - 1)) != 0 || uint64_t{workgroup} * keys > kTopkSpareEntries) {
      return unsupported("VKATTN_VULKAN_KERNEL keys=%u: top-k takes a power of two keys per invocation, at most %llu "
                         "per round of %u invocations on %s",
                         keys, (unsigned long long)kTopkSpareEntries, workgroup, caps.name.c_str());
    }
    layout.tile = keys;
  } else {
    layout.tile = quirks.invocations_are_simd_lanes ? kTopkCpuTile : kTopkGpuTile;
    while (layout.tile > 1 && uint64_t{workgroup} * layout.tile > kTopkSpareEntries) layout.tile /= 2;
  }
  const uint64_t round_keys = uint64_t{workgroup} * layout.tile;
  const uint64_t row_count = static_cast<uint64_t>(p.group() * p.q_len);
  // Lists hold k entries and room for kTopkSpareEntries more (a cut every
  // so many appended keys at most), or every key a row can see and a
  // round's worth (never cut while selecting).
  const uint64_t k = static_cast<uint64_t>(p.topk), kv_len = static_cast<uint64_t>(p.kv_len);
  const uint64_t capacity = std::min(k + std::max(k, kTopkSpareEntries), kv_len + round_keys);
  layout.capacity = static_cast<uint32_t>(capacity);  // <= 2 * 4096 + 512
  const bool cuts_while_selecting = capacity < kv_len + round_keys;

  // Rows per selecting workgroup and key tiles per selecting dispatch: up
  // to kTopkMaxRows rows and every tile; on llvmpipe as many tiles as its
  // loop cap allows with every list cut as often as it can overflow (a cut
  // every `gap` tiles, each putting the count back to k), a quarter of the
  // cap to spare, with fewer rows where even three tiles would not fit;
  // on GPUs no more tiles than one dispatch is expected to finish within
  // the watchdog budget.
  const uint64_t tiles_all = ceil_div(kv_len, round_keys) + 2;
  uint64_t max_tiles = tiles_all;
  layout.rows = static_cast<uint32_t>(std::min<uint64_t>(kTopkMaxRows, row_count));
  if (quirks.max_loop_iterations != 0) {
    const uint64_t budget = uint64_t{quirks.max_loop_iterations} * 3 / 4;
    for (;; layout.rows /= 2) {
      const TopkLoopCosts costs = topk_loop_costs(p, workgroup, log_workgroup, layout.tile, layout.rows, layout.capacity);
      if (costs.attend > budget) {
        return unsupported("top-k attention with k = %lld loops more than %s allows one invocation (%u iterations)",
                           (long long)p.topk, caps.name.c_str(), quirks.max_loop_iterations);
      }
      const uint64_t cut = costs.per_cut + 1;  // with its round of the cut check
      const uint64_t gap = cuts_while_selecting ? (capacity - round_keys - k) / round_keys + 1 : 0;
      auto loops = [&](uint64_t tiles) {
        const uint64_t cuts = gap == 0 ? 0 : layout.rows * (1 + tiles / gap);
        return costs.select_fixed + tiles * costs.per_tile + cuts * cut;
      };
      max_tiles = 0;
      for (uint64_t step = uint64_t{1} << 40; step != 0; step >>= 1) {  // the most tiles within the budget
        if (loops(max_tiles + step) <= budget) max_tiles += step;
      }
      max_tiles = std::min(max_tiles, tiles_all);
      if (max_tiles >= 3 || layout.rows == 1) break;
    }
  }
  if (caps.type != VKATTN_DEVICE_TYPE_CPU) {
    const double flops_per_tile = 2.0 * layout.rows * static_cast<double>(round_keys) * static_cast<double>(p.qk_dim);
    const double tiles = kDispatchBudgetSeconds * kWorkgroupFlopsPerSecond / flops_per_tile;
    max_tiles = std::min<uint64_t>(max_tiles, static_cast<uint64_t>(std::max(3.0, std::min(tiles, 1e12))));
  }
  const uint64_t shared_bytes = uint64_t{layout.rows} * static_cast<uint64_t>(p.qk_dim) * 4 + uint64_t{workgroup} * 20 +
                                256 * 4 + 8;
  if (shared_bytes > quirks.shared_memory_budget) {
    return unsupported("top-k attention with qk_dim %lld needs %llu bytes of shared memory; %s offers %u",
                       (long long)p.qk_dim, (unsigned long long)shared_bytes, caps.name.c_str(),
                       quirks.shared_memory_budget);
  }
  // A chunk's keys make at most two partial tiles beyond its whole ones
  // (the global keys' segment and the windows').
  if (max_tiles < tiles_all) {
    if (max_tiles < 3) {
      return unsupported("top-k attention with k = %lld and %u query rows per workgroup loops more than %s allows one "
                         "invocation (%u iterations)",
                         (long long)p.topk, layout.rows, caps.name.c_str(), quirks.max_loop_iterations);
    }
    layout.chunk_keys = static_cast<uint32_t>((max_tiles - 2) * round_keys);  // < kv_len < 2^30
    layout.chunks = static_cast<uint32_t>(ceil_div(kv_len, uint64_t{layout.chunk_keys}));
  }

  const SliceLimits limits{caps.max_storage_buffer_range, caps.storage_offset_alignment, caps.max_workgroup_count[1],
                           caps.max_workgroup_count[2]};
  VKATTN_RETURN_IF_ERROR(plan_slices(p, limits, 1, 0, &layout.slices));
  // Row batches: as many selecting workgroups as the scratch budget holds
  // lists for, row blocks first (the attention dispatch takes rows x
  // blocks workgroups along x), then kv heads, then batches.
  const uint64_t slot_bytes = (4 + 2 * capacity) * 4;
  const uint64_t budget_bytes = std::min<uint64_t>(kTopkScratchBytes, caps.max_storage_buffer_range);
  const uint64_t workgroups_fit = budget_bytes / (slot_bytes * layout.rows);  // >= 1: a slot is under 68 KiB
  uint64_t heads = 1, batches = 1;
  for (const Slice& slice : layout.slices) {
    heads = std::max<uint64_t>(heads, static_cast<uint64_t>(slice.kv_head_end - slice.kv_head_begin));
    batches = std::max<uint64_t>(batches, static_cast<uint64_t>(slice.batch_end - slice.batch_begin));
  }
  const uint64_t blocks = ceil_div(row_count, uint64_t{layout.rows});
  const uint64_t nx = std::max<uint64_t>(
      1, std::min({blocks, workgroups_fit, uint64_t{caps.max_workgroup_count[0]} / layout.rows}));
  const uint64_t ny = std::max<uint64_t>(1, std::min(heads, workgroups_fit / nx));
  const uint64_t nz = std::max<uint64_t>(1, std::min(batches, workgroups_fit / (nx * ny)));
  layout.batch_blocks = static_cast<uint32_t>(nx);
  layout.batch_heads = static_cast<uint32_t>(ny);
  layout.batch_batches = static_cast<uint32_t>(nz);
  layout.scratch_bytes = nx * ny * nz * layout.rows * slot_bytes;

  std::vector<uint32_t> constants(kSpecTopkTile + 1, 0u);
  constants[kSpecTopkTile] = layout.tile;
  constants[kSpecWorkgroup] = workgroup;
  constants[kSpecRows] = layout.rows;
  constants[kSpecTopkK] = static_cast<uint32_t>(k);
  constants[kSpecQkDim] = static_cast<uint32_t>(p.qk_dim);
  constants[kSpecVDim] = static_cast<uint32_t>(p.v_dim);
  constants[kSpecTopkCapacity] = layout.capacity;
  constants[kSpecTopkLogWorkgroup] = log_workgroup;
  constants[kSpecFlags] = problem_flags(p) | alignment_flags(p, layout.slices);
  set_kv_constants(p, &constants);
  const shaders::ShaderId shader =
      p.dtype == VKATTN_DTYPE_F16 ? shaders::ShaderId::topk_attn_f16 : shaders::ShaderId::topk_attn_f32;
  layout.select.role = "top-k selection";
  layout.select.shader = shader;
  layout.select.constants = constants;
  layout.attend = layout.select;
  layout.attend.role = "top-k attention";
  layout.attend.constants[kSpecFlags] |= kFlagTopkAttend;
  *out = std::move(layout);
  return Status();
}

namespace {

class TopkStages final : public PlanStages {
 public:
  TopkStages(VulkanDevice& device, const Problem& problem) : device_(device), p_(problem) {}

  Status initialize();
  // PlanDispatches
  uint32_t slice_count() const override { return static_cast<uint32_t>(layout_.slices.size()); }
  const Window& window(uint32_t slice, uint32_t binding) const override { return layout_.slices[slice].windows[binding]; }
  VkDescriptorBufferInfo own_binding(uint32_t slice, uint32_t binding) const override;
  void record_dispatches(VkCommandBuffer cmd, const VkDescriptorSet* sets) const override;
  // PlanStages
  PlanInfo info() const override;

 private:
  uint64_t row_blocks() const { return ceil_div(static_cast<uint64_t>(p_.group() * p_.q_len), uint64_t{layout_.rows}); }

  VulkanDevice& device_;
  Problem p_;
  TopkLayout layout_;
  VkPipeline select_ = VK_NULL_HANDLE, attend_ = VK_NULL_HANDLE;
  std::unique_ptr<VulkanBuffer> params_;
  std::unique_ptr<VulkanBuffer> head_constants_;  // ALiBi slopes, sinks, RoPE turns, block mask (when used)
  std::unique_ptr<VulkanBuffer> lists_;           // the candidate lists of one row batch
  uint64_t params_stride_ = 0;
};

Status TopkStages::initialize() {
  const DeviceCaps& caps = device_.caps();
  VKATTN_RETURN_IF_ERROR(topk_layout(p_, caps, device_.quirks(), device_.forced(), &layout_));
  VKATTN_RETURN_IF_ERROR(device_.pipeline(layout_.select, &select_));
  VKATTN_RETURN_IF_ERROR(device_.pipeline(layout_.attend, &attend_));
  uint32_t block_words[2] = {};
  VKATTN_RETURN_IF_ERROR(create_head_constants(device_, p_, &head_constants_, block_words));
  params_stride_ = ceil_div(uint64_t{sizeof(ShaderParams)}, caps.uniform_offset_alignment) * caps.uniform_offset_alignment;
  VKATTN_RETURN_IF_ERROR(device_.create_vulkan_buffer(params_stride_ * layout_.slices.size(), true, &params_));
  for (size_t s = 0; s < layout_.slices.size(); ++s) {
    ShaderParams params = slice_params(p_, layout_.slices[s]);
    set_block_params(p_, block_words, &params);
    std::memcpy(params_->mapped() + s * params_stride_, &params, sizeof(params));
  }
  VKATTN_RETURN_IF_ERROR(params_->flush(0, params_stride_ * layout_.slices.size()));
  return device_.create_vulkan_buffer(layout_.scratch_bytes, false, &lists_);
}

VkDescriptorBufferInfo TopkStages::own_binding(uint32_t slice, uint32_t binding) const {
  if (binding == kBindingParams) return params_->descriptor(slice * params_stride_, sizeof(ShaderParams));
  if (binding == kBindingHeadConstants && head_constants_ != nullptr) return head_constants_->descriptor(0, VK_WHOLE_SIZE);
  if (binding == kBindingPartials) return lists_->descriptor(0, layout_.scratch_bytes);
  return VkDescriptorBufferInfo{};
}

void TopkStages::record_dispatches(VkCommandBuffer cmd, const VkDescriptorSet* sets) const {
  const DeviceFunctions& fn = device_.fn();
  const uint64_t blocks = row_blocks();
  bool first = true;
  auto dispatch = [&](VkPipeline pipeline, const DispatchConstants& constants, uint32_t x, uint32_t y, uint32_t z) {
    if (!first) device_.record_barrier_between_dispatches(cmd);  // the lists the previous dispatch wrote
    first = false;
    fn.vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
    fn.vkCmdPushConstants(cmd, device_.pipeline_layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(constants),
                          &constants);
    fn.vkCmdDispatch(cmd, x, y, z);
  };
  for (size_t s = 0; s < layout_.slices.size(); ++s) {
    const Slice& slice = layout_.slices[s];
    fn.vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, device_.pipeline_layout(), 0, 1, &sets[s], 0,
                               nullptr);
    const uint32_t heads = static_cast<uint32_t>(slice.kv_head_end - slice.kv_head_begin);
    const uint32_t batches = static_cast<uint32_t>(slice.batch_end - slice.batch_begin);
    // Row batch by row batch: the selection over every key chunk, then
    // the attention; the next batch reuses the lists.
    for (uint32_t z0 = 0; z0 < batches; z0 += layout_.batch_batches) {
      const uint32_t nz = std::min(layout_.batch_batches, batches - z0);
      for (uint32_t y0 = 0; y0 < heads; y0 += layout_.batch_heads) {
        const uint32_t ny = std::min(layout_.batch_heads, heads - y0);
        for (uint64_t x0 = 0; x0 < blocks; x0 += layout_.batch_blocks) {
          const uint32_t nx = static_cast<uint32_t>(std::min<uint64_t>(layout_.batch_blocks, blocks - x0));
          for (uint32_t chunk = 0; chunk < layout_.chunks; ++chunk) {
            const DispatchConstants constants{static_cast<uint32_t>(x0), chunk, layout_.chunk_keys, layout_.chunks,
                                              y0, z0};
            dispatch(select_, constants, nx, ny, nz);
          }
          const DispatchConstants constants{static_cast<uint32_t>(x0), 0, 0, 1, y0, z0};
          dispatch(attend_, constants, nx * layout_.rows, ny, nz);
        }
      }
    }
  }
}

PlanInfo TopkStages::info() const {
  PlanInfo info;
  info.kernel = std::string("vulkan.") + topk_variant_name(p_.dtype);
  info.block_q = layout_.rows;
  info.block_kv = layout_.workgroup * layout_.tile;
  info.tasks = static_cast<uint32_t>(
      std::min<uint64_t>(UINT32_MAX, row_blocks() * static_cast<uint64_t>(p_.batch * p_.kv_heads)));
  uint64_t dispatches = 0;
  for (const Slice& slice : layout_.slices) {
    const uint64_t row_batches = ceil_div(row_blocks(), uint64_t{layout_.batch_blocks}) *
                                 ceil_div(static_cast<uint64_t>(slice.kv_head_end - slice.kv_head_begin),
                                          uint64_t{layout_.batch_heads}) *
                                 ceil_div(static_cast<uint64_t>(slice.batch_end - slice.batch_begin),
                                          uint64_t{layout_.batch_batches});
    dispatches += row_batches * (layout_.chunks + 1);
  }
  info.dispatches = static_cast<uint32_t>(std::min<uint64_t>(UINT32_MAX, dispatches));
  info.workspace_bytes = params_->size() + lists_->size() + (head_constants_ ? head_constants_->size() : 0);
  return info;
}

}  // namespace

Status create_topk_plan(VulkanDevice& device, const Problem& problem, std::unique_ptr<DevicePlan>* out) {
  std::unique_ptr<TopkStages> stages(new TopkStages(device, problem));
  VKATTN_RETURN_IF_ERROR(stages->initialize());
  return make_attention_plan(device, problem, std::move(stages), out);
}

}  // namespace vk
}  // namespace vkattn
