#include "plan_layout.h"

#include <algorithm>

#include "runtime/checked_math.h"
#include "runtime/quant.h"

namespace vkattn {
namespace vk {

namespace {

KvStorage kv_storage(vkattn_dtype dtype) {
  return dtype == VKATTN_DTYPE_Q8_0 ? kStorageQ8_0 : dtype == VKATTN_DTYPE_Q4_0 ? kStorageQ4_0 : kStorageAsQ;
}

// Whether every row of a view starts at a multiple of 4 elements, so that a
// row of `dims` elements can be read as vec4s.
bool rows_vec4_aligned(const RelativeView& view, int64_t dims) {
  return dims % 4 == 0 && view.offset % 4 == 0 && view.batch_stride % 4 == 0 && view.head_stride % 4 == 0 &&
         view.seq_stride % 4 == 0;
}

}  // namespace

void set_kv_constants(const Problem& p, std::vector<uint32_t>* constants) {
  (*constants)[kSpecKStorage] = kv_storage(p.k_dtype);
  (*constants)[kSpecVStorage] = kv_storage(p.v_dtype);
  (*constants)[kSpecPageSize] = static_cast<uint32_t>(p.page_size);
  (*constants)[kSpecBlockShifts] = static_cast<uint32_t>(p.block_q_shift | p.block_k_shift << 8);
}

uint32_t problem_flags(const Problem& p) {
  uint32_t flags = 0;
  if (p.has_additive_mask) flags |= kFlagAdditiveMask;
  if (p.has_bool_mask) flags |= kFlagBoolMask;
  if (p.has_kv_lens) flags |= kFlagKvLens;
  if (p.ragged()) flags |= kFlagQLens;
  if (p.packed_queries()) flags |= kFlagPackedQ;
  if (p.has_lse) flags |= kFlagLse;
  if (p.softcap > 0.0f) flags |= kFlagSoftcap;
  if (!p.alibi_slopes.empty()) flags |= kFlagAlibi;
  if (!p.sinks.empty()) flags |= kFlagSinks;
  if (p.rope.style == VKATTN_ROPE_NEOX) flags |= kFlagRopeNeox;
  if (p.rope.style == VKATTN_ROPE_GPTJ) flags |= kFlagRopeGptj;
  if (p.block_sparse()) {
    flags |= kFlagBlockMask;
    if (p.block_mask_batch > 1) flags |= kFlagBlockPerBatch;
    if (p.block_mask_heads > 1) flags |= kFlagBlockPerHead;
  }
  return flags;
}

uint32_t alignment_flags(const Problem& p, const std::vector<Slice>& slices) {
  bool kv_vec4 = true;
  bool out_vec4 = true;
  for (const Slice& slice : slices) {
    // (Block-typed views count bytes and are read by their own path.)
    kv_vec4 = kv_vec4 && (is_block_dtype(p.k_dtype) || rows_vec4_aligned(slice.k, p.qk_dim)) &&
              (is_block_dtype(p.v_dtype) || rows_vec4_aligned(slice.v, p.v_dim));
    out_vec4 = out_vec4 && rows_vec4_aligned(slice.out, p.v_dim);
  }
  return (kv_vec4 ? uint32_t{kFlagKvVec4} : 0u) | (out_vec4 ? uint32_t{kFlagOutVec4} : 0u);
}

Status plan_layout(const Problem& p, const DeviceCaps& caps, const Quirks& quirks, const KernelOverride& forced,
                   PlanLayout* out) {
  PlanLayout layout;
  KernelConfig& config = layout.config;
  VKATTN_RETURN_IF_ERROR(choose_kernel_config(p, caps, quirks, forced, &config));
  const SliceLimits limits{caps.max_storage_buffer_range, caps.storage_offset_alignment, caps.max_workgroup_count[1],
                           caps.max_workgroup_count[2]};
  // Key chunks: on devices that cap loop iterations, each dispatch walks at
  // most max_tiles_per_dispatch key tiles per workgroup; the rows' (O, m, l)
  // carry over in the scratch buffer, as split-KV partials do. Fewer splits
  // if the scratch would not fit one binding.
  // GPUs also chunk the keys where one workgroup would run longer than the
  // watchdog budget, unless that scratch would be large (then a row block's
  // keys stay one dispatch).
  bool watchdog = config.watchdog_tiles_per_dispatch != 0;
  for (;;) {
    const uint64_t keys_per_split = static_cast<uint64_t>(ceil_div(p.kv_len, static_cast<int64_t>(config.kv_splits)));
    layout.chunk_keys = 0;
    layout.chunk_count = 1;
    uint64_t max_tiles = config.max_tiles_per_dispatch;
    if (watchdog) {
      max_tiles = max_tiles == 0 ? config.watchdog_tiles_per_dispatch
                                 : std::min<uint64_t>(max_tiles, config.watchdog_tiles_per_dispatch);
    }
    if (max_tiles != 0) {
      const uint64_t chunk = max_tiles * config.block_kv;
      if (keys_per_split > chunk) {
        layout.chunk_keys = static_cast<uint32_t>(chunk);
        layout.chunk_count = static_cast<uint32_t>(ceil_div(keys_per_split, chunk));
      }
    }
    const bool scratch = config.kv_splits > 1 || layout.chunk_count > 1;
    const uint64_t bytes_per_row =
        scratch ? uint64_t{config.kv_splits} * state_record_floats(static_cast<uint64_t>(p.v_dim)) * 4 : 0;
    const Status sliced = plan_slices(p, limits, config.kv_splits, bytes_per_row, &layout.slices);
    if (!sliced.ok()) {
      if (config.kv_splits == 1) return sliced;
      config.kv_splits = std::max<uint32_t>(1, config.kv_splits / 2);
      continue;
    }
    layout.scratch_bytes = 0;
    for (const Slice& slice : layout.slices) {
      layout.scratch_bytes = std::max(layout.scratch_bytes, slice.windows[kBindingPartials].range);
    }
    const bool watchdog_chunks = watchdog && layout.chunk_count > 1 &&
                                 (config.max_tiles_per_dispatch == 0 ||
                                  config.watchdog_tiles_per_dispatch < config.max_tiles_per_dispatch);
    if (watchdog_chunks && layout.scratch_bytes > kWatchdogScratchBytes) {
      watchdog = false;
      continue;
    }
    break;
  }

  // Row blocks per dispatch: all (up to maxComputeWorkGroupCount[0]), fewer
  // on GPUs where the dispatch would otherwise be expected to run longer
  // than the watchdog budget (its workgroups each walk at most one key
  // chunk, see choose_kernel_config).
  {
    const uint64_t blocks = ceil_div(static_cast<uint64_t>(p.group() * p.q_len), uint64_t{config.block_q});
    uint64_t per_dispatch = std::min<uint64_t>(blocks, caps.max_workgroup_count[0]);
    const double rate = dispatch_flops_per_second(caps);
    layout.heads_per_dispatch = UINT32_MAX;
    if (rate > 0) {
      // Workgroups of one row block: kv heads x (batches x splits) of a slice.
      uint64_t heads = 1, depth = 1;
      for (const Slice& slice : layout.slices) {
        heads = std::max<uint64_t>(heads, static_cast<uint64_t>(slice.kv_head_end - slice.kv_head_begin));
        depth = std::max<uint64_t>(depth, static_cast<uint64_t>(slice.batch_end - slice.batch_begin) * config.kv_splits);
      }
      const uint64_t keys = std::min<uint64_t>(
          static_cast<uint64_t>(ceil_div(p.kv_len, static_cast<int64_t>(config.kv_splits))),
          layout.chunk_keys != 0 ? layout.chunk_keys : UINT64_MAX);
      const double per_workgroup = 2.0 * config.block_q * static_cast<double>(keys) *
                                   static_cast<double>(p.qk_dim + p.v_dim);
      const double budget = kDispatchBudgetSeconds * rate;
      const double blocks_fit = budget / (per_workgroup * static_cast<double>(heads * depth));
      per_dispatch = std::min<uint64_t>(per_dispatch, static_cast<uint64_t>(std::max(1.0, std::min(blocks_fit, 1e9))));
      if (blocks_fit < 1.0) {  // one row block of every head is already too much: fewer heads
        const double heads_fit = budget / (per_workgroup * static_cast<double>(depth));
        layout.heads_per_dispatch = static_cast<uint32_t>(std::max(1.0, std::min(heads_fit, 1e9)));
      }
    }
    layout.blocks_per_dispatch = static_cast<uint32_t>(std::max<uint64_t>(1, per_dispatch));
  }

  const bool f16 = p.dtype == VKATTN_DTYPE_F16;
  const bool lanes = config.kernel == KernelConfig::Kernel::lanes;
  uint32_t flags = problem_flags(p) | alignment_flags(p, layout.slices);
  if (config.kv_splits > 1) flags |= kFlagSplit;
  if (!lanes && config.staged) flags |= kFlagStaged;
  layout.flags = flags;

  using shaders::ShaderId;
  ShaderId attention_shader;
  if (lanes) {
    attention_shader = f16 ? ShaderId::flash_attn_lanes_f16 : ShaderId::flash_attn_lanes_f32;
  } else if (!f16) {
    attention_shader = config.subgroups ? ShaderId::flash_attn_f32_subgroup : ShaderId::flash_attn_f32;
  } else if (config.fp16_math) {
    attention_shader = config.subgroups ? ShaderId::flash_attn_f16_subgroup_fp16 : ShaderId::flash_attn_f16_fp16;
  } else {
    attention_shader = config.subgroups ? ShaderId::flash_attn_f16_subgroup : ShaderId::flash_attn_f16;
  }
  std::vector<uint32_t> constants(kSpecCount, 0);
  constants[kSpecWorkgroup] = config.workgroup_size;
  constants[kSpecRows] = lanes ? config.lane_rows : config.rows_per_thread;
  constants[kSpecCols] = lanes ? config.block_kv / config.workgroup_size : config.cols_per_thread;
  constants[kSpecQkDim] = static_cast<uint32_t>(p.qk_dim);
  constants[kSpecVDim] = static_cast<uint32_t>(p.v_dim);
  constants[kSpecDSplit] = lanes ? 0 : config.d_split;
  constants[kSpecColThreads] = lanes ? 0 : config.col_threads;
  set_kv_constants(p, &constants);
  // flash_attn.comp reads a chunk's role from the push constants; the lanes
  // kernel has it specialised (a run-time branch would put its loads under
  // a mask), one pipeline per role the plan uses.
  const char* role_names[3] = {"attention", "attention (middle chunks)", "attention (last chunk)"};
  for (const ChunkRole role : {kOnlyOrFirstChunk, kMiddleChunk, kLastChunk}) {
    const bool used = role == kOnlyOrFirstChunk || (role == kLastChunk && layout.chunk_count > 1) ||
                      (role == kMiddleChunk && layout.chunk_count > 2);
    if (!used) continue;
    if (!lanes && role != kOnlyOrFirstChunk) {
      layout.attention[role] = layout.attention[kOnlyOrFirstChunk];
      continue;
    }
    uint32_t role_flags = flags;
    if (lanes && role != kOnlyOrFirstChunk) role_flags |= kFlagStateIn;
    if (lanes && (config.kv_splits > 1 || (layout.chunk_count > 1 && role != kLastChunk))) role_flags |= kFlagStateOut;
    constants[kSpecFlags] = role_flags;
    PipelineSpec spec;
    spec.role = role_names[role];
    spec.shader = attention_shader;
    spec.constants = constants;
    // Teams of the tiled kernel share subgroups; the lanes kernel's
    // workgroup is one subgroup.
    spec.full_subgroups = lanes || config.subgroups;
    spec.subgroup_size = lanes ? 0 : config.subgroup_size;
    layout.attention[role] = static_cast<int>(layout.pipelines.size());
    layout.pipelines.push_back(spec);
  }
  if (config.kv_splits > 1) {
    PipelineSpec spec;
    spec.role = "reduce";
    spec.shader = f16 ? ShaderId::flash_attn_reduce_f16 : ShaderId::flash_attn_reduce_f32;
    spec.constants = std::vector<uint32_t>(kSpecCount, 0);
    spec.constants[kSpecWorkgroup] = 64;
    spec.constants[kSpecVDim] = static_cast<uint32_t>(p.v_dim);
    spec.constants[kSpecFlags] = flags;
    layout.reduce = static_cast<int>(layout.pipelines.size());
    layout.pipelines.push_back(spec);
  }
  *out = std::move(layout);
  return Status();
}

}  // namespace vk
}  // namespace vkattn
