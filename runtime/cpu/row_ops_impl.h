// The row kernels, written once and compiled once per instruction-set level
// (row_ops_baseline.cpp, row_ops_avx2.cpp, row_ops_avx512.cpp set
// VKATTN_ISA and the compiler flags); row_ops.cpp picks one at run time.
// Include only from those files.
#include <cstring>

#include "row_ops.h"
#include "runtime/half.h"
#include "runtime/quant.h"

#if defined(__F16C__)
#include <immintrin.h>
#endif
// The portable build on arm64 is the NEON level: Advanced SIMD, fused
// multiply-add and f16 conversion are part of every AArch64 CPU.
#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#define VKATTN_NEON 1
#endif

namespace vkattn {
namespace cpu {
namespace VKATTN_ISA {

namespace {

// Partial results are kept in this many independent lanes so that the
// reductions vectorise without reassociation flags; the lane order is fixed,
// so the result is the same on every run.
constexpr int kLanes = 16;

inline float bits_to_float(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

}  // namespace

static inline float exp_nonpositive(float x) {
  // Cody-Waite reduction x = n*ln2 + r, |r| <= ln2/2, then Cephes' degree-6
  // polynomial for exp(r), then scale by 2^n built in the exponent bits.
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;
  constexpr float kLn2Lo = -2.12194440e-4f;
  constexpr float kLowest = -87.33654f;  // exp(kLowest) ~ 2^-126, smallest normal
  constexpr float kRoundMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float clamped = x > kLowest ? x : kLowest;
  const float n = (clamped * kLog2e + kRoundMagic) - kRoundMagic;
  const float r = (clamped - n * kLn2Hi) - n * kLn2Lo;
  float poly = 1.9875691500e-4f;
  poly = poly * r + 1.3981999507e-3f;
  poly = poly * r + 8.3334519073e-3f;
  poly = poly * r + 4.1665795894e-2f;
  poly = poly * r + 1.6666665459e-1f;
  poly = poly * r + 5.0000001201e-1f;
  poly = poly * r * r + r + 1.0f;
  const float two_n = bits_to_float(static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23);
  const float result = poly * two_n;
  const float flushed = x < kLowest ? 0.0f : result;
  return x != x ? x : flushed;  // NaN in, NaN out
}

static float softmax_step(float* scores, int64_t n, float* m, float* l) {
  float lane_max[kLanes];
  for (int k = 0; k < kLanes; ++k) lane_max[k] = *m;
  int64_t c = 0;
  for (; c + kLanes <= n; c += kLanes) {
    for (int k = 0; k < kLanes; ++k) lane_max[k] = scores[c + k] > lane_max[k] ? scores[c + k] : lane_max[k];
  }
  for (; c < n; ++c) lane_max[0] = scores[c] > lane_max[0] ? scores[c] : lane_max[0];
  float m_new = lane_max[0];
  for (int k = 1; k < kLanes; ++k) m_new = lane_max[k] > m_new ? lane_max[k] : m_new;

  float lane_sum[kLanes] = {};
  c = 0;
  for (; c + kLanes <= n; c += kLanes) {
    for (int k = 0; k < kLanes; ++k) {
      const float p = exp_nonpositive(scores[c + k] - m_new);
      scores[c + k] = p;
      lane_sum[k] += p;
    }
  }
  for (; c < n; ++c) {
    const float p = exp_nonpositive(scores[c] - m_new);
    scores[c] = p;
    lane_sum[0] += p;
  }
  float sum = 0.0f;
  for (int k = 0; k < kLanes; ++k) sum += lane_sum[k];

  const float alpha = exp_nonpositive(*m - m_new);
  *l = *l * alpha + sum;
  *m = m_new;
  return alpha;
}

static void scale_row(float* row, int64_t n, float alpha) {
  for (int64_t c = 0; c < n; ++c) row[c] *= alpha;
}

static void exp_shifted_row(float* row, int64_t n, float shift) {
  for (int64_t c = 0; c < n; ++c) row[c] = exp_nonpositive(row[c] - shift);
}

static void elu_plus_one_row(float* row, int64_t n) {
  for (int64_t c = 0; c < n; ++c) {
    const float x = row[c];
    const float negative = exp_nonpositive(x > 0.0f ? 0.0f : x);  // (NaN stays NaN)
    row[c] = x > 0.0f ? x + 1.0f : negative;
  }
}

static void add_row(float* dst, const float* src, int64_t n) {
  for (int64_t c = 0; c < n; ++c) dst[c] += src[c];
}

static void add_scaled_row(float* dst, const float* src, int64_t n, float scale) {
  for (int64_t c = 0; c < n; ++c) dst[c] += src[c] * scale;
}

static inline float load_scalar(const float* p) { return *p; }
static inline float load_scalar(const uint16_t* p) { return half_to_float(*p); }

// f16 -> f32 for a row: hardware conversion where the ISA has it.
static inline void halves_to_floats(const uint16_t* in, int64_t n, float* out) {
  int64_t c = 0;
#if defined(__F16C__)
  for (; c + 8 <= n; c += 8) {
    _mm256_storeu_ps(out + c, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + c))));
  }
#elif defined(VKATTN_NEON)
  for (; c + 4 <= n; c += 4) vst1q_f32(out + c, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(in + c))));
#endif
  for (; c < n; ++c) out[c] = half_to_float(in[c]);
}

// A row of n values (a multiple of 32) in q8_0 / q4_0 blocks (quant.h),
// times scale: code * d * scale, which is llama.cpp's code * d for scale 1.
// (Written here rather than calling quant.h's dequantize_block so that each
// instruction-set build has its own copy: an inline function shared by
// builds with different flags could be linked from the wrong one.)
static inline void dequantize_row(const void* src, vkattn_dtype dtype, int64_t n, float scale, float* dst) {
  const uint8_t* block = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / kQuantBlock; ++b, dst += kQuantBlock) {
    uint16_t bits;
    std::memcpy(&bits, block, 2);
    const float d = half_to_float(bits);
    const uint8_t* codes = block + 2;
    if (dtype == VKATTN_DTYPE_Q8_0) {
      for (int j = 0; j < kQuantBlock; ++j) dst[j] = static_cast<float>(static_cast<int8_t>(codes[j])) * d * scale;
      block += kQ8BlockBytes;
    } else {
      for (int j = 0; j < kQuantBlock / 2; ++j) {
        dst[j] = static_cast<float>((codes[j] & 0x0f) - 8) * d * scale;
        dst[j + 16] = static_cast<float>((codes[j] >> 4) - 8) * d * scale;
      }
      block += kQ4BlockBytes;
    }
  }
}

