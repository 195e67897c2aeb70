// Kernel configuration: the kernel variant, its thread mapping, tiles and
// split-KV, from the problem, the device's limits and any forced choice. A
// pure function, unit-tested with fake devices; the shaders' shared-memory
// declarations mirror shared_memory_bytes().
#include <algorithm>
#include <cstring>
#include <string>

#include "device_caps.h"
#include "runtime/checked_math.h"
#include "runtime/quant.h"

namespace vkattn {
namespace vk {

namespace {

uint32_t next_pow2(uint64_t value) {
  uint32_t p = 1;
  while (p < value && p < (1u << 30)) p <<= 1;
  return p;
}

uint32_t floor_pow2(uint64_t value) {
  uint32_t p = 1;
  while (uint64_t{p} * 2 <= value && p < (1u << 30)) p <<= 1;
  return p;
}

// Head-dimension chunks (4 elements) one thread of the tiled kernel should
// hold per row: 16 floats of Q and 16 of O keep four rows in about 128
// registers with the tile's scores and K/V chunks in flight. Larger head
// dimensions take more threads per key, up to kMaxChunksPerThread chunks
// each (and teams of up to kMaxSharedTeam threads reducing through shared
// memory where subgroups are too narrow).
constexpr uint32_t kChunksPerThread = 4;
constexpr uint32_t kMaxChunksPerThread = 16;
constexpr uint32_t kMaxSharedTeam = 64;
// Query rows per thread at most, and the registers their Q and O may take.
constexpr uint32_t kMaxRowsPerThread = 4;
constexpr uint32_t kRowRegisterFloats = 128;
// Keys per thread per tile: the tile's K loads in flight, and how often
// each row's O is rescaled.
constexpr uint32_t kColsPerThread = 4;
// Workgroups of the tiled kernel: up to this many threads (several
// subgroups share the row block's K/V tiles).
constexpr uint32_t kTargetWorkgroup = 256;
// Split-KV: never fewer keys per split than this (a split's fixed cost, the
// record it writes and the merge, must stay small against its keys).
constexpr uint64_t kMinKeysPerSplit = 512;

bool choose(KernelOverride::Choice forced, bool automatic) {
  return forced == KernelOverride::Choice::automatic ? automatic : forced == KernelOverride::Choice::yes;
}

// Workgroups a device runs at once, roughly: what split-KV aims to fill.
uint32_t parallelism_target(const DeviceCaps& device) {
  if (device.type == VKATTN_DEVICE_TYPE_CPU) return 16;
  if (device.compute_units > 0) return std::min<uint32_t>(4096, 4 * device.compute_units);
  return device.type == VKATTN_DEVICE_TYPE_DISCRETE_GPU ? 256 : 64;
}

// Whether the tiled kernel can reduce within teams with subgroup shuffles:
// shuffles exist, nothing says they are unreliable, and whole subgroups of
// a known size are guaranteed (required size with full subgroups, or a
// fixed size).
bool subgroups_usable(const DeviceCaps& device, const Quirks& quirks) {
  const bool sized = device.subgroup_size_control && device.required_subgroup_size && device.compute_full_subgroups;
  const bool fixed = device.min_subgroup_size == device.max_subgroup_size;
  return device.subgroup_shuffle && !quirks.avoid_subgroup_ops && (sized || fixed) && device.min_subgroup_size >= 1;
}

// The subgroup size the tiled kernel runs with: 16 to 64 lanes where the
// device lets it choose (Intel 16, AMD RDNA 32, Adreno 64), else the fixed
// size.
uint32_t subgroup_size_for(const DeviceCaps& device) {
  if (device.min_subgroup_size == device.max_subgroup_size) return device.max_subgroup_size;
  uint32_t size = std::max<uint32_t>(16, device.min_subgroup_size);
  return std::min<uint32_t>(floor_pow2(size), device.max_subgroup_size);
}

// A forced rows=N / cols=N must be a power of two within the device's limit.
Status check_forced_size(const char* word, uint32_t value, uint32_t limit, const DeviceCaps& device) {
  if (value == 0 || (value <= limit && (value & (value - 1)) == 0)) return Status();
  return unsupported("VKATTN_VULKAN_KERNEL %s=%u: the tiled kernel takes a power of two up to %u on %s", word, value,
                     limit, device.name.c_str());
}

Status choose_tiled_config(const Problem& p, const DeviceCaps& device, const Quirks& quirks,
                           const KernelOverride& forced, int64_t rows, KernelConfig* out) {
  KernelConfig& c = *out;
  c.kernel = KernelConfig::Kernel::tiled;
  const uint32_t max_workgroup = std::min(device.max_workgroup_invocations, device.max_workgroup_size_x);

  // A team shares a subgroup: its width divides the subgroup size, which
  // must leave each thread at most kMaxChunksPerThread chunks of a row.
  // Without subgroups, teams reduce through shared memory.
  const uint64_t dqk4 = static_cast<uint64_t>((p.qk_dim + 3) / 4);
  const uint64_t dv4 = static_cast<uint64_t>((p.v_dim + 3) / 4);
  const uint64_t d4 = std::max(dqk4, dv4);
  const uint32_t subgroup_team = std::min(subgroup_size_for(device), floor_pow2(max_workgroup));
  const bool subgroups_ok = subgroups_usable(device, quirks);
  const bool subgroups_fit = ceil_div(d4, uint64_t{subgroup_team}) <= kMaxChunksPerThread;
  if (forced.subgroups == KernelOverride::Choice::yes && !(subgroups_ok && subgroups_fit)) {
    if (!subgroups_ok) {
      return unsupported("%s cannot run the subgroup variant (needs subgroup shuffles and whole subgroups of a "
                         "known size)",
                         device.name.c_str());
    }
    return unsupported("head dimension %lld needs more registers than the subgroup variant gives a thread on %s "
                       "(%u-lane subgroups)",
                       (long long)std::max(p.qk_dim, p.v_dim), device.name.c_str(), subgroup_team);
  }
  c.subgroups = choose(forced.subgroups, subgroups_ok && subgroups_fit);
  uint32_t team_limit = 16;
  if (c.subgroups) {
    team_limit = subgroup_team;
    c.subgroup_size = device.min_subgroup_size == device.max_subgroup_size ? 0 : subgroup_team;
  } else {
    while (ceil_div(d4, uint64_t{team_limit}) > kMaxChunksPerThread && team_limit < kMaxSharedTeam) team_limit *= 2;
  }
  team_limit = std::min(team_limit, floor_pow2(max_workgroup));
  c.d_split = 1;
  while (ceil_div(std::max(dqk4, dv4), uint64_t{c.d_split}) > kChunksPerThread && c.d_split * 2 <= team_limit) c.d_split *= 2;
  c.col_threads = std::max<uint32_t>(1, team_limit / c.d_split);
  const uint32_t team = c.d_split * c.col_threads;
  const uint64_t row_floats = 4 * (ceil_div(dqk4, uint64_t{c.d_split}) + ceil_div(dv4, uint64_t{c.d_split}));
  const uint32_t max_rows = std::min<uint32_t>(kMaxRowsPerThread, std::max<uint32_t>(1, quirks.max_rows_per_thread));
  const uint32_t max_cols = std::min<uint32_t>(kColsPerThread, floor_pow2(std::max<uint32_t>(1, quirks.max_cols_per_thread)));
  VKATTN_RETURN_IF_ERROR(check_forced_size("rows", forced.rows_per_thread, max_rows, device));
  VKATTN_RETURN_IF_ERROR(check_forced_size("cols", forced.cols_per_thread, max_cols, device));
  if (forced.rows_per_thread != 0) {
    c.rows_per_thread = forced.rows_per_thread;
  } else {
    c.rows_per_thread = std::min<uint32_t>(max_rows, floor_pow2(std::max<uint64_t>(1, kRowRegisterFloats / row_floats)));
    c.rows_per_thread = std::min<uint32_t>(c.rows_per_thread, next_pow2(static_cast<uint64_t>(rows)));
  }
  // Fewer keys per thread when a row's chunks are many (K chunks in flight).
  const uint64_t chunks = ceil_div(d4, uint64_t{c.d_split});
  if (forced.cols_per_thread != 0) {
    c.cols_per_thread = forced.cols_per_thread;
  } else {
    c.cols_per_thread = chunks <= kChunksPerThread ? kColsPerThread : chunks <= 2 * kChunksPerThread ? 2 : 1;
    // q8_0 / q4_0 K arrives as f32 chunks (twice the registers of f16
    // words): half the keys in flight (measured: 4 keys spilled on navi21).
    if (is_block_dtype(p.k_dtype) || is_block_dtype(p.v_dtype)) c.cols_per_thread = std::max<uint32_t>(1, c.cols_per_thread / 2);
    c.cols_per_thread = std::min<uint32_t>(c.cols_per_thread, max_cols);
  }
  uint32_t teams = std::max<uint32_t>(1, std::min<uint32_t>(kTargetWorkgroup, max_workgroup) / team);
  teams = std::min<uint32_t>(teams, next_pow2(ceil_div(static_cast<uint64_t>(rows), c.rows_per_thread)));
  c.workgroup_size = teams * team;
  c.block_q = teams * c.rows_per_thread;

  // fp16 arithmetic applies to f16 storage only (f32 storage keeps f32
  // arithmetic, forced or not). q8_0 / q4_0 K or V are dequantized as they
  // are loaded, in f32, straight from global memory: neither fp16
  // arithmetic nor staging applies to them, forced or not (their values
  // are not f16 values, and the stage holds K/V as stored). Nor does fp16
  // arithmetic apply with RoPE: the turned Q is no longer an f16 value, and
  // rounding it back to f16 costs the LSE its f32 accuracy.
  const bool float_kv = !is_block_dtype(p.k_dtype) && !is_block_dtype(p.v_dtype);
  const bool f16 = p.dtype == VKATTN_DTYPE_F16 && float_kv && !p.rope.enabled();
  if (f16 && forced.fp16_math == KernelOverride::Choice::yes && !device.float16_arithmetic) {
    return unsupported("the fp16-arithmetic variant needs shaderFloat16, which %s does not support",
                       device.name.c_str());
  }
  c.fp16_math = f16 && choose(forced.fp16_math, device.float16_arithmetic);
  const bool staged_useful = teams > 1 && !quirks.shared_memory_is_global;
  c.staged = float_kv && choose(forced.staged, staged_useful);

  // Shrink what the shared memory cannot hold: keys per thread, then the
  // staging, then (without subgroups) the team.
  const uint32_t budget = quirks.shared_memory_budget;
  for (;;) {
    c.block_kv = c.col_threads * c.cols_per_thread;
    c.shared_bytes = shared_memory_bytes(c, static_cast<uint32_t>(p.qk_dim), static_cast<uint32_t>(p.v_dim), p.dtype);
    if (c.shared_bytes <= budget) break;
    if (c.cols_per_thread > 1) {
      c.cols_per_thread /= 2;
    } else if (c.staged && forced.staged != KernelOverride::Choice::yes) {
      c.staged = false;
      c.cols_per_thread = forced.cols_per_thread != 0 ? forced.cols_per_thread
                          : chunks <= kChunksPerThread ? max_cols : 1;
    } else if (c.workgroup_size > team) {
      c.workgroup_size /= 2;
      c.block_q /= 2;
    } else {
      return unsupported(
          "qk_dim %lld / v_dim %lld need %u bytes of shared memory even with the smallest tiles; %s allows %u "
          "(maxComputeSharedMemorySize %u)",
          (long long)p.qk_dim, (long long)p.v_dim, c.shared_bytes, device.name.c_str(), budget,
          device.shared_memory_bytes);
    }
  }
  return Status();
}

// Whether shaders/flash_attn_lanes.comp can run: a CPU-type device, head
// dimensions its registers hold, and one fixed-size subgroup with
// arithmetic per workgroup (its lanes' states merge with subgroup
// operations). `why` says what is missing.
bool lanes_kernel_fits(const Problem& p, const DeviceCaps& device, const Quirks& quirks, const char** why) {
  if (!quirks.invocations_are_simd_lanes) {
    *why = "it runs only on CPU-type devices (a GPU compiler spills its registers)";
  } else if (quirks.avoid_subgroup_ops || !device.subgroup_arithmetic) {
    *why = "it needs subgroup arithmetic";
  } else if (device.min_subgroup_size != device.max_subgroup_size || device.subgroup_size != device.max_subgroup_size ||
             device.subgroup_size > device.max_workgroup_invocations ||
             device.subgroup_size > device.max_workgroup_size_x) {
    *why = "it needs one fixed-size subgroup per workgroup";
  } else if (p.qk_dim > kLanesMaxHeadDim || p.v_dim > kLanesMaxHeadDim) {
    *why = "its registers hold head dimensions up to 256";
  } else {
    return true;
  }
  return false;
}

// Tiling of shaders/flash_attn_lanes.comp: one subgroup per workgroup, a few
// query rows whose q and o stay in registers, the lanes splitting the keys.
void choose_lanes_config(const Problem& p, const DeviceCaps& device, int64_t rows, KernelConfig* out) {
  KernelConfig& c = *out;
  c.kernel = KernelConfig::Kernel::lanes;
  c.workgroup_size = device.subgroup_size;
  // Rows per workgroup: each K and V element a lane loads serves that many
  // multiply-adds, but every row's q and o are registers the unrolled code
  // carries (and compile time grows with them): at most
  // kLanesRegisterFloats of them, and no more rows than the problem has.
  const uint64_t floats_per_row = static_cast<uint64_t>(p.qk_dim + p.v_dim);
  c.lane_rows = 1;
  while (c.lane_rows < 4 && floats_per_row * c.lane_rows * 2 <= kLanesRegisterFloats && c.lane_rows < rows) {
    c.lane_rows *= 2;
  }
  c.block_q = c.lane_rows;
  // Two keys per lane per softmax step measured fastest (docs/PERFORMANCE.md).
  c.block_kv = 2 * c.workgroup_size;
  c.shared_bytes = 0;
}

const char* choice_word(bool value, const char* yes, const char* no) { return value ? yes : no; }

// "rows=4" with prefix "rows=": true and *out = 4 (1 to 64).
bool parse_size(const std::string& word, const char* prefix, uint32_t* out) {
  const size_t length = std::strlen(prefix);
  if (word.compare(0, length, prefix) != 0 || word.size() == length || word.size() > length + 2) return false;
  uint32_t value = 0;
  for (size_t i = length; i < word.size(); ++i) {
    if (word[i] < '0' || word[i] > '9') return false;
    value = value * 10 + static_cast<uint32_t>(word[i] - '0');
  }
  if (value < 1 || value > 64) return false;
  *out = value;
  return true;
}

}  // namespace

double dispatch_flops_per_second(const DeviceCaps& device) {
  if (device.type == VKATTN_DEVICE_TYPE_CPU) return 0.0;
  if (device.compute_units > 0) return 4.0 * kWorkgroupFlopsPerSecond * device.compute_units;
  return device.type == VKATTN_DEVICE_TYPE_DISCRETE_GPU ? 1e12 : 1e11;
}

uint32_t shared_memory_bytes(const KernelConfig& c, uint32_t qk_dim, uint32_t v_dim, vkattn_dtype dtype) {
  if (c.kernel == KernelConfig::Kernel::lanes) return 0;
  // Mirrors shaders/flash_attn.comp: the K and V stages (chunks of 4
  // elements, f16 as two words; a row one chunk longer than the head
  // dimension), and without subgroups the score and merge scratch.
  const uint64_t chunk_bytes = dtype == VKATTN_DTYPE_F16 ? 8 : 16;
  const uint64_t dqk4 = (qk_dim + 3) / 4, dv4 = (v_dim + 3) / 4;
  uint64_t bytes = 0;
  bytes += (c.staged ? uint64_t{c.block_kv} * (dqk4 + 1) : 1) * chunk_bytes;
  bytes += (c.staged ? uint64_t{c.block_kv} * (dv4 + 1) : 1) * chunk_bytes;
  if (!c.subgroups) {
    bytes += (c.d_split > 1 ? uint64_t{c.workgroup_size} * c.rows_per_thread * c.cols_per_thread : 1) * 4;
    bytes += uint64_t{c.workgroup_size} * 16;
  }
  return bytes > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(bytes);
}

uint64_t loop_iterations_per_dispatch(const KernelConfig& /*c*/, uint32_t /*qk_dim*/, uint32_t /*v_dim*/) {
  // Both kernels unroll every loop but their key-tile loops (two in
  // flash_attn.comp: interior and checked tiles): a margin for the driver.
  return 16;
}

uint64_t loop_iterations_per_tile(const KernelConfig& c, bool block_sparse) {
  // One iteration of a key-tile loop per tile; block-sparse tiles first
  // walk the query blocks of the workgroup's positions (at most block_q of
  // them, in blocks of at least 16: block_q / 16 + 2 blocks) and for each
  // the key blocks of the tile (block_kv / 16 + 2 at most).
  if (!block_sparse) return 1;
  const uint64_t query_blocks = c.block_q / 16 + 2, key_blocks = c.block_kv / 16 + 2;
  return 1 + query_blocks * (1 + key_blocks);
}

Status parse_kernel_override(const char* text, KernelOverride* out) {
  KernelOverride result;
  if (text != nullptr) {
    const std::string all = text;
    size_t start = 0;
    while (start <= all.size()) {
      const size_t comma = all.find(',', start);
      const std::string word = all.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      using Choice = KernelOverride::Choice;
      if (word.empty() || word == "auto") {
      } else if (word == "tiled") {
        result.kernel = KernelOverride::Kernel::tiled;
      } else if (word == "lanes") {
        result.kernel = KernelOverride::Kernel::lanes;
      } else if (word == "subgroup" || word == "shared") {
        result.subgroups = word == "subgroup" ? Choice::yes : Choice::no;
      } else if (word == "fp16" || word == "fp32") {
        result.fp16_math = word == "fp16" ? Choice::yes : Choice::no;
      } else if (word == "staged" || word == "direct") {
        result.staged = word == "staged" ? Choice::yes : Choice::no;
      } else if (word == "split" || word == "whole") {
        result.split = word == "split" ? Choice::yes : Choice::no;
      } else if (parse_size(word, "rows=", &result.rows_per_thread) || parse_size(word, "cols=", &result.cols_per_thread) ||
                 parse_size(word, "splits=", &result.kv_splits) || parse_size(word, "keys=", &result.topk_keys)) {
      } else {
        return invalid_argument(
            "VKATTN_VULKAN_KERNEL='%s': '%s' is not one of auto, tiled, lanes, subgroup, shared, fp16, fp32, staged, "
            "direct, split, whole, rows=N, cols=N, splits=N, keys=N (N from 1 to 64)",
            text, word.c_str());
      }
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  *out = result;
  return Status();
}

std::string format_kernel_override(const KernelOverride& f) {
  using Choice = KernelOverride::Choice;
  std::string text;
  auto add = [&text](const std::string& word) { text += (text.empty() ? "" : ",") + word; };
  if (f.kernel != KernelOverride::Kernel::automatic) add(f.kernel == KernelOverride::Kernel::tiled ? "tiled" : "lanes");
  if (f.subgroups != Choice::automatic) add(f.subgroups == Choice::yes ? "subgroup" : "shared");
  if (f.fp16_math != Choice::automatic) add(f.fp16_math == Choice::yes ? "fp16" : "fp32");
  if (f.staged != Choice::automatic) add(f.staged == Choice::yes ? "staged" : "direct");
  if (f.split != Choice::automatic) add(f.split == Choice::yes ? "split" : "whole");
  if (f.rows_per_thread != 0) add("rows=" + std::to_string(f.rows_per_thread));
  if (f.cols_per_thread != 0) add("cols=" + std::to_string(f.cols_per_thread));
  if (f.kv_splits != 0) add("splits=" + std::to_string(f.kv_splits));
  if (f.topk_keys != 0) add("keys=" + std::to_string(f.topk_keys));
  return text.empty() ? "auto" : text;
}

std::string variant_name(const KernelConfig& c, vkattn_dtype dtype) {
  std::string name = c.kernel == KernelConfig::Kernel::lanes ? "lanes" : "tiled";
  name += dtype == VKATTN_DTYPE_F16 ? ".f16" : ".f32";
  if (c.kernel == KernelConfig::Kernel::tiled) {
    name += choice_word(c.subgroups, ".subgroup", ".shared");
    if (dtype == VKATTN_DTYPE_F16) name += choice_word(c.fp16_math, ".fp16", ".fp32");
    name += choice_word(c.staged, ".staged", ".direct");
  }
  name += choice_word(c.kv_splits > 1, ".split", ".whole");
  return name;
}

std::string linear_variant_name(vkattn_feature_map map, vkattn_dtype dtype) {
  return std::string("linear.") + (map == VKATTN_FEATURE_MAP_FAVOR ? "favor" : "elu") +
         (dtype == VKATTN_DTYPE_F16 ? ".f16" : ".f32");
}

std::string topk_variant_name(vkattn_dtype dtype) { return dtype == VKATTN_DTYPE_F16 ? "topk.f16" : "topk.f32"; }

std::vector<std::string> all_variant_names() {
  std::vector<std::string> names;
  for (vkattn_dtype dtype : {VKATTN_DTYPE_F32, VKATTN_DTYPE_F16}) names.push_back(topk_variant_name(dtype));
  for (vkattn_dtype dtype : {VKATTN_DTYPE_F32, VKATTN_DTYPE_F16}) {
    for (vkattn_feature_map map : {VKATTN_FEATURE_MAP_ELU, VKATTN_FEATURE_MAP_FAVOR}) {
      names.push_back(linear_variant_name(map, dtype));
    }
    names.push_back(dtype == VKATTN_DTYPE_F16 ? "linformer.f16" : "linformer.f32");
    for (bool split : {false, true}) {
      KernelConfig c;
      c.kv_splits = split ? 2 : 1;
      c.kernel = KernelConfig::Kernel::lanes;
      names.push_back(variant_name(c, dtype));
      c.kernel = KernelConfig::Kernel::tiled;
      for (bool subgroups : {false, true}) {
        for (bool fp16 : {false, true}) {
          if (fp16 && dtype != VKATTN_DTYPE_F16) continue;
          for (bool staged : {false, true}) {
            c.subgroups = subgroups;
            c.fp16_math = fp16;
            c.staged = staged;
            names.push_back(variant_name(c, dtype));
          }
        }
      }
    }
  }
  return names;
}

Status check_shader_lengths(const Problem& p) {
  // Index arithmetic in the shader is 32-bit; keep every sequence quantity
  // (including windows, q_len + kv_len) below 2^30.
  constexpr int64_t kMaxShaderLength = int64_t{1} << 30;
  const int64_t rows = p.group() * p.q_len;  // query rows of one kv head
  if (rows >= kMaxShaderLength || p.kv_len >= kMaxShaderLength || p.q_len + p.kv_len >= kMaxShaderLength ||
      p.batch * p.kv_heads >= kMaxShaderLength || p.q_heads >= kMaxShaderLength) {
    return unsupported("the Vulkan kernels index with 32-bit integers: sequence lengths (q_len %lld, kv_len %lld, "
                       "group x q_len %lld) must stay below 2^30",
                       (long long)p.q_len, (long long)p.kv_len, (long long)rows);
  }
  return Status();
}

Status choose_kernel_config(const Problem& p, const DeviceCaps& device, const Quirks& quirks,
                            const KernelOverride& forced, KernelConfig* out) {
  VKATTN_RETURN_IF_ERROR(check_shader_lengths(p));
  const int64_t rows = p.group() * p.q_len;  // query rows of one kv head

  KernelConfig c;
  const char* why_not_lanes = "";
  const bool lanes_fit = lanes_kernel_fits(p, device, quirks, &why_not_lanes);
  if (forced.kernel == KernelOverride::Kernel::lanes && !lanes_fit) {
    return unsupported("VKATTN_VULKAN_KERNEL asks for the lanes kernel, but on %s %s", device.name.c_str(), why_not_lanes);
  }
  if (forced.kernel == KernelOverride::Kernel::lanes ||
      (forced.kernel == KernelOverride::Kernel::automatic && lanes_fit)) {
    choose_lanes_config(p, device, rows, &c);
  } else {
    VKATTN_RETURN_IF_ERROR(choose_tiled_config(p, device, quirks, forced, rows, &c));
  }

  // Split-KV when too few workgroups would run (decode): each split walks a
  // slice of the keys, a reduce pass merges the partial (O, m, l). Never
  // fewer than kMinKeysPerSplit keys per split, unless forced (then at least
  // one tile each).
  const uint64_t workgroups = ceil_div(static_cast<uint64_t>(rows), static_cast<uint64_t>(c.block_q)) *
                              static_cast<uint64_t>(p.kv_heads) * static_cast<uint64_t>(p.batch);
  const uint64_t kv_len = static_cast<uint64_t>(p.kv_len);
  const uint32_t target = parallelism_target(device);
  c.kv_splits = 1;
  if (forced.kv_splits != 0) {
    const uint64_t possible = std::max<uint64_t>(1, kv_len / c.block_kv);
    c.kv_splits = static_cast<uint32_t>(std::min<uint64_t>({forced.kv_splits, possible, 64}));
  } else if (forced.split == KernelOverride::Choice::yes) {
    const uint64_t possible = kv_len / c.block_kv;
    if (possible >= 2) c.kv_splits = static_cast<uint32_t>(std::min<uint64_t>({possible, 4, 64}));
  } else if (forced.split == KernelOverride::Choice::automatic && workgroups < target &&
             kv_len >= 2 * kMinKeysPerSplit) {
    const uint64_t wanted = ceil_div(static_cast<uint64_t>(target), workgroups);
    const uint64_t possible = kv_len / kMinKeysPerSplit;
    c.kv_splits = static_cast<uint32_t>(std::min<uint64_t>({wanted, possible, 64}));
  }
  // Devices that cut long loops short: bound the key tiles per dispatch
  // (with a quarter of the budget to spare); the plan then walks long key
  // ranges as several dispatches carrying (O, m, l) in between.
  if (quirks.max_loop_iterations != 0) {
    const uint64_t budget = quirks.max_loop_iterations / 4 * 3;
    const uint64_t fixed = loop_iterations_per_dispatch(c, static_cast<uint32_t>(p.qk_dim), static_cast<uint32_t>(p.v_dim));
    const uint64_t per_tile = loop_iterations_per_tile(c, p.block_sparse());
    c.max_tiles_per_dispatch = static_cast<uint32_t>(std::min<uint64_t>(UINT32_MAX, (budget - fixed) / per_tile));
  }
  // GPUs: one workgroup should walk no more keys per dispatch than it is
  // expected to finish within the watchdog budget (plan_layout makes key
  // chunks of longer ranges where their scratch stays small).
  if (device.type != VKATTN_DEVICE_TYPE_CPU) {
    const double flops_per_tile = 2.0 * c.block_q * c.block_kv * static_cast<double>(p.qk_dim + p.v_dim);
    const double tiles = kDispatchBudgetSeconds * kWorkgroupFlopsPerSecond / flops_per_tile;
    c.watchdog_tiles_per_dispatch = static_cast<uint32_t>(std::max(1.0, std::min(tiles, 1e9)));
  }
  *out = c;
  return Status();
}

}  // namespace vk
}  // namespace vkattn
