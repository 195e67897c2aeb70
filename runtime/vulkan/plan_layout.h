// What a Vulkan plan consists of, before any Vulkan object exists: the
// kernel configuration, the slices, the key chunks, the shader flags and
// every pipeline (shader variant, specialization constants, subgroup
// requirements). A pure function of the problem and the device
// description, so the same layout drives plan creation (vulkan_plan.cpp)
// and the shader report, which compiles a plan's pipelines on devices that
// cannot execute anything (vkattn-bench --shader-stats).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "device_caps.h"
#include "slicing.h"
#include "vkattn_shaders.h"

namespace vkattn {
namespace vk {

// Bits of the FLAGS specialization constant (mirrors attention_common.glsl).
enum ShaderFlags : uint32_t {
  kFlagAdditiveMask = 1,
  kFlagBoolMask = 2,
  kFlagKvLens = 4,
  kFlagLse = 8,
  kFlagSplit = 16,
  kFlagStaged = 32,      // flash_attn.comp: K/V tiles through shared memory
  kFlagKvVec4 = 64,      // K and V rows start at multiples of 4 elements, head dims multiples of 4
  kFlagOutVec4 = 128,    // O rows start at multiples of 4 elements, v_dim a multiple of 4
  kFlagStateIn = 256,    // flash_attn_lanes.comp: resume from the previous key chunk's (O, m, l)
  kFlagStateOut = 512,   // flash_attn_lanes.comp: write (O, m, l) for the next chunk or the reduce pass
  kFlagSoftcap = 1024,   // logits soft-capped
  kFlagAlibi = 2048,     // ALiBi slopes in the head constants
  kFlagSinks = 4096,     // sink logits in the head constants
  kFlagRopeNeox = 8192,  // Q turned by RoPE, NeoX pairs (frequencies after the head constants)
  kFlagRopeGptj = 16384, // likewise, GPT-J pairs
  kFlagQLens = 32768,    // ragged batches: query lengths after the key lengths (binding 8)
  kFlagPackedQ = 65536,  // packed queries: each sequence's first packed row after the query lengths (binding 8)
  kFlagBlockMask = 131072,      // block-sparse: the block mask and its kv-head unions in the head constants
  kFlagBlockPerBatch = 262144,  // block-sparse: a mask per batch
  kFlagBlockPerHead = 524288,   // block-sparse: a mask per query head
  kFlagTopkAttend = 1048576,    // topk_attn.comp: the attention pipeline (else the selection)
};

// Specialization constant ids shared by the shaders (each uses some).
enum SpecConstant : uint32_t {
  kSpecWorkgroup = 0,
  kSpecRows = 1,        // tiled: rows per thread; lanes: rows per workgroup
  kSpecCols = 2,        // tiled: keys per thread per tile; lanes: keys per lane per tile
  kSpecQkDim = 3,
  kSpecVDim = 4,
  kSpecDSplit = 5,      // tiled
  kSpecColThreads = 6,  // tiled
  kSpecFlags = 7,
  kSpecKStorage = 8,    // KvStorage of K
  kSpecVStorage = 9,    // KvStorage of V
  kSpecPageSize = 10,   // paged K/V: keys per page (0: contiguous)
  kSpecBlockShifts = 11,  // block-sparse: log2(block_q) | log2(block_k) << 8
  kSpecCount = 12,
  // linear_attn.comp gives some ids its own meaning:
  kSpecLinearTile = kSpecRows,            // keys per chunk, rows per block, V columns per workgroup
  kSpecLinearFeatures = kSpecCols,        // m
  kSpecLinearFeatureMap = kSpecDSplit,    // vkattn_feature_map
  // and topk_attn.comp its own:
  kSpecTopkK = kSpecCols,                 // k
  kSpecTopkCapacity = kSpecDSplit,        // entries of a row's candidate list
  kSpecTopkLogWorkgroup = kSpecColThreads,  // log2 of the workgroup size
  kSpecTopkTile = kSpecCount,             // keys per invocation per selection round (its constants run one further)
};

// How K or V is stored (mirrors K_STORAGE / V_STORAGE in attention_common.glsl).
enum KvStorage : uint32_t {
  kStorageAsQ = 0,  // the storage type of Q and O
  kStorageQ8_0 = 1,
  kStorageQ4_0 = 2,
};

// Sets the specialization constants every shader reading K and V takes
// from the problem: their storage (KvStorage), the page size, and the
// block sizes of block-sparse attention.
void set_kv_constants(const Problem& problem, std::vector<uint32_t>* constants);

// The FLAGS bits the problem itself sets (masks, lengths, ragged and
// packed queries, LSE, softcap, ALiBi, sinks, RoPE, block sparsity), and
// those its slices' alignment allows (kFlagKvVec4, kFlagOutVec4).
uint32_t problem_flags(const Problem& problem);
uint32_t alignment_flags(const Problem& problem, const std::vector<Slice>& slices);

// One pipeline of a plan.
struct PipelineSpec {
  std::string role;                  // "attention", "attention (middle chunks)", "reduce", ...
  shaders::ShaderId shader = shaders::ShaderId::flash_attn_f32;
  std::vector<uint32_t> constants;   // specialization constant i has id i
  bool full_subgroups = false;       // the shader needs whole subgroups
  uint32_t subgroup_size = 0;        // the subgroup size it needs (0: the driver's choice)
};

// The three places a key chunk can have in a row's walk over its keys.
enum ChunkRole { kOnlyOrFirstChunk = 0, kMiddleChunk = 1, kLastChunk = 2 };

struct PlanLayout {
  KernelConfig config;
  std::vector<Slice> slices;
  uint32_t chunk_keys = 0;   // keys per dispatch when long key ranges are chunked (0 = one chunk)
  uint32_t chunk_count = 1;
  uint64_t scratch_bytes = 0;  // the (O, m, l) records of split-KV and key chunks, per slice
  uint32_t blocks_per_dispatch = 1;  // row blocks one attention dispatch covers (maxComputeWorkGroupCount[0], watchdog)
  uint32_t heads_per_dispatch = UINT32_MAX;  // kv heads of a slice one dispatch covers (watchdog)
  uint32_t flags = 0;
  std::vector<PipelineSpec> pipelines;
  int attention[3] = {-1, -1, -1};  // pipeline index per ChunkRole (-1: the role is not used)
  int reduce = -1;                  // pipeline index of the split-KV merge, -1 without splits
  bool linear = false;              // a linear-attention plan: `pipelines` holds its one pipeline (LinearLayout)
  bool topk = false;                // a top-k plan: `pipelines` holds its two (TopkLayout); config: workgroup and tiles
};

// A linear-attention plan's choices (linear_plan.cpp, shaders/
// linear_attn.comp), a pure function of the problem and the device like
// PlanLayout: the tile, how the keys are cut into chunks (summed in
// parallel, then prefixed) and the rows into dispatches, and the one
// pipeline.
struct LinearLayout {
  uint32_t tile = 0;          // keys per step, rows per block, V columns per workgroup
  uint32_t chunks = 1;        // key chunks of chunk_keys keys
  uint32_t chunk_keys = 0;
  uint32_t row_blocks_per_dispatch = 0;
  uint32_t row_dispatches = 1;
  PipelineSpec pipeline;
};
Status linear_layout(const Problem& problem, const DeviceCaps& device, const Quirks& quirks, LinearLayout* out);

// A Linformer plan's projection choices (linformer_plan.cpp, shaders/
// linformer_proj.comp), a pure function of the problem and the device:
// the pipeline, and how many dispatches walk the keys (each chunk_keys
// keys; chunk_keys 0: one walks all). Its softmax stage is plan_layout's
// for linformer_attend_problem.
struct LinformerLayout {
  uint32_t chunks = 1;
  uint32_t chunk_keys = 0;
  PipelineSpec pipeline;
};
Status linformer_layout(const Problem& problem, const DeviceCaps& device, const Quirks& quirks, LinformerLayout* out);

// A top-k plan's choices (topk_plan.cpp, shaders/topk_attn.comp), a pure
// function of the problem and the device: the workgroup, the query rows a
// selecting workgroup takes, the capacity of each row's candidate list,
// how many dispatches the selection walks the keys in (each chunk_keys
// keys; 0: one walks all), the row batch that shares the lists' scratch
// (row blocks x kv heads x batches, every slice walked in such batches),
// and the two pipelines (selection, attention).
struct TopkLayout {
  uint32_t workgroup = 0;
  uint32_t tile = 1;  // keys per invocation per selection round
  uint32_t rows = 1;
  uint32_t capacity = 0;
  uint32_t chunks = 1;
  uint32_t chunk_keys = 0;
  uint32_t batch_blocks = 1, batch_heads = 1, batch_batches = 1;
  uint64_t scratch_bytes = 0;  // the lists of one row batch
  std::vector<Slice> slices;
  PipelineSpec select, attend;
};
Status topk_layout(const Problem& problem, const DeviceCaps& device, const Quirks& quirks, const KernelOverride& forced,
                   TopkLayout* out);

// UNSUPPORTED (naming the limit) when the problem cannot fit the device.
Status plan_layout(const Problem& problem, const DeviceCaps& device, const Quirks& quirks,
                   const KernelOverride& forced, PlanLayout* out);

}  // namespace vk
}  // namespace vkattn
