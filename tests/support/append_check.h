// The float64 oracle of vkattn_append_plan_create / vkattn_append_execute,
// written from the semantics in include/vkattn.h ("Appending to a KV
// cache", vkattn_rope) and nothing else, and a checker that reads a cache
// buffer back and compares it with the oracle: every written row against
// the reference values, every other byte against its initial fill.
//
// Exactness. Without RoPE the cache contents are fully determined: f32 is a
// copy, f16 rounds to nearest even (the tests' own codec, f16.h), q8_0 and
// q4_0 blocks are vkattn_quantize's of the f32 values, and a block holding
// NaN or Inf is a NaN scale (0x7e00) with zero codes. On a device
// (AppendExactness::kDevice) the documented latitude of the device's f32
// division is granted to the block types: scale bytes identical, and a
// code may differ from the host's by exactly one only where x / d lies
// within a few ulps of a rounding boundary. With RoPE the keys carry the
// f32 rotation's error: each rotated value may be off by kRopeRelativeError
// times the norm of its pair, and the stored value must be what the cache
// type makes of some value in that interval (see check_cache_buffer).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vkattn.h"

namespace vkattn_test {

enum class CacheKind { kKeys, kValues };

// How far an f32 rotation may be from the exact one, relative to the norm
// of the rotated pair (a few f32 roundings of the products, the sine and
// the cosine).
constexpr double kRopeRelativeError = 1e-6;

// One append execution's host data.
struct AppendData {
  vkattn_append_desc desc;
  // The new keys and values, indexed by k_src_layout / v_src_layout (the
  // element a source buffer holds at that index), as the float values the
  // source dtype holds (f16 sources: f16-representable floats). Elements
  // outside the views are NaN.
  std::vector<float> k_src, v_src;
  std::vector<int32_t> positions;    // [batch]
  std::vector<int32_t> block_table;  // [batch, max_pages] when paged
};

// Sizes of the views of a descriptor.
// The cache's storage type (k_dtype / v_dtype, 0 = src_dtype).
vkattn_dtype cache_dtype(const vkattn_append_desc& desc, CacheKind kind);
int64_t head_dim(const vkattn_append_desc& desc, CacheKind kind);
// Elements one past the last element of a [outer, heads, rows, dim] view.
uint64_t view_extent(const vkattn_tensor_layout& layout, int64_t outer, int64_t heads, int64_t rows, int64_t dim);
// Element extent of the source view, and of the cache view (the page pool
// when paged).
uint64_t source_extent(const vkattn_append_desc& desc, CacheKind kind);
uint64_t cache_extent(const vkattn_append_desc& desc, CacheKind kind);
// Bytes of `elements` values of dtype (a multiple of 32 for block types).
uint64_t storage_bytes(vkattn_dtype dtype, uint64_t elements);
// Byte offset of element `element` (block types: a multiple of 32).
uint64_t storage_byte(vkattn_dtype dtype, uint64_t element);

// Contiguous BHSD sources and caches.
vkattn_append_desc dense_append_desc(int64_t batch, int64_t heads, int64_t tokens, int64_t kv_len, int64_t qk_dim,
                                     int64_t v_dim, vkattn_dtype src, vkattn_dtype k_dtype, vkattn_dtype v_dtype);
// AppendData of `desc` with these positions and fill_sources' values.
AppendData make_append_data(const vkattn_append_desc& desc, std::vector<int32_t> positions, uint64_t seed,
                            double magnitude = 1.0);
// Distinct pages for every (sequence, page) of a block table, shuffled.
std::vector<int32_t> shuffled_block_table(int64_t batch, int64_t max_pages, int64_t num_pages, uint64_t seed);

// Random sources (values in [-1, 1] times `magnitude`, rounded to f16 for
// f16 sources; NaN outside the views), from a fixed seed.
void fill_sources(AppendData* data, uint64_t seed, double magnitude = 1.0);

// Replaces the sources of `kind` by values on the conversion's rounding
// boundaries for its cache type: f16 caches get exact ties between two f16
// values (normal and subnormal, both signs; even rounds down and up), the
// largest finite f16 and the first value that rounds to infinity; q8_0
// blocks get a scale of exactly a power of two (max |x| = 127 x 2^k) and
// values at code + 1/2 (roundf goes away from zero); q4_0 blocks get
// x_m = -8 x 2^k with values whose x / d + 8.5 are integers, and 8 x 2^k,
// which reaches code 16 and is clamped to 15. Every value is representable
// in the source type.
void plant_rounding_ties(AppendData* data, CacheKind kind);

// The bytes of the source tensors as src_dtype stores them.
std::vector<uint8_t> source_bytes(const AppendData& data, CacheKind kind);

// RoPE per include/vkattn.h: pair p of the first R dims turned by
// pos * theta^(-2p/R) (the angle in long double, the rotation in double).
// x holds `dim` values.
void rope_rotate(const vkattn_rope& rope, int64_t dim, int64_t position, double* x);

// One written cache row: where it starts (element index in the cache
// view's buffer) and the reference values (keys rotated).
struct ReferenceRow {
  int64_t batch = 0, head = 0, token = 0, position = 0;
  uint64_t element = 0;
  std::vector<double> values;
  std::vector<double> errors;  // per value: how far an f32 rotation may be off (0: exact)
};
std::vector<ReferenceRow> reference_append(const AppendData& data, CacheKind kind);

enum class AppendExactness {
  kHost,    // CPU backend: bitwise without RoPE
  kDevice,  // a Vulkan device: block codes may differ by one at rounding boundaries
};

struct CacheCheck {
  std::string failure;            // empty: every row and every untouched byte is right
  uint64_t values = 0;            // values compared
  uint64_t codes = 0;             // quantized codes compared
  uint64_t codes_off_by_one = 0;  // codes one away from the host quantizer's (kDevice)
  uint64_t untouched_bytes = 0;   // bytes compared with their initial fill
  double worst = 0.0;             // largest error / allowed error over the tolerance checks
};

// Checks a cache buffer after one append: `caches` are the caches that live
// in it (one, or both when K and V share a buffer), `before` its bytes
// before the append and `after` its bytes after.
CacheCheck check_cache_buffer(const AppendData& data, const std::vector<CacheKind>& caches,
                              const std::vector<uint8_t>& before, const std::vector<uint8_t>& after,
                              AppendExactness exactness);

// A recognisable fill for cache buffers (0xA5 with the byte index mixed in).
std::vector<uint8_t> fill_pattern(uint64_t bytes);

// The buffers of an append plan on one context.
struct AppendBufferOptions {
  bool shared_caches = false;   // K and V caches in one buffer (the layouts place them apart)
  bool shared_sources = false;  // new K and V in one buffer (the layouts place them apart)
  uint64_t guard_bytes = 64;    // beyond each view's extent (0: buffers exactly the views' size)
};

// An append plan and its buffers: create, fill, append, read back.
class AppendRunner {
 public:
  AppendRunner(vkattn_context context, const vkattn_append_desc& desc, const AppendBufferOptions& options = {});
  ~AppendRunner();
  AppendRunner(const AppendRunner&) = delete;
  AppendRunner& operator=(const AppendRunner&) = delete;

