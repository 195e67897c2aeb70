#include "tuning.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sstream>

#include "plan_layout.h"
#include "runtime/bindings.h"
#include "runtime/checked_math.h"
#include "runtime/half.h"
#include "runtime/quant.h"
#include "vulkan_device.h"

namespace vkattn {
namespace vk {

namespace {

constexpr char kPayloadMagic[] = "vkattn-tuning 1";
// A candidate replaces the best so far only when this much faster: below
// it, two configurations are equal within the timing noise.
constexpr double kWinMargin = 0.97;
// Timed runs per candidate: at least kMinRuns, more while they fit in
// kRunBudgetSeconds, at most kMaxRuns; the median is the candidate's time.
constexpr int kMinRuns = 3;
constexpr int kMaxRuns = 15;
constexpr double kRunBudgetSeconds = 0.25;
// A candidate whose first run is this many times slower than the best so
// far is not run again: it cannot win.
constexpr double kHopelessFactor = 3.0;
// Output elements read back per step when comparing a candidate.
constexpr uint64_t kCompareChunkBytes = uint64_t{8} << 20;

uint32_t next_pow2(int64_t value) {
  uint64_t p = 1;
  while (p < static_cast<uint64_t>(value) && p < (uint64_t{1} << 31)) p <<= 1;
  return static_cast<uint32_t>(p);
}

bool same_config(const KernelConfig& a, const KernelConfig& b) {
  return a.kernel == b.kernel && a.workgroup_size == b.workgroup_size && a.block_q == b.block_q &&
         a.block_kv == b.block_kv && a.rows_per_thread == b.rows_per_thread && a.cols_per_thread == b.cols_per_thread &&
         a.d_split == b.d_split && a.col_threads == b.col_threads && a.subgroups == b.subgroups &&
         a.subgroup_size == b.subgroup_size && a.fp16_math == b.fp16_math && a.staged == b.staged &&
         a.lane_rows == b.lane_rows && a.kv_splits == b.kv_splits;
}

// The alternatives to try for one choice, each a copy of `best` with that
// choice pinned (the configuration `best` gives is `config`).
std::vector<KernelOverride> alternatives(int choice, const KernelOverride& best, const KernelConfig& config,
                                         vkattn_dtype dtype) {
  using Choice = KernelOverride::Choice;
  std::vector<KernelOverride> out;
  auto with = [&](auto setter) {
    KernelOverride o = best;
    setter(o);
    out.push_back(o);
  };
  switch (choice) {
    case 0:
      for (auto k : {KernelOverride::Kernel::tiled, KernelOverride::Kernel::lanes}) with([k](KernelOverride& o) { o.kernel = k; });
      break;
    case 1:
      for (auto c : {Choice::yes, Choice::no}) with([c](KernelOverride& o) { o.subgroups = c; });
      break;
    case 2:
      for (auto c : {Choice::yes, Choice::no}) with([c](KernelOverride& o) { o.staged = c; });
      break;
    case 3:
      if (dtype == VKATTN_DTYPE_F16) {
        for (auto c : {Choice::yes, Choice::no}) with([c](KernelOverride& o) { o.fp16_math = c; });
      }
      break;
    case 4:
      for (uint32_t r : {1u, 2u, 4u}) with([r](KernelOverride& o) { o.rows_per_thread = r; });
      break;
    case 5:
      for (uint32_t c : {1u, 2u, 4u}) with([c](KernelOverride& o) { o.cols_per_thread = c; });
      break;
    case 6: {
      const uint32_t a = config.kv_splits;
      for (uint32_t s : {1u, a / 2, a * 2, a == 1 ? 4u : 0u}) {
        if (s >= 1 && s <= 64) with([s](KernelOverride& o) { o.kv_splits = s; });
      }
      break;
    }
    default:
      break;
  }
  return out;
}
constexpr int kChoiceCount = 7;

// After a choice's round, `best` pins what its configuration has for that
// choice, so that later rounds vary one choice at a time and the winner
// names every choice explicitly.
void pin(int choice, const KernelConfig& config, KernelOverride* best) {
  using Choice = KernelOverride::Choice;
  const bool tiled = config.kernel == KernelConfig::Kernel::tiled;
  switch (choice) {
    case 0: best->kernel = tiled ? KernelOverride::Kernel::tiled : KernelOverride::Kernel::lanes; break;
    case 1: if (tiled) best->subgroups = config.subgroups ? Choice::yes : Choice::no; break;
    case 2: if (tiled) best->staged = config.staged ? Choice::yes : Choice::no; break;
    case 3: if (tiled) best->fp16_math = config.fp16_math ? Choice::yes : Choice::no; break;
    case 4: if (tiled) best->rows_per_thread = config.rows_per_thread; break;
    case 5: if (tiled) best->cols_per_thread = config.cols_per_thread; break;
    case 6: best->kv_splits = config.kv_splits; break;
    default: break;
  }
}

// Deterministic inputs in [-1, 1): xorshift, one stream for the whole run.
struct Random {
  uint64_t state = 0x9e3779b97f4a7c15ull;
  float next() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<float>(static_cast<double>(state >> 11) * (2.0 / 9007199254740992.0) - 1.0);
  }
};

// Fills a device buffer of `bytes` with values from `element` in steps.
template <typename Element>
Status fill(DeviceBuffer& buffer, uint64_t bytes, Element element) {
  std::vector<uint8_t> chunk;
  for (uint64_t offset = 0; offset < bytes; offset += kCompareChunkBytes) {
    const uint64_t size = std::min(kCompareChunkBytes, bytes - offset);
    chunk.resize(static_cast<size_t>(size));
    element(chunk.data(), size);
    VKATTN_RETURN_IF_ERROR(buffer.write(offset, chunk.data(), size));
  }
  return Status();
}

// Whether two output elements agree: the same bits (elements no view
// touches, identical results), or finite and within `tolerance` scaled by
// the reference's magnitude.
bool agrees(float value, float reference, uint32_t value_bits, uint32_t reference_bits, double tolerance) {
  if (value_bits == reference_bits) return true;
  if (!std::isfinite(value) || !std::isfinite(reference)) return false;
  return std::fabs(static_cast<double>(value) - reference) <= tolerance * (1.0 + std::fabs(static_cast<double>(reference)));
}

// The largest disagreement of `buffer` with `reference` (host copy), as a
// message; "" when every element agrees.
Status compare(DeviceBuffer& buffer, const std::vector<uint8_t>& reference, bool f16, double tolerance,
               std::string* mismatch) {
  mismatch->clear();
  std::vector<uint8_t> chunk;
  const uint64_t element = f16 ? 2 : 4;
  for (uint64_t offset = 0; offset < reference.size(); offset += kCompareChunkBytes) {
    const uint64_t size = std::min<uint64_t>(kCompareChunkBytes, reference.size() - offset);
    chunk.resize(static_cast<size_t>(size));
    VKATTN_RETURN_IF_ERROR(buffer.read(offset, chunk.data(), size));
    for (uint64_t i = 0; i + element <= size; i += element) {
      uint32_t a = 0, b = 0;
      std::memcpy(&a, chunk.data() + i, element);
      std::memcpy(&b, reference.data() + offset + i, element);
      float x, y;
      if (f16) {
        x = half_to_float(static_cast<uint16_t>(a));
        y = half_to_float(static_cast<uint16_t>(b));
      } else {
        std::memcpy(&x, &a, 4);
        std::memcpy(&y, &b, 4);
      }
      if (!agrees(x, y, a, b, tolerance)) {
        char text[160];
        std::snprintf(text, sizeof(text), "output element %" PRIu64 " is %g where the untuned configuration gives %g",
                      (offset + i) / element, x, y);
        *mismatch = text;
        return Status();
      }
    }
  }
  return Status();
}

// The problem's tensors, filled once with synthetic data.
struct Tensors {
  std::unique_ptr<DeviceBuffer> q, k, v, out, lse, additive_mask, bool_mask;
  ExecArgs args;
};

Status make_tensors(VulkanDevice& device, const Problem& p, Tensors* t) {
  const TensorBytes bytes = tensor_bytes(p);
  Random random;
  const bool f16 = p.dtype == VKATTN_DTYPE_F16;
  auto values = [&random, f16](uint8_t* data, uint64_t size) {
    if (f16) {
      for (uint64_t i = 0; i + 2 <= size; i += 2) {
        const uint16_t h = float_to_half(random.next());
        std::memcpy(data + i, &h, 2);
      }
    } else {
      for (uint64_t i = 0; i + 4 <= size; i += 4) {
        const float f = random.next();
        std::memcpy(data + i, &f, 4);
      }
    }
  };
  auto make = [&device](uint64_t size, std::unique_ptr<DeviceBuffer>* out) {
    return device.create_buffer(std::max<uint64_t>(size, 4), 0, out);
  };
  VKATTN_RETURN_IF_ERROR(make(bytes.q, &t->q));
  VKATTN_RETURN_IF_ERROR(fill(*t->q, bytes.q, values));
  // q8_0 / q4_0 K or V: blocks quantized from the same kind of values (the
  // bytes between rows too, which nothing reads).
  // fill() hands out chunks that need not end on a block boundary, so the
  // block stream carries its partly written block from one chunk to the next.
  auto blocks_of = [&random](vkattn_dtype dtype) {
    return [&random, dtype, block = std::vector<uint8_t>(block_bytes(dtype)),
            used = block_bytes(dtype)](uint8_t* data, uint64_t size) mutable {
      for (uint64_t i = 0; i < size; ++i) {
        if (used == block.size()) {
          float x[kQuantBlock];
          for (float& value : x) value = random.next();
          if (dtype == VKATTN_DTYPE_Q8_0) {
            quantize_block_q8_0(x, block.data());
          } else {
            quantize_block_q4_0(x, block.data());
          }
          used = 0;
        }
        data[i] = block[used++];
      }
    };
  };
  VKATTN_RETURN_IF_ERROR(make(bytes.k, &t->k));
  if (is_block_dtype(p.k_dtype)) {
    VKATTN_RETURN_IF_ERROR(fill(*t->k, bytes.k, blocks_of(p.k_dtype)));
  } else {
    VKATTN_RETURN_IF_ERROR(fill(*t->k, bytes.k, values));
  }
  VKATTN_RETURN_IF_ERROR(make(bytes.v, &t->v));
  if (is_block_dtype(p.v_dtype)) {
    VKATTN_RETURN_IF_ERROR(fill(*t->v, bytes.v, blocks_of(p.v_dtype)));
  } else {
    VKATTN_RETURN_IF_ERROR(fill(*t->v, bytes.v, values));
  }
  VKATTN_RETURN_IF_ERROR(make(bytes.out, &t->out));
  t->args.q = t->q.get();
  t->args.k = t->k.get();
  t->args.v = t->v.get();
  t->args.out = t->out.get();
  if (p.has_lse) {
    VKATTN_RETURN_IF_ERROR(make(bytes.lse, &t->lse));
    t->args.lse = t->lse.get();
  }
  if (p.has_additive_mask) {  // additive terms in [-4, 0]
    VKATTN_RETURN_IF_ERROR(make(bytes.additive_mask, &t->additive_mask));
    VKATTN_RETURN_IF_ERROR(fill(*t->additive_mask, bytes.additive_mask, [&random](uint8_t* data, uint64_t size) {
      for (uint64_t i = 0; i + 4 <= size; i += 4) {
        const float f = 2.0f * (random.next() - 1.0f);
        std::memcpy(data + i, &f, 4);
      }
    }));
    t->args.additive_mask = t->additive_mask.get();
  }
  if (p.has_bool_mask) {  // about one key in 16 hidden
    VKATTN_RETURN_IF_ERROR(make(bytes.bool_mask, &t->bool_mask));
    VKATTN_RETURN_IF_ERROR(fill(*t->bool_mask, bytes.bool_mask, [&random](uint8_t* data, uint64_t size) {
      for (uint64_t i = 0; i < size; ++i) data[i] = random.next() > -0.875f ? 1 : 0;
    }));
    t->args.bool_mask = t->bool_mask.get();
  }
  if (p.has_kv_lens) t->args.kv_lens.assign(static_cast<size_t>(p.batch), static_cast<int32_t>(p.kv_len));
  if (p.has_q_lens) t->args.q_lens.assign(static_cast<size_t>(p.batch), static_cast<int32_t>(p.q_len));
  if (p.packed_queries()) {  // the packed rows shared out, one run per sequence, none overlapping
    const int64_t count = std::min(p.q_len, p.packed_q_rows / p.batch);
    t->args.q_lens.assign(static_cast<size_t>(p.batch), static_cast<int32_t>(count));
    for (int64_t b = 0; b < p.batch; ++b) t->args.q_starts.push_back(static_cast<int32_t>(b * count));
  }
  if (p.paged()) {  // every sequence's pages, spread over the pool
    t->args.block_table.resize(static_cast<size_t>(p.batch * p.max_pages));
    for (size_t i = 0; i < t->args.block_table.size(); ++i) {
      t->args.block_table[i] = static_cast<int32_t>(i % static_cast<size_t>(p.num_pages));
    }
  }
  return Status();
}

// Overwrites the outputs with NaN bits, so that an element a candidate
// fails to write cannot pass for the previous candidate's.
Status poison_outputs(const Problem& p, Tensors& t) {
  const TensorBytes bytes = tensor_bytes(p);
  auto nan_bytes = [](uint8_t* data, uint64_t size) { std::memset(data, 0xff, static_cast<size_t>(size)); };
  VKATTN_RETURN_IF_ERROR(fill(*t.out, bytes.out, nan_bytes));
  if (t.lse) VKATTN_RETURN_IF_ERROR(fill(*t.lse, bytes.lse, nan_bytes));
  return Status();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// Runs `plan` until its median is known (or it cannot win against
// `best_ms`); returns the median GPU time.
Status time_plan(DevicePlan& plan, const ExecArgs& args, double best_ms, double* median_ms) {
  VKATTN_RETURN_IF_ERROR(plan.execute(args));  // warm-up: descriptor sets, command buffer, caches
  double ms = 0.0;
  VKATTN_RETURN_IF_ERROR(plan.last_time(&ms));
  std::vector<double> times;
  double total = 0.0;
  while (static_cast<int>(times.size()) < kMaxRuns) {
    VKATTN_RETURN_IF_ERROR(plan.execute(args));
    VKATTN_RETURN_IF_ERROR(plan.last_time(&ms));
    times.push_back(ms);
    total += ms * 1e-3;
    if (best_ms > 0.0 && times.size() == 1 && ms > kHopelessFactor * best_ms) break;
    if (static_cast<int>(times.size()) >= kMinRuns && total >= kRunBudgetSeconds) break;
  }
  *median_ms = median(times);
  return Status();
}

}  // namespace

std::string tuning_class(const Problem& p, uint32_t layout_flags) {
  std::string key = p.dtype == VKATTN_DTYPE_F16 ? "f16" : "f32";
  if (p.k_dtype != p.dtype) key += std::string(".k-") + dtype_name(p.k_dtype);
  if (p.v_dtype != p.dtype) key += std::string(".v-") + dtype_name(p.v_dtype);
  key += ".d" + std::to_string(p.qk_dim) + "x" + std::to_string(p.v_dim);
  key += ".g" + std::to_string(p.group());
  key += ".q" + std::to_string(next_pow2(p.q_len));
  key += ".kv" + std::to_string(next_pow2(p.kv_len));
  key += ".bh" + std::to_string(next_pow2(p.batch * p.kv_heads));
  if (p.causal == VKATTN_CAUSAL_TOP_LEFT) key += ".causal-tl";
  if (p.causal == VKATTN_CAUSAL_BOTTOM_RIGHT) key += ".causal-br";
  if (p.window_left >= 0 || p.window_right >= 0) key += ".window";
  if (p.global_keys > 0) key += ".global";
  if (p.paged()) key += ".pages" + std::to_string(p.page_size);
  if (layout_flags & kFlagAdditiveMask) key += ".amask";
  if (layout_flags & kFlagBoolMask) key += ".bmask";
  if (layout_flags & kFlagBlockMask) key += ".blocks" + std::to_string(1 << p.block_q_shift) + "x" + std::to_string(1 << p.block_k_shift);
  if (layout_flags & kFlagKvLens) key += ".lens";
  if (layout_flags & kFlagLse) key += ".lse";
  if (layout_flags & kFlagSoftcap) key += ".softcap";
  if (layout_flags & kFlagAlibi) key += ".alibi";
  if (layout_flags & kFlagSinks) key += ".sinks";
  if (layout_flags & (kFlagRopeNeox | kFlagRopeGptj)) key += ".rope";
  if (layout_flags & kFlagQLens) key += ".qlens";
  if (layout_flags & kFlagKvVec4) key += ".kvvec4";
  if (layout_flags & kFlagOutVec4) key += ".ovec4";
  return key;
}

uint64_t embedded_shaders_hash() {
  uint64_t h = 1469598103934665603ull;
  for (uint32_t id = 0; id < shaders::kShaderCount; ++id) {
    const shaders::ShaderBlob& blob = shaders::blob(static_cast<shaders::ShaderId>(id));
    for (size_t w = 0; w < blob.word_count; ++w) h = (h ^ blob.words[w]) * 1099511628211ull;
  }
  return h;
}

bool TuningTable::parse(const std::string& payload, uint64_t shaders_hash, std::string* why) {
  std::istringstream in(payload);
  std::string line;
  if (!std::getline(in, line) || line != kPayloadMagic) {
    *why = "unknown tuning format";
    return false;
  }
  char expected[40];
  std::snprintf(expected, sizeof(expected), "shaders %016" PRIx64, shaders_hash);
  if (!std::getline(in, line) || line.compare(0, 8, "shaders ") != 0) {
    *why = "no shaders line (corrupt)";
    return false;
  }
  if (line != expected) {
    *why = "stale: measured with the kernels of another vkattn build";
    return false;
  }
  std::map<std::string, TunedEntry> entries;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key, words, extra;
    TunedEntry entry;
    if (!(fields >> key >> words >> entry.tuned_ms >> entry.default_ms) || (fields >> extra) ||
        !(entry.tuned_ms > 0.0) || !(entry.default_ms > 0.0) ||
        !parse_kernel_override(words.c_str(), &entry.choice).ok()) {
      *why = "malformed entry '" + line.substr(0, 80) + "'";
      return false;
    }
    entries[key] = entry;
  }
  entries_ = std::move(entries);
  return true;
}

std::string TuningTable::serialize(uint64_t shaders_hash) const {
  std::string text = std::string(kPayloadMagic) + "\n";
  char line[64];
  std::snprintf(line, sizeof(line), "shaders %016" PRIx64 "\n", shaders_hash);
  text += line;
  for (const auto& entry : entries_) {
    char times[64];
    std::snprintf(times, sizeof(times), " %.6g %.6g\n", entry.second.tuned_ms, entry.second.default_ms);
    text += entry.first + " " + format_kernel_override(entry.second.choice) + times;
  }
  return text;
}

const TunedEntry* TuningTable::find(const std::string& problem_class) const {
  const auto found = entries_.find(problem_class);
  return found == entries_.end() ? nullptr : &found->second;
}

Status tune_problem(VulkanDevice& device, const Problem& p, TunedEntry* winner, std::vector<TuningCandidate>* tried) {
  const DeviceCaps& caps = device.caps();
  if (!caps.timestamps) {
    return unsupported("%s has no timestamp queries on its compute queue: nothing to time candidates with",
                       caps.name.c_str());
  }
  tried->clear();
  Tensors tensors;
  VKATTN_RETURN_IF_ERROR(make_tensors(device, p, &tensors));
  const TensorBytes bytes = tensor_bytes(p);
  const bool f16 = p.dtype == VKATTN_DTYPE_F16;
  // Candidates agree with the untuned output within a few roundings of the
  // storage type (outputs are averages of values in [-1, 1)).
  const double tolerance = f16 ? 8e-3 : 1e-4;
  std::vector<uint8_t> reference_out, reference_lse;
  std::vector<KernelConfig> timed;

  // Times one candidate, checks it, and records it in *tried.
  auto run_candidate = [&](const KernelOverride& choice, double best_ms, TuningCandidate* result) -> Status {
    result->choice = choice;
    std::unique_ptr<DevicePlan> plan;
    const Status created = create_vulkan_plan(device, p, choice, false, &plan);
    if (!created.ok()) {
      if (created.code() != VKATTN_ERROR_UNSUPPORTED) return created;
      result->rejected = created.message();
      return Status();
    }
    result->kernel = plan->info().kernel;
    VKATTN_RETURN_IF_ERROR(poison_outputs(p, tensors));
    VKATTN_RETURN_IF_ERROR(time_plan(*plan, tensors.args, best_ms, &result->ms));
    VKATTN_RETURN_IF_ERROR(device.finish());
    if (reference_out.empty()) {  // the untuned configuration: its output is the reference
      reference_out.resize(static_cast<size_t>(bytes.out));
      VKATTN_RETURN_IF_ERROR(tensors.out->read(0, reference_out.data(), bytes.out));
      if (tensors.lse) {
        reference_lse.resize(static_cast<size_t>(bytes.lse));
        VKATTN_RETURN_IF_ERROR(tensors.lse->read(0, reference_lse.data(), bytes.lse));
      }
      return Status();
    }
    std::string mismatch;
    VKATTN_RETURN_IF_ERROR(compare(*tensors.out, reference_out, f16, tolerance, &mismatch));
    if (mismatch.empty() && tensors.lse) {
      VKATTN_RETURN_IF_ERROR(compare(*tensors.lse, reference_lse, false, 1e-3, &mismatch));
      if (!mismatch.empty()) mismatch = "LSE: " + mismatch;
    }
    if (!mismatch.empty()) result->rejected = "wrong result: " + mismatch;
    return Status();
  };

  KernelOverride best;  // automatic: the untuned configuration
  KernelConfig best_config;
  VKATTN_RETURN_IF_ERROR(choose_kernel_config(p, caps, device.quirks(), best, &best_config));
  TuningCandidate untuned;
  VKATTN_RETURN_IF_ERROR(run_candidate(best, 0.0, &untuned));
  if (!untuned.rejected.empty()) return internal_error("the untuned configuration failed: %s", untuned.rejected.c_str());
  tried->push_back(untuned);
  timed.push_back(best_config);
  double best_ms = untuned.ms;

  for (int choice = 0; choice < kChoiceCount; ++choice) {
    for (const KernelOverride& alternative : alternatives(choice, best, best_config, p.dtype)) {
      KernelConfig config;
      if (!choose_kernel_config(p, caps, device.quirks(), alternative, &config).ok()) continue;  // not on this device
      bool seen = false;
      for (const KernelConfig& other : timed) seen = seen || same_config(other, config);
      if (seen) continue;
      timed.push_back(config);
      TuningCandidate candidate;
      VKATTN_RETURN_IF_ERROR(run_candidate(alternative, best_ms, &candidate));
      tried->push_back(candidate);
      if (candidate.rejected.empty() && candidate.ms < kWinMargin * best_ms) {
        best = alternative;
        best_config = config;
        best_ms = candidate.ms;
      }
    }
    pin(choice, best_config, &best);
  }
  winner->choice = best;
  winner->tuned_ms = best_ms;
  winner->default_ms = untuned.ms;
  return Status();
}

}  // namespace vk
}  // namespace vkattn