static void load_row(const void* src, vkattn_dtype dtype, int64_t n, float scale, float* dst) {
  if (is_block_dtype(dtype)) {
    dequantize_row(src, dtype, n, scale, dst);
  } else if (dtype == VKATTN_DTYPE_F16) {
    halves_to_floats(static_cast<const uint16_t*>(src), n, dst);
    if (scale != 1.0f) scale_row(dst, n, scale);
  } else {
    const float* in = static_cast<const float*>(src);
    for (int64_t c = 0; c < n; ++c) dst[c] = in[c] * scale;
  }
}

static bool load_row_check_finite(const void* src, vkattn_dtype dtype, int64_t n, float* dst) {
  if (is_block_dtype(dtype)) {
    // Codes are finite integers: a value is NaN or Inf only through its
    // block's scale.
    const uint8_t* blocks = static_cast<const uint8_t*>(src);
    uint32_t special = 0;
    for (int64_t b = 0; b < n / kQuantBlock; ++b) {
      uint16_t bits;
      std::memcpy(&bits, blocks + static_cast<uint64_t>(b) * (dtype == VKATTN_DTYPE_Q8_0 ? kQ8BlockBytes : kQ4BlockBytes), 2);
      special |= (bits & 0x7c00u) == 0x7c00u ? 1u : 0u;
    }
    dequantize_row(src, dtype, n, 1.0f, dst);
    return special == 0;
  }
  if (dtype == VKATTN_DTYPE_F16) {
    const uint16_t* in = static_cast<const uint16_t*>(src);
    uint32_t special = 0;  // any half with an all-ones exponent (Inf or NaN)
    for (int64_t c = 0; c < n; ++c) special |= (in[c] & 0x7c00u) == 0x7c00u ? 1u : 0u;
    halves_to_floats(in, n, dst);
    return special == 0;
  }
  const float* in = static_cast<const float*>(src);
  float probe = 0.0f;  // x - x is NaN exactly when x is NaN or Inf
  for (int64_t c = 0; c < n; ++c) {
    dst[c] = in[c];
    probe += in[c] - in[c];
  }
  return probe == 0.0f;
}

static void store_row(const float* src, int64_t n, float scale, vkattn_dtype dtype, void* dst) {
  if (dtype == VKATTN_DTYPE_F16) {
    uint16_t* out = static_cast<uint16_t*>(dst);
    for (int64_t c = 0; c < n; ++c) out[c] = float_to_half(src[c] * scale);
  } else {
    float* out = static_cast<float*>(dst);
    for (int64_t c = 0; c < n; ++c) out[c] = src[c] * scale;
  }
}

// 16 floats as one vector, every operation lanewise, so every level
// computes the same bits. On AVX-512 it is one register. Elsewhere it is a
// struct of native-width parts (two ymm on AVX2, four xmm or NEON q
// registers otherwise): a 64-byte generic vector on a narrower unit is
// lowered through memory lane by lane (the AVX2 kernels ran 50x slower so).
#if defined(__AVX512F__)
typedef float Vec16 __attribute__((vector_size(64)));

static inline Vec16 splat16(float x) { return Vec16{x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }
#else
#if defined(__AVX2__)
constexpr int kPartLanes = 8;
#else
constexpr int kPartLanes = 4;
#endif
constexpr int kParts = kLanes / kPartLanes;
typedef float Part __attribute__((vector_size(kPartLanes * sizeof(float))));

struct Vec16 {
  Part part[kParts];
  float operator[](int j) const { return part[j / kPartLanes][j % kPartLanes]; }
};

#define VKATTN_PARTWISE(op)                                                \
  static inline Vec16 operator op(Vec16 a, const Vec16& b) {               \
    for (int i = 0; i < kParts; ++i) a.part[i] = a.part[i] op b.part[i];   \
    return a;                                                              \
  }                                                                        \
  static inline Vec16& operator op##=(Vec16& a, const Vec16& b) { return a = a op b; }
VKATTN_PARTWISE(+)
VKATTN_PARTWISE(-)
VKATTN_PARTWISE(*)
#undef VKATTN_PARTWISE

static inline Vec16 splat16(float x) {
  Vec16 v;
  for (int i = 0; i < kParts; ++i) {
    for (int j = 0; j < kPartLanes; ++j) v.part[i][j] = x;
  }
  return v;
}
#endif

// How many Vec16 accumulators a register-blocked loop keeps: AVX-512 has 32
// registers of 16 lanes; AVX2 has 16 of 8 (a Vec16 takes two); the portable
// build 16 (SSE2) or 32 (NEON) of 4. Past that they spill, and every
// multiply-add waits on a store and a reload.
#if defined(__AVX512F__)
constexpr int kAccumulatorBudget = 16;
#else
constexpr int kAccumulatorBudget = 4;
#endif
// Keys per dot-product step, or 16-lane value vectors per accumulation
// step, for R query rows: at most 4, within the budget.
template <int R>
constexpr int blocking_for_rows() {
  return kAccumulatorBudget / R >= 4 ? 4 : kAccumulatorBudget / R >= 2 ? 2 : 1;
}

#if defined(__AVX512F__)
static inline Vec16 load16(const float* p) {
  Vec16 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

static inline void store16(float* p, Vec16 v) { std::memcpy(p, &v, sizeof(v)); }
#else
// Part by part: one native load or store each (a 64-byte copy went
// through the stack in 16-byte pieces that a wider load cannot forward).
static inline Vec16 load16(const float* p) {
  Vec16 v;
  for (int i = 0; i < kParts; ++i) std::memcpy(&v.part[i], p + i * kPartLanes, sizeof(Part));
  return v;
}

static inline void store16(float* p, Vec16 v) {
  for (int i = 0; i < kParts; ++i) std::memcpy(p + i * kPartLanes, &v.part[i], sizeof(Part));
}
#endif

#if defined(__AVX2__) && !defined(__AVX512F__)
static inline Vec16 from_halves(__m256 lo, __m256 hi) { return Vec16{{reinterpret_cast<Part>(lo), reinterpret_cast<Part>(hi)}}; }
#endif

static inline Vec16 load16(const uint16_t* p) {
#if defined(__AVX512F__)
  return reinterpret_cast<Vec16>(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))));