  bool ready() const { return ready_; }
  const std::string& error() const { return error_; }
  vkattn_plan plan() const { return plan_; }
  vkattn_buffer cache(CacheKind kind) const { return kind == CacheKind::kKeys ? k_cache_ : v_cache_; }
  uint64_t cache_buffer_bytes(CacheKind kind) const { return kind == CacheKind::kKeys ? k_bytes_ : v_bytes_; }
  // The caches living in the buffer of `kind`'s cache.
  std::vector<CacheKind> caches_in_buffer(CacheKind kind) const;

  bool write_cache(CacheKind kind, const std::vector<uint8_t>& bytes);
  bool read_cache(CacheKind kind, std::vector<uint8_t>* bytes);
  // Uploads data's sources and executes with its positions and block table
  // (data.desc must be the plan's), then waits unless `wait` is false.
  bool append(const AppendData& data, bool wait = true);

 private:
  bool fail(const std::string& what);
  vkattn_context context_;
  AppendBufferOptions options_;
  vkattn_plan plan_ = nullptr;
  vkattn_buffer k_src_ = nullptr, v_src_ = nullptr, k_cache_ = nullptr, v_cache_ = nullptr;
  uint64_t k_bytes_ = 0, v_bytes_ = 0;
  bool ready_ = false;
  std::string error_;
};

// The whole round trip on a context: plan, caches filled with
// fill_pattern, one append, read back, and both caches checked. `failure`
// says what went wrong (an API call or a check); the counts sum both caches.
CacheCheck append_and_check(vkattn_context context, const AppendData& data, AppendExactness exactness,
                            const AppendBufferOptions& options = {});

// Decoding as an application does it: caches holding `prefix[b]` keys of
// each sequence (random, as already rotated), `steps` appends of
// new_tokens keys and values each (RoPE on the keys), every append's
// caches checked as check_cache_buffer does, then, executed right after
// the last append without waiting for it, attention of q_len queries per
// sequence (RoPE on Q, causal bottom-right, key lengths prefix
// + steps x new_tokens) over the caches on the same buffers, compared with
// reference_attention over the keys the float64 append reference gives
// (float caches; block caches: the blocks read back, which the cache check
// has verified) within the tolerance table's bound.
struct AppendAttentionSpec {
  int64_t batch = 1;
  int64_t q_heads = 1;
  int64_t kv_heads = 1;
  int64_t new_tokens = 1;
  int64_t q_len = 0;                  // queries per sequence; 0: new_tokens (the last q_len positions)
  int64_t kv_len = 1;
  int64_t dim = 64;                   // qk_dim = v_dim
  vkattn_dtype dtype = VKATTN_DTYPE_F32;  // Q, O and float caches
  vkattn_dtype k_dtype{};             // 0: dtype; or a block type
  vkattn_dtype v_dtype{};
  std::vector<int32_t> prefix;        // [batch]: keys already cached
  int steps = 1;
  vkattn_rope rope{};
  int64_t page_size = 0;              // > 0: vLLM page pools with a shuffled block table
  uint64_t seed = 1;
};

struct AppendAttentionResult {
  std::string failure;  // empty: caches and attention output right
  double error = 0.0;   // max |O - O_ref|
  double allowed = 0.0;
  CacheCheck caches;    // summed over the steps
};

AppendAttentionResult append_then_attend(vkattn_context context, const AppendAttentionSpec& spec,
                                         AppendExactness exactness);

}  // namespace vkattn_test