#elif defined(__AVX2__)
  return from_halves(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))),
                     _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8))));
#elif defined(VKATTN_NEON)
  Vec16 v;
  for (int i = 0; i < kParts; ++i) {
    v.part[i] = reinterpret_cast<Part>(vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p + i * kPartLanes))));
  }
  return v;
#else
  float lanes[kLanes];
  halves_to_floats(p, kLanes, lanes);
  return load16(lanes);
#endif
}

// a * b + c with one rounding per lane: hardware FMA where the level has it,
// the exact fmaf otherwise, so every level computes the same bits.
static inline Vec16 fma16(Vec16 a, Vec16 b, Vec16 c) {
#if defined(__AVX512F__)
  return reinterpret_cast<Vec16>(_mm512_fmadd_ps(reinterpret_cast<__m512>(a), reinterpret_cast<__m512>(b),
                                                 reinterpret_cast<__m512>(c)));
#else
  for (int i = 0; i < kParts; ++i) {
#if defined(__AVX2__) && defined(__FMA__)
    c.part[i] = reinterpret_cast<Part>(_mm256_fmadd_ps(reinterpret_cast<__m256>(a.part[i]),
                                                       reinterpret_cast<__m256>(b.part[i]),
                                                       reinterpret_cast<__m256>(c.part[i])));
#elif defined(VKATTN_NEON)
    c.part[i] = reinterpret_cast<Part>(vfmaq_f32(reinterpret_cast<float32x4_t>(c.part[i]),
                                                 reinterpret_cast<float32x4_t>(a.part[i]),
                                                 reinterpret_cast<float32x4_t>(b.part[i])));
#else
    for (int j = 0; j < kPartLanes; ++j) c.part[i][j] = __builtin_fmaf(a.part[i][j], b.part[i][j], c.part[i][j]);
#endif
  }
  return c;
#endif
}

// Sum of the 16 lanes in a fixed tree (lane j + lane j+8, then + j+4, ...),
// the same order at every level.
#if defined(__AVX512F__)
typedef int Lanes16 __attribute__((vector_size(64)));
#if defined(__clang__)
#define VKATTN_SHUFFLE(v, ...) __builtin_shufflevector(v, v, __VA_ARGS__)
#else
#define VKATTN_SHUFFLE(v, ...) __builtin_shuffle(v, Lanes16{__VA_ARGS__})
#endif
static inline float tree_sum(Vec16 v) {
  v += VKATTN_SHUFFLE(v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
  v += VKATTN_SHUFFLE(v, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11);
  v += VKATTN_SHUFFLE(v, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
  v += VKATTN_SHUFFLE(v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
  return v[0];
}
#else
// The parts hold lanes in order, so the first steps add whole parts.
static inline float tree_sum(Vec16 v) {
  typedef float Quad __attribute__((vector_size(16)));
  Quad quarter;  // lane j: sum of lanes j, j+4, j+8, j+12 in the tree's order
#if defined(__AVX2__)
  const __m256 eighth = reinterpret_cast<__m256>(v.part[0] + v.part[1]);
  quarter = reinterpret_cast<Quad>(_mm_add_ps(_mm256_castps256_ps128(eighth), _mm256_extractf128_ps(eighth, 1)));
#else
  quarter = (v.part[0] + v.part[2]) + (v.part[1] + v.part[3]);
#endif
  return (quarter[0] + quarter[2]) + (quarter[1] + quarter[3]);
}
#endif

#if defined(__AVX512F__)
// tree_sum of 16 vectors at once: lane j of the result is tree_sum(v[j]),
// with the same pairs added in the same order (lanes j + j+8, then j+4, j+2,
// j+1), but each step adds two vectors' halves in one register, so the 16
// sums take 15 adds and 30 two-source shuffles instead of 16 separate trees
// and scalar extracts. (Only AVX-512 keeps 16 accumulators.)
static inline __attribute__((always_inline)) Vec16 tree_sum16(const Vec16 v[16]) {
#if defined(__clang__)
#define VKATTN_SHUFFLE2(x, y, ...) __builtin_shufflevector(x, y, __VA_ARGS__)
#else
#define VKATTN_SHUFFLE2(x, y, ...) __builtin_shuffle(x, y, Lanes16{__VA_ARGS__})
#endif
  // Step 1: 8 lanes per item, two items (v[2i], v[2i+1]) per register.
  Vec16 half[8];
  for (int i = 0; i < 8; ++i) {
    const Vec16 a = v[2 * i], b = v[2 * i + 1];
    half[i] = VKATTN_SHUFFLE2(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
              VKATTN_SHUFFLE2(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  }
  // Step 2: 4 lanes per item, items v[4i .. 4i+3] in order.
  Vec16 quarter[4];
  for (int i = 0; i < 4; ++i) {
    const Vec16 a = half[2 * i], b = half[2 * i + 1];
    quarter[i] = VKATTN_SHUFFLE2(a, b, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
                 VKATTN_SHUFFLE2(a, b, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
  }
  // Step 3: 2 lanes per item, items v[8i .. 8i+7] in order.
  Vec16 eighth[2];
  for (int i = 0; i < 2; ++i) {
    const Vec16 a = quarter[2 * i], b = quarter[2 * i + 1];
    eighth[i] = VKATTN_SHUFFLE2(a, b, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29) +
                VKATTN_SHUFFLE2(a, b, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
  }
  // Step 4: one lane per item, v[0 .. 15] in order.
  return VKATTN_SHUFFLE2(eighth[0], eighth[1], 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30) +
         VKATTN_SHUFFLE2(eighth[0], eighth[1], 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
#undef VKATTN_SHUFFLE2
}
#endif

// A position in a q8_0 / q4_0 tensor (quant.h): the tensor's bytes and a
// value index, which `+` moves like a pointer's element index, so the
// templates below read blocks as they read f32 or f16 rows. Loads are 16
// values from one block (the index is a multiple of 16 wherever load16 is
// used: head dimensions are multiples of 32), each code * d exactly as
// dequantization gives it.
template <vkattn_dtype TYPE>
struct BlockPointer {
  const uint8_t* bytes;
  int64_t element;
  BlockPointer operator+(int64_t n) const { return BlockPointer{bytes, element + n}; }
  static constexpr uint64_t kBlockBytes = TYPE == VKATTN_DTYPE_Q8_0 ? kQ8BlockBytes : kQ4BlockBytes;
  // (element is never negative: unsigned arithmetic spares the signed-division fixups.)
  const uint8_t* block() const { return bytes + static_cast<uint64_t>(element) / kQuantBlock * kBlockBytes; }
};
typedef BlockPointer<VKATTN_DTYPE_Q8_0> Q8Pointer;
typedef BlockPointer<VKATTN_DTYPE_Q4_0> Q4Pointer;

template <vkattn_dtype TYPE>
static inline float block_scale_of(const BlockPointer<TYPE>& p) {
  uint16_t bits;
  std::memcpy(&bits, p.block(), 2);
#if defined(__F16C__)
  return _cvtsh_ss(bits);
#else
  return half_to_float(bits);
#endif
}

#if defined(__AVX2__) && !defined(__AVX512F__)
// 16 int32 lanes, as two vectors of 8, converted to floats.
static inline Vec16 int_halves_to_floats(__m256i lo, __m256i hi) {
  return from_halves(_mm256_cvtepi32_ps(lo), _mm256_cvtepi32_ps(hi));
}
#endif

// 16 block codes as floats: signed bytes (q8_0), or the low or high
// nibbles of 16 bytes (q4_0), widened in registers where the level can.
static inline Vec16 signed_bytes_to_floats(const uint8_t* p) {
#if defined(__AVX512F__)
  return reinterpret_cast<Vec16>(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))));
#elif defined(__AVX2__)
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return int_halves_to_floats(_mm256_cvtepi8_epi32(bytes), _mm256_cvtepi8_epi32(_mm_srli_si128(bytes, 8)));
#elif defined(VKATTN_NEON)
  const int8x16_t bytes = vld1q_s8(reinterpret_cast<const int8_t*>(p));
  const int16x8_t halves[2] = {vmovl_s8(vget_low_s8(bytes)), vmovl_high_s8(bytes)};
  Vec16 v;
  for (int h = 0; h < 2; ++h) {
    v.part[2 * h] = reinterpret_cast<Part>(vcvtq_f32_s32(vmovl_s16(vget_low_s16(halves[h]))));
    v.part[2 * h + 1] = reinterpret_cast<Part>(vcvtq_f32_s32(vmovl_high_s16(halves[h])));
  }
  return v;
#else
  float lanes[kLanes];
  for (int j = 0; j < kLanes; ++j) lanes[j] = static_cast<float>(static_cast<int8_t>(p[j]));
  return load16(lanes);
#endif
}

static inline Vec16 nibbles_to_floats(const uint8_t* p, bool high) {
#if defined(__AVX512F__) || defined(__AVX2__)
  __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  if (high) bytes = _mm_srli_epi16(bytes, 4);
  bytes = _mm_and_si128(bytes, _mm_set1_epi8(15));
#if defined(__AVX512F__)
  return reinterpret_cast<Vec16>(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes)));
#else
  return int_halves_to_floats(_mm256_cvtepu8_epi32(bytes), _mm256_cvtepu8_epi32(_mm_srli_si128(bytes, 8)));
#endif
#elif defined(VKATTN_NEON)
  const uint8x16_t bytes = vld1q_u8(p);
  const uint8x16_t codes = high ? vshrq_n_u8(bytes, 4) : vandq_u8(bytes, vdupq_n_u8(15));
  const uint16x8_t halves[2] = {vmovl_u8(vget_low_u8(codes)), vmovl_high_u8(codes)};
  Vec16 v;
  for (int h = 0; h < 2; ++h) {
    v.part[2 * h] = reinterpret_cast<Part>(vcvtq_f32_u32(vmovl_u16(vget_low_u16(halves[h]))));
    v.part[2 * h + 1] = reinterpret_cast<Part>(vcvtq_f32_u32(vmovl_high_u16(halves[h])));
  }
  return v;
#else
  float lanes[kLanes];
  for (int j = 0; j < kLanes; ++j) lanes[j] = static_cast<float>(high ? p[j] >> 4 : p[j] & 15);
  return load16(lanes);
#endif
}

static inline Vec16 load16(const Q8Pointer& p) {
  return signed_bytes_to_floats(p.block() + 2 + static_cast<uint64_t>(p.element) % kQuantBlock) * splat16(block_scale_of(p));
}

// Values 0-15 of a block are the low nibbles of its 16 code bytes, 16-31 the high ones.
static inline Vec16 load16(const Q4Pointer& p) {
  return (nibbles_to_floats(p.block() + 2, static_cast<uint64_t>(p.element) % kQuantBlock >= 16) - splat16(8.0f)) * splat16(block_scale_of(p));
}

// Two vectors: the 32 values from p on (p at a multiple of 16; for the
// block types, at a block's start, so one block gives both and its scale
// is read once). The same values as two load16 calls, at every level.
template <typename T>
static inline void load32(const T& p, Vec16 out[2]) {
  out[0] = load16(p);
  out[1] = load16(p + kLanes);
}

#if defined(__AVX512F__)
// A q4_0 block: its 16 values (c - 8) * d as a table indexed by the code c,
// looked up by vpermps (which reads an index's low 4 bits only: the low
// nibbles need no mask), the same products as converting each code.
static inline void load32(const Q4Pointer& p, Vec16 out[2]) {
  const __m512 codes_minus_8 = _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
  const __m512 table = _mm512_mul_ps(codes_minus_8, _mm512_set1_ps(block_scale_of(p)));
  const __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p.block() + 2)));
  out[0] = reinterpret_cast<Vec16>(_mm512_permutexvar_ps(bytes, table));
  out[1] = reinterpret_cast<Vec16>(_mm512_permutexvar_ps(_mm512_srli_epi32(bytes, 4), table));
}

static inline void load32(const Q8Pointer& p, Vec16 out[2]) {
  const __m512 d = _mm512_set1_ps(block_scale_of(p));
  const uint8_t* codes = p.block() + 2;
  const __m512i low = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes)));
  const __m512i high = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + 16)));
  out[0] = reinterpret_cast<Vec16>(_mm512_mul_ps(_mm512_cvtepi32_ps(low), d));
  out[1] = reinterpret_cast<Vec16>(_mm512_mul_ps(_mm512_cvtepi32_ps(high), d));
}
#elif defined(__AVX2__)
// A block's 32 values in four ymm, its scale read once: the same products
// code * d (exact in f32) as load16 gives.
static inline void load32(const Q8Pointer& p, Vec16 out[2]) {
  const __m256 d = _mm256_set1_ps(block_scale_of(p));
  const uint8_t* codes = p.block() + 2;
  __m256 quarter[4];
  for (int i = 0; i < 4; ++i) {
    const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes + 8 * i));
    quarter[i] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes)), d);
  }
  out[0] = from_halves(quarter[0], quarter[1]);
  out[1] = from_halves(quarter[2], quarter[3]);
}

static inline void load32(const Q4Pointer& p, Vec16 out[2]) {
  const __m256 d = _mm256_set1_ps(block_scale_of(p)), eight = _mm256_set1_ps(8.0f);
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p.block() + 2));
  const __m128i nibbles[2] = {_mm_and_si128(bytes, _mm_set1_epi8(15)),
                              _mm_and_si128(_mm_srli_epi16(bytes, 4), _mm_set1_epi8(15))};
  for (int h = 0; h < 2; ++h) {
    const __m256 lo = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(nibbles[h]));
    const __m256 hi = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(nibbles[h], 8)));
    out[h] = from_halves(_mm256_mul_ps(_mm256_sub_ps(lo, eight), d), _mm256_mul_ps(_mm256_sub_ps(hi, eight), d));
  }
}
#endif

static inline float load_scalar(const Q8Pointer& p) {
  return static_cast<float>(static_cast<int8_t>(p.block()[2 + static_cast<uint64_t>(p.element) % kQuantBlock])) * block_scale_of(p);
}

static inline float load_scalar(const Q4Pointer& p) {
  const int j = static_cast<int>(static_cast<uint64_t>(p.element) % kQuantBlock);
  const uint8_t byte = p.block()[2 + j % 16];
  return static_cast<float>((j < 16 ? byte & 15 : byte >> 4) - 8) * block_scale_of(p);
}

// Where a row starts and how many bytes its `dim` values take.
template <typename E>
static inline const uint8_t* row_address(const E* row) { return reinterpret_cast<const uint8_t*>(row); }
template <typename E>
static inline int64_t row_bytes(const E*, int64_t dim) { return dim * static_cast<int64_t>(sizeof(E)); }
template <vkattn_dtype TYPE>
static inline const uint8_t* row_address(const BlockPointer<TYPE>& row) { return row.block(); }
template <vkattn_dtype TYPE>
static inline int64_t row_bytes(const BlockPointer<TYPE>&, int64_t dim) {
  return dim / kQuantBlock * static_cast<int64_t>(BlockPointer<TYPE>::kBlockBytes);
}

// A block of key rows given one pointer each (paged K/V, whose rows lie in
// pages anywhere in a pool), read through the same templates: `+` moves an
// index key * kGatherStride + value, and every access resolves its key's
// row pointer. E is the element pointer type (const float*, const
// uint16_t*, Q8Pointer, Q4Pointer).
template <typename E>
struct GatherPointer {
  const uint8_t* const* rows;
  int64_t index;
  GatherPointer operator+(int64_t n) const { return GatherPointer{rows, index + n}; }
  E at() const;
};

static inline const float* element_at(const uint8_t* row, int64_t value, const float*) {
  return reinterpret_cast<const float*>(row) + value;
}
static inline const uint16_t* element_at(const uint8_t* row, int64_t value, const uint16_t*) {
  return reinterpret_cast<const uint16_t*>(row) + value;
}
template <vkattn_dtype TYPE>
static inline BlockPointer<TYPE> element_at(const uint8_t* row, int64_t value, const BlockPointer<TYPE>&) {
  return BlockPointer<TYPE>{row, value};
}

template <typename E>
inline E GatherPointer<E>::at() const {
  const uint64_t i = static_cast<uint64_t>(index);
  const uint64_t stride = static_cast<uint64_t>(kGatherStride);
  return element_at(rows[i / stride], static_cast<int64_t>(i % stride), E{});
}

// A row's element pointer, found once per row so that the loads along it
// are plain pointer arithmetic: itself, or a gathered row's own pointer.
template <typename T>
static inline T resolve(T p) { return p; }
template <typename E>
static inline E resolve(const GatherPointer<E>& p) { return p.at(); }

template <typename E>
static inline Vec16 load16(const GatherPointer<E>& p) { return load16(p.at()); }
template <typename E>
static inline void load32(const GatherPointer<E>& p, Vec16 out[2]) { load32(p.at(), out); }
template <typename E>
static inline float load_scalar(const GatherPointer<E>& p) { return load_scalar(p.at()); }

#define VKATTN_INLINE inline __attribute__((always_inline))
// Loops over a register block's rows, keys or vectors are unrolled so that
// their accumulators are registers, not an array in memory (GCC leaves them
// rolled for narrower vector units otherwise).
#define VKATTN_UNROLL _Pragma("GCC unroll 16")

// Rows this far ahead are requested from memory while the current ones are
// consumed (the K/V rows of one block are `stride` apart, not contiguous).
constexpr int64_t kPrefetchRows = 16;

template <typename T>
static VKATTN_INLINE void prefetch_row(T row, int64_t dim) {
  const uint8_t* bytes = row_address(row);
  for (int64_t offset = 0; offset < row_bytes(row, dim); offset += 64) __builtin_prefetch(bytes + offset);
}

// Gathered rows: the row a key ahead points at (callers provide
// kGatherPrefetchRows pointers past their keys).
template <typename E>
static VKATTN_INLINE void prefetch_row(const GatherPointer<E>& row, int64_t dim) {
  prefetch_row(row.at(), dim);
}
static_assert(kPrefetchRows <= kGatherPrefetchRows, "gathered blocks carry the rows prefetching reaches");

// Keys whose dimension is a whole number of vectors: no tail, so the
// accumulators never leave registers.
template <int R, int KEYS, typename T>
static VKATTN_INLINE void dot_keys_full(const float* q, T k, int64_t stride, int64_t dim, int64_t out_stride,
                                        float* scores) {
  for (int c = 0; c < KEYS; ++c) prefetch_row(k + (c + kPrefetchRows) * stride, dim);
  Vec16 acc[KEYS][R];
  for (int c = 0; c < KEYS; ++c) {
    for (int r = 0; r < R; ++r) acc[c][r] = Vec16{};
  }
  decltype(resolve(k)) rows[KEYS];
  for (int c = 0; c < KEYS; ++c) rows[c] = resolve(k + c * stride);
  // Two vectors at a time where the dimension allows (always for the block
  // types: one block per step), in the same lanes and order as one at a time.
  int64_t d = 0;
  for (; d + 2 * kLanes <= dim; d += 2 * kLanes) {
    VKATTN_UNROLL
    for (int c = 0; c < KEYS; ++c) {
      Vec16 kv[2];
      load32(rows[c] + d, kv);
      VKATTN_UNROLL
      for (int r = 0; r < R; ++r) {
        acc[c][r] = fma16(load16(q + r * dim + d), kv[0], acc[c][r]);
        acc[c][r] = fma16(load16(q + r * dim + d + kLanes), kv[1], acc[c][r]);
      }
    }
  }
  for (; d < dim; d += kLanes) {
    VKATTN_UNROLL
    for (int c = 0; c < KEYS; ++c) {
      const Vec16 kv = load16(rows[c] + d);
      VKATTN_UNROLL
      for (int r = 0; r < R; ++r) acc[c][r] = fma16(load16(q + r * dim + d), kv, acc[c][r]);
    }
  }
#if defined(__AVX512F__)
  if constexpr (R * KEYS == 16) {
    Vec16 by_row[16];  // row-major: (r, c) at r * KEYS + c
    for (int r = 0; r < R; ++r) {
      for (int c = 0; c < KEYS; ++c) by_row[r * KEYS + c] = acc[c][r];
    }
    float sums[16];
    store16(sums, tree_sum16(by_row));
    for (int r = 0; r < R; ++r) std::memcpy(scores + r * out_stride, sums + r * KEYS, KEYS * sizeof(float));
    return;
  }
#endif
  for (int c = 0; c < KEYS; ++c) {
    for (int r = 0; r < R; ++r) scores[r * out_stride + c] = tree_sum(acc[c][r]);
  }
}

// Any dimension: the last partial vector padded with zeros, in the same lanes
// at every level.
template <int R, typename T>
static inline void dot_key_any(const float* q, T k, int64_t dim, int64_t out_stride, float* scores) {
  const auto row = resolve(k);
  Vec16 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = Vec16{};
  int64_t d = 0;
  for (; d + kLanes <= dim; d += kLanes) {
    const Vec16 kv = load16(row + d);
    VKATTN_UNROLL
    for (int r = 0; r < R; ++r) acc[r] = fma16(load16(q + r * dim + d), kv, acc[r]);
  }
  if (d < dim) {
    float key_tail[kLanes] = {};
    for (int j = 0; d + j < dim; ++j) key_tail[j] = load_scalar(row + d + j);
    for (int r = 0; r < R; ++r) {
      float tail[kLanes] = {};
      for (int j = 0; d + j < dim; ++j) tail[j] = q[r * dim + d + j];
      acc[r] = fma16(load16(tail), load16(key_tail), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) scores[r * out_stride] = tree_sum(acc[r]);
}

// R query rows (f32, contiguous) against n key rows read straight from the
// tensor (storage type T, `stride` elements apart): each key row is read once
// for all R rows, lanes along the head dimension, four keys at a time so
// 4 * R independent accumulators keep the multiply-add pipeline full and each
// query vector serves four keys. Every key's sum has the same order on every
// path.
template <int R, typename T>
static inline void dot_rows_block(const float* q, T k, int64_t stride, int64_t n, int64_t dim, int64_t out_stride,
                                  float* scores) {
  constexpr int kKeys = blocking_for_rows<R>();
  int64_t c = 0;
  if (dim % kLanes == 0) {
    for (; c + kKeys <= n; c += kKeys) {
      dot_keys_full<R, kKeys>(q, k + c * stride, stride, dim, out_stride, scores + c);
    }
  }
  for (; c < n; ++c) {
    dot_key_any<R>(q, k + c * stride, dim, out_stride, scores + c);
  }
}

template <typename T>
static void dot_rows_typed(const float* q, int64_t rows, T k, int64_t stride, int64_t n, int64_t dim,
                           float* scores) {
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) dot_rows_block<4>(q + r * dim, k, stride, n, dim, n, scores + r * n);
  for (; r < rows; ++r) dot_rows_block<1>(q + r * dim, k, stride, n, dim, n, scores + r * n);
}

static void dot_rows(const float* q, int64_t rows, const void* k, vkattn_dtype dtype, int64_t stride, int64_t n,
                     int64_t dim, float* scores) {
  const uint8_t* bytes = static_cast<const uint8_t*>(k);
  if (dtype == VKATTN_DTYPE_Q8_0) {
    dot_rows_typed(q, rows, Q8Pointer{bytes, 0}, stride, n, dim, scores);
  } else if (dtype == VKATTN_DTYPE_Q4_0) {
    dot_rows_typed(q, rows, Q4Pointer{bytes, 0}, stride, n, dim, scores);
  } else if (dtype == VKATTN_DTYPE_F16) {
    dot_rows_typed(q, rows, static_cast<const uint16_t*>(k), stride, n, dim, scores);
  } else {
    dot_rows_typed(q, rows, static_cast<const float*>(k), stride, n, dim, scores);
  }
}

// out[r] += sum_c p[r * p_stride + c] v[c] (c < n) for R rows and V*16 dims
// whose accumulators stay in registers while the value rows stream by.
// Returns false if a value was NaN or Inf (the caller then redoes the block
// with accumulate_weighted_rows, since 0 * NaN would reach rows that do not
// see that key). `prefetch` elements of rows ahead are requested (the whole
// row on the first pass over a chunk, so the passes over its other dims hit
// the cache).
template <bool PROBE, int R, int V, typename T>
static inline bool accumulate_block(const float* p, int64_t p_stride, int64_t n, T v, int64_t stride,
                                    int64_t dim, int64_t prefetch, float* out) {
  Vec16 acc[R][V] = {};
  // The plain sum of every value: NaN or Inf exactly when some value is (or,
  // harmlessly, when the sum overflows: the caller then takes the slow path).
  Vec16 probe = {};
  for (int64_t c = 0; c < n; ++c) {
    T value = v + c * stride;
    if (prefetch > 0) prefetch_row(value + kPrefetchRows * stride, prefetch);
    const auto row = resolve(value);
    Vec16 x[V];
    for (int u = 0; u + 1 < V; u += 2) load32(row + u * kLanes, &x[u]);
    if (V % 2 == 1) x[V - 1] = load16(row + (V - 1) * kLanes);
    if (PROBE) {
      VKATTN_UNROLL
      for (int u = 0; u < V; ++u) probe += x[u];
    }
    VKATTN_UNROLL
    for (int r = 0; r < R; ++r) {
      const Vec16 weight = splat16(p[r * p_stride + c]);
      VKATTN_UNROLL
      for (int u = 0; u < V; ++u) acc[r][u] = fma16(weight, x[u], acc[r][u]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int u = 0; u < V; ++u) store16(out + r * dim + u * kLanes, load16(out + r * dim + u * kLanes) + acc[r][u]);
  }
  const float total = tree_sum(probe);
  return total - total == 0.0f;
}

// The same for the last width < 16 dims, one lane array at a time.
template <bool PROBE, int R, typename T>
static inline bool accumulate_tail(const float* p, int64_t p_stride, int64_t n, T v, int64_t stride,
                                   int64_t dim, int64_t width, float* out) {
  Vec16 acc[R] = {};
  Vec16 probe = {};
  for (int64_t c = 0; c < n; ++c) {
    float lanes[kLanes] = {};
    const auto row = resolve(v + c * stride);
    for (int j = 0; j < width; ++j) lanes[j] = load_scalar(row + j);
    const Vec16 x = load16(lanes);
    if (PROBE) probe += x;
    VKATTN_UNROLL
    for (int r = 0; r < R; ++r) acc[r] = fma16(splat16(p[r * p_stride + c]), x, acc[r]);
  }
  for (int r = 0; r < R; ++r) {
    float lanes[kLanes];
    store16(lanes, acc[r]);
    for (int j = 0; j < width; ++j) out[r * dim + j] += lanes[j];
  }
  const float total = tree_sum(probe);
  return total - total == 0.0f;
}

// Value rows are consumed in chunks of this many keys, every dim of a chunk
// before the next: the chunk (8 KiB of f16 rows at D=128) is still in L1 when
// the passes over its later dims read it again. (Passes over a whole 256-key
// block re-read 64 KiB from L2 and stalled on it: 34 % of this function's
// samples in a decode profile sat on those loads.)
constexpr int64_t kValueChunk = 32;

template <bool PROBE, int R, typename T>
static bool accumulate_rows(const float* p, int64_t n, T v, int64_t stride, int64_t dim, float* out) {
  bool finite = true;
  for (int64_t c0 = 0; c0 < n; c0 += kValueChunk) {
    const int64_t count = n - c0 < kValueChunk ? n - c0 : kValueChunk;
    const float* weights = p + c0;
    T values = v + c0 * stride;
    constexpr int kVectors = blocking_for_rows<R>();
    int64_t d0 = 0;
    for (; d0 + kVectors * kLanes <= dim; d0 += kVectors * kLanes) {
      finite &= accumulate_block<PROBE, R, kVectors>(weights, n, count, values + d0, stride, dim,
                                                     d0 == 0 ? dim : 0, out + d0);
    }
    if (kVectors > 2 && d0 + 2 * kLanes <= dim) {
      finite &= accumulate_block<PROBE, R, 2>(weights, n, count, values + d0, stride, dim, d0 == 0 ? dim : 0, out + d0);
      d0 += 2 * kLanes;
    }
    if (kVectors > 1 && d0 + kLanes <= dim) {
      finite &= accumulate_block<PROBE, R, 1>(weights, n, count, values + d0, stride, dim, d0 == 0 ? dim : 0, out + d0);
      d0 += kLanes;
    }
    if (d0 < dim) {
      finite &= accumulate_tail<PROBE, R>(weights, n, count, values + d0, stride, dim, dim - d0, out + d0);
    }
  }
  return finite;
}

template <bool PROBE, typename T>
static bool accumulate_products_typed(const float* p, int64_t rows, int64_t n, T v, int64_t stride,
                                      int64_t dim, float* out) {
  bool finite = true;
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    finite &= accumulate_rows<PROBE, 4>(p + r * n, n, v, stride, dim, out + r * dim);
  }
  for (; r < rows; ++r) {
    finite &= accumulate_rows<PROBE, 1>(p + r * n, n, v, stride, dim, out + r * dim);
  }
  return finite;
}

// Only a zero weight can hide a value from a row; without one, NaN or Inf
// values reach every row as IEEE arithmetic says, so no check is needed.
// Whether some of the `count` weights (all >= 0) is exactly 0.
static bool has_zero_weight(const float* p, int64_t count) {
  float lane_min[kLanes];
  for (int j = 0; j < kLanes; ++j) lane_min[j] = 1.0f;
  int64_t i = 0;
  for (; i + kLanes <= count; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) lane_min[j] = p[i + j] < lane_min[j] ? p[i + j] : lane_min[j];
  }
  for (; i < count; ++i) lane_min[0] = p[i] < lane_min[0] ? p[i] : lane_min[0];
  bool zero_weight = false;
  for (int j = 0; j < kLanes; ++j) zero_weight |= lane_min[j] == 0.0f;
  return zero_weight;
}

static bool accumulate_products(const float* p, int64_t rows, int64_t n, const void* v, vkattn_dtype dtype,
                                int64_t stride, int64_t dim, float* out) {
  const bool zero_weight = has_zero_weight(p, rows * n);
  const uint8_t* bytes = static_cast<const uint8_t*>(v);
  if (dtype == VKATTN_DTYPE_Q8_0) {
    const Q8Pointer values{bytes, 0};
    return zero_weight ? accumulate_products_typed<true>(p, rows, n, values, stride, dim, out)
                       : accumulate_products_typed<false>(p, rows, n, values, stride, dim, out);
  }
  if (dtype == VKATTN_DTYPE_Q4_0) {
    const Q4Pointer values{bytes, 0};
    return zero_weight ? accumulate_products_typed<true>(p, rows, n, values, stride, dim, out)
                       : accumulate_products_typed<false>(p, rows, n, values, stride, dim, out);
  }
  if (dtype == VKATTN_DTYPE_F16) {
    const uint16_t* values = static_cast<const uint16_t*>(v);
    return zero_weight ? accumulate_products_typed<true>(p, rows, n, values, stride, dim, out)
                       : accumulate_products_typed<false>(p, rows, n, values, stride, dim, out);
  }
  const float* values = static_cast<const float*>(v);
  return zero_weight ? accumulate_products_typed<true>(p, rows, n, values, stride, dim, out)
                     : accumulate_products_typed<false>(p, rows, n, values, stride, dim, out);
}

template <typename T>
static void accumulate_weighted_typed(const float* p, int64_t rows, int64_t n, T v, int64_t stride,
                                      int64_t dim, float* out) {
  for (int64_t c = 0; c < n; ++c) {
    const auto value = resolve(v + c * stride);
    for (int64_t r = 0; r < rows; ++r) {
      const float weight = p[r * n + c];
      if (weight == 0.0f) continue;
      float* acc = out + r * dim;
      for (int64_t d = 0; d < dim; ++d) acc[d] += weight * static_cast<float>(load_scalar(value + d));
    }
  }
}

static void accumulate_weighted_rows(const float* p, int64_t rows, int64_t n, const void* v, vkattn_dtype dtype,
                                     int64_t stride, int64_t dim, float* out) {
  const uint8_t* bytes = static_cast<const uint8_t*>(v);
  if (dtype == VKATTN_DTYPE_Q8_0) {
    accumulate_weighted_typed(p, rows, n, Q8Pointer{bytes, 0}, stride, dim, out);
  } else if (dtype == VKATTN_DTYPE_Q4_0) {
    accumulate_weighted_typed(p, rows, n, Q4Pointer{bytes, 0}, stride, dim, out);
  } else if (dtype == VKATTN_DTYPE_F16) {
    accumulate_weighted_typed(p, rows, n, static_cast<const uint16_t*>(v), stride, dim, out);
  } else {
    accumulate_weighted_typed(p, rows, n, static_cast<const float*>(v), stride, dim, out);
  }
}

// The same three products over gathered rows (kGatherStride apart in the
// templates' index space).
static void dot_rows_gather(const float* q, int64_t rows, const uint8_t* const* k, vkattn_dtype dtype, int64_t n,
                            int64_t dim, float* scores) {
  if (dtype == VKATTN_DTYPE_Q8_0) {
    dot_rows_typed(q, rows, GatherPointer<Q8Pointer>{k, 0}, kGatherStride, n, dim, scores);
  } else if (dtype == VKATTN_DTYPE_Q4_0) {
    dot_rows_typed(q, rows, GatherPointer<Q4Pointer>{k, 0}, kGatherStride, n, dim, scores);
  } else if (dtype == VKATTN_DTYPE_F16) {
    dot_rows_typed(q, rows, GatherPointer<const uint16_t*>{k, 0}, kGatherStride, n, dim, scores);
  } else {
    dot_rows_typed(q, rows, GatherPointer<const float*>{k, 0}, kGatherStride, n, dim, scores);
  }
}

template <typename E>
static bool accumulate_gathered(const float* p, int64_t rows, int64_t n, GatherPointer<E> values, int64_t dim,
                                float* out, bool zero_weight) {
  return zero_weight ? accumulate_products_typed<true>(p, rows, n, values, kGatherStride, dim, out)
                     : accumulate_products_typed<false>(p, rows, n, values, kGatherStride, dim, out);
}

static bool accumulate_products_gather(const float* p, int64_t rows, int64_t n, const uint8_t* const* v,
                                       vkattn_dtype dtype, int64_t dim, float* out) {
  const bool zero_weight = has_zero_weight(p, rows * n);
  if (dtype == VKATTN_DTYPE_Q8_0) {
    return accumulate_gathered(p, rows, n, GatherPointer<Q8Pointer>{v, 0}, dim, out, zero_weight);
  }
  if (dtype == VKATTN_DTYPE_Q4_0) {
    return accumulate_gathered(p, rows, n, GatherPointer<Q4Pointer>{v, 0}, dim, out, zero_weight);
  }
  if (dtype == VKATTN_DTYPE_F16) {
    return accumulate_gathered(p, rows, n, GatherPointer<const uint16_t*>{v, 0}, dim, out, zero_weight);
  }
  return accumulate_gathered(p, rows, n, GatherPointer<const float*>{v, 0}, dim, out, zero_weight);
}

static void accumulate_weighted_rows_gather(const float* p, int64_t rows, int64_t n, const uint8_t* const* v,
                                            vkattn_dtype dtype, int64_t dim, float* out) {
  if (dtype == VKATTN_DTYPE_Q8_0) {
    accumulate_weighted_typed(p, rows, n, GatherPointer<Q8Pointer>{v, 0}, kGatherStride, dim, out);
  } else if (dtype == VKATTN_DTYPE_Q4_0) {
    accumulate_weighted_typed(p, rows, n, GatherPointer<Q4Pointer>{v, 0}, kGatherStride, dim, out);
  } else if (dtype == VKATTN_DTYPE_F16) {
    accumulate_weighted_typed(p, rows, n, GatherPointer<const uint16_t*>{v, 0}, kGatherStride, dim, out);
  } else {
    accumulate_weighted_typed(p, rows, n, GatherPointer<const float*>{v, 0}, kGatherStride, dim, out);
  }
}

extern const RowOps kRowOps;
const RowOps kRowOps = {VKATTN_ISA_NAME,          exp_nonpositive,     softmax_step,
                        scale_row,                exp_shifted_row,     elu_plus_one_row,
                        add_row,                  add_scaled_row,
                        load_row,                 load_row_check_finite, store_row,
                        dot_rows,                 accumulate_products, accumulate_weighted_rows,
                        dot_rows_gather,          accumulate_products_gather, accumulate_weighted_rows_gather};

}  // namespace VKATTN_ISA
}  // namespace cpu
}  // namespace vkattn
