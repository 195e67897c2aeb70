#include "append_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <sstream>

#include "f16.h"
#include "quant_blocks.h"
#include "reference.h"
#include "tolerance.h"

namespace vkattn_test {

namespace {

constexpr int kBlock = 32;

bool is_block(vkattn_dtype dtype) { return dtype == VKATTN_DTYPE_Q8_0 || dtype == VKATTN_DTYPE_Q4_0; }

uint64_t block_bytes(vkattn_dtype dtype) { return dtype == VKATTN_DTYPE_Q8_0 ? 34 : 18; }

const char* kind_name(CacheKind kind) { return kind == CacheKind::kKeys ? "K" : "V"; }

const char* dtype_word(vkattn_dtype dtype) {
  switch (dtype) {
    case VKATTN_DTYPE_F32: return "f32";
    case VKATTN_DTYPE_F16: return "f16";
    case VKATTN_DTYPE_Q8_0: return "q8_0";
    case VKATTN_DTYPE_Q4_0: return "q4_0";
  }
  return "?";
}

const vkattn_tensor_layout& source_layout(const vkattn_append_desc& desc, CacheKind kind) {
  return kind == CacheKind::kKeys ? desc.k_src_layout : desc.v_src_layout;
}

const vkattn_tensor_layout& cache_layout(const vkattn_append_desc& desc, CacheKind kind) {
  return kind == CacheKind::kKeys ? desc.k_layout : desc.v_layout;
}

uint64_t element_of(const vkattn_tensor_layout& layout, int64_t outer, int64_t head, int64_t row) {
  return layout.offset + static_cast<uint64_t>(outer * layout.batch_stride + head * layout.head_stride +
                                               row * layout.seq_stride);
}

// splitmix64
uint64_t next_random(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double unit_random(uint64_t* state) {
  return static_cast<double>(next_random(state) >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

uint32_t float_bits(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  return bits;
}

bool f16_is_nan(uint16_t bits) { return (bits & 0x7c00) == 0x7c00 && (bits & 0x3ff) != 0; }

// The f32 unit in the last place at |x| (x normal).
double f32_ulp(double x) {
  int exponent = 0;
  std::frexp(std::fabs(x), &exponent);  // |x| = m 2^exponent, m in [0.5, 1)
  return std::ldexp(1.0, exponent - 24);
}

// Collects the first few failures of a check and counts the rest.
class Failures {
 public:
  template <typename F>
  void add(F describe) {
    ++count_;
    if (count_ <= 12) {
      std::ostringstream line;
      line.precision(9);
      describe(line);
      text_ += line.str() + "\n";
    }
  }
  bool any() const { return count_ > 0; }
  std::string text() const {
    if (count_ <= 12) return text_;
    return text_ + "... and " + std::to_string(count_ - 12) + " more\n";
  }

 private:
  uint64_t count_ = 0;
  std::string text_;
};

std::string where(CacheKind kind, const ReferenceRow& row) {
  std::ostringstream s;
  s << kind_name(kind) << " cache row of batch " << row.batch << " head " << row.head << " token " << row.token
    << " (position " << row.position << ")";
  return s.str();
}

// The interval of stored f16 values some value in [ref - e, ref + e] rounds to.
void f16_interval(double ref, double e, double* lo, double* hi) {
  *lo = decode_f16(encode_f16(ref - e));
  *hi = decode_f16(encode_f16(ref + e));
}

void check_float_row(CacheKind kind, vkattn_dtype dtype, const ReferenceRow& row, const uint8_t* bytes,
                     CacheCheck* result, Failures* failures) {
  const int64_t dim = static_cast<int64_t>(row.values.size());
  for (int64_t d = 0; d < dim; ++d) {
    const double ref = row.values[static_cast<size_t>(d)];
    const double e = row.errors[static_cast<size_t>(d)];
    ++result->values;
    if (dtype == VKATTN_DTYPE_F32) {
      float got;
      std::memcpy(&got, bytes + 4 * d, 4);
      bool ok;
      if (std::isnan(ref)) {
        ok = std::isnan(got);
      } else if (std::isinf(ref)) {
        ok = static_cast<double>(got) == ref;
      } else if (e == 0.0) {
        ok = float_bits(got) == float_bits(static_cast<float>(ref));
      } else {
        const double error = std::fabs(static_cast<double>(got) - ref);
        ok = error <= e;
        result->worst = std::max(result->worst, error / e);
      }
      if (!ok) {
        failures->add([&](std::ostream& s) {
          s << where(kind, row) << " value " << d << ": f32 cache holds " << got << " (0x" << std::hex
            << float_bits(got) << std::dec << "), expected " << ref << (e > 0 ? " within " : "")
            << (e > 0 ? std::to_string(e) : std::string());
        });
      }
    } else {
      const uint16_t got = static_cast<uint16_t>(bytes[2 * d] | (bytes[2 * d + 1] << 8));
      bool ok;
      std::string expected;
      if (std::isnan(ref)) {
        ok = f16_is_nan(got);
        expected = "NaN";
      } else if (e == 0.0 || std::isinf(ref)) {
        const uint16_t want = encode_f16(ref);
        ok = got == want;
        char text[64];
        std::snprintf(text, sizeof(text), "0x%04x (%.9g)", want, decode_f16(want));
        expected = text;
      } else {
        double lo = 0.0, hi = 0.0;
        f16_interval(ref, e, &lo, &hi);
        const double value = decode_f16(got);
        ok = value >= lo && value <= hi;
        char text[128];
        std::snprintf(text, sizeof(text), "in [%.9g, %.9g] (reference %.9g +- %.3g)", lo, hi, ref, e);
        expected = text;
      }
      if (!ok) {
        failures->add([&](std::ostream& s) {
          char text[32];
          std::snprintf(text, sizeof(text), "0x%04x", got);
          s << where(kind, row) << " value " << d << ": f16 cache holds " << text << " (" << decode_f16(got)
            << "), expected " << expected;
        });
      }
    }
  }
}

// Code j of a block (q8_0: int8; q4_0: the nibble, 0..15).
int block_code(vkattn_dtype dtype, const uint8_t* block, int j) {
  if (dtype == VKATTN_DTYPE_Q8_0) return static_cast<int8_t>(block[2 + j]);
  return j < 16 ? (block[2 + j] & 0x0f) : (block[2 + j - 16] >> 4);
}

std::string block_hex(const uint8_t* block, uint64_t bytes) {
  std::string s;
  char text[4];
  for (uint64_t i = 0; i < bytes; ++i) {
    std::snprintf(text, sizeof(text), "%02x", block[i]);
    s += text;
  }
  return s;
}

// One block whose reference values are exact floats (no rotation).
void check_exact_block(CacheKind kind, vkattn_dtype dtype, const ReferenceRow& row, int64_t block_index,
                       const uint8_t* block, AppendExactness exactness, CacheCheck* result, Failures* failures) {
  const uint64_t bytes = block_bytes(dtype);
  float x[kBlock];
  for (int j = 0; j < kBlock; ++j) x[j] = static_cast<float>(row.values[static_cast<size_t>(block_index * kBlock + j)]);
  bool finite = true;
  for (int j = 0; j < kBlock; ++j) finite = finite && std::isfinite(x[j]);
  result->values += kBlock;
  result->codes += kBlock;
  std::vector<uint8_t> want(bytes, 0);
  if (!finite) {
    want[0] = 0x00;
    want[1] = 0x7e;
  } else if (vkattn_quantize(dtype, x, kBlock, want.data()) != VKATTN_SUCCESS) {
    failures->add([&](std::ostream& s) { s << "vkattn_quantize failed: " << vkattn_last_error(); });
    return;
  }
  if (std::memcmp(want.data(), block, bytes) == 0) return;
  auto report = [&](const char* why) {
    failures->add([&](std::ostream& s) {
      s << where(kind, row) << " " << dtype_word(dtype) << " block " << block_index << ": " << why << ": holds "
        << block_hex(block, bytes) << ", expected " << block_hex(want.data(), bytes);
    });
  };
  if (exactness == AppendExactness::kHost || !finite) {
    report("not the bytes vkattn_quantize writes");
    return;
  }
  // A device: the scale must be the host's; a code may be one away where
  // x / d is within a few ulps of the rounding boundary.
  if (block[0] != want[0] || block[1] != want[1]) {
    report("scale differs from vkattn_quantize's");
    return;
  }
  float d;
  if (dtype == VKATTN_DTYPE_Q8_0) {
    float amax = 0.0f;
    for (int j = 0; j < kBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
    d = amax / 127;
  } else {
    float amax = 0.0f, xm = 0.0f;
    for (int j = 0; j < kBlock; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        xm = x[j];
      }
    }
    d = xm / -8;
  }
  for (int j = 0; j < kBlock; ++j) {
    const int got = block_code(dtype, block, j), expected = block_code(dtype, want.data(), j);
    if (got == expected) continue;
    // x / d, and for q4_0 its offset + 8.5: the rounding happens where this
    // crosses k + 1/2 (q8_0) or an integer (q4_0).
    const double v = d != 0.0f ? static_cast<double>(x[j]) / d + (dtype == VKATTN_DTYPE_Q8_0 ? 0.0 : 8.5) : 0.0;
    const double boundary = dtype == VKATTN_DTYPE_Q8_0 ? std::floor(v) + 0.5 : std::round(v);
    const bool at_boundary = std::fabs(v - boundary) <= 4.0 * f32_ulp(std::max(std::fabs(v), 0.5));
    if (std::abs(got - expected) == 1 && at_boundary) {
      ++result->codes_off_by_one;
      continue;
    }
    failures->add([&](std::ostream& s) {
      s << where(kind, row) << " " << dtype_word(dtype) << " block " << block_index << " code " << j << ": holds "
        << got << ", vkattn_quantize writes " << expected << " (x = " << x[j] << ", x / d"
        << (dtype == VKATTN_DTYPE_Q8_0 ? "" : " + 8.5") << " = " << v << ", not at a rounding boundary)";
    });
  }
}

// One block of rotated keys: the values carry the f32 rotation's error.
void check_rotated_block(CacheKind kind, vkattn_dtype dtype, const ReferenceRow& row, int64_t block_index,
                         const uint8_t* block, CacheCheck* result, Failures* failures) {
  const double* r = &row.values[static_cast<size_t>(block_index * kBlock)];
  const double* e = &row.errors[static_cast<size_t>(block_index * kBlock)];
  const uint64_t bytes = block_bytes(dtype);
  result->values += kBlock;
  result->codes += kBlock;
  bool finite = true;
  for (int j = 0; j < kBlock; ++j) finite = finite && std::isfinite(r[j]);
  if (!finite) {
    std::vector<uint8_t> want(bytes, 0);
    want[1] = 0x7e;
    if (std::memcmp(want.data(), block, bytes) != 0) {
      failures->add([&](std::ostream& s) {
        s << where(kind, row) << " " << dtype_word(dtype) << " block " << block_index
          << " holds a non-finite value: expected a NaN scale and zero codes " << block_hex(want.data(), bytes)
          << ", got " << block_hex(block, bytes);
      });
    }
    return;
  }
  // The largest magnitude, as the f32 values may have it.
  double amax_lo = 0.0, amax_hi = 0.0;
  for (int j = 0; j < kBlock; ++j) {
    amax_lo = std::max(amax_lo, std::fabs(r[j]) - e[j]);
    amax_hi = std::max(amax_hi, std::fabs(r[j]) + e[j]);
  }
  const double divisor = dtype == VKATTN_DTYPE_Q8_0 ? 127.0 : 8.0;
  // The f32 scale: within a few f32 roundings (and the device's division) of amax / divisor.
  const double d_lo = amax_lo / divisor * (1.0 - 1e-6), d_hi = amax_hi / divisor * (1.0 + 1e-6);
  const uint16_t scale_bits = static_cast<uint16_t>(block[0] | (block[1] << 8));
  const double scale = decode_f16(scale_bits);
  const double stored_lo = decode_f16(encode_f16(d_lo)), stored_hi = decode_f16(encode_f16(d_hi));
  bool scale_ok = std::fabs(scale) >= stored_lo && std::fabs(scale) <= stored_hi;
  if (dtype == VKATTN_DTYPE_Q8_0) {
    scale_ok = scale_ok && !std::signbit(scale);
  } else if (scale != 0.0) {
    // d = x_m / -8: x_m, a value of largest magnitude, has the other sign.
    bool sign_ok = false;
    for (int j = 0; j < kBlock; ++j) {
      const bool candidate = std::fabs(r[j]) + e[j] >= amax_lo;
      sign_ok = sign_ok || (candidate && (r[j] * scale <= 0.0 || std::fabs(r[j]) <= e[j]));
    }
    scale_ok = scale_ok && sign_ok;
  }
  if (!scale_ok) {
    failures->add([&](std::ostream& s) {
      s << where(kind, row) << " " << dtype_word(dtype) << " block " << block_index << ": scale " << scale
        << " is outside [" << stored_lo << ", " << stored_hi << "] (max |x| in [" << amax_lo << ", " << amax_hi
        << "])";
    });
    return;
  }
  // How far the stored f16 scale may be from the f32 scale the codes were made with.
  const double scale_error = std::max(std::fabs(std::fabs(scale) - d_lo), std::fabs(std::fabs(scale) - d_hi));
  for (int j = 0; j < kBlock; ++j) {
    const int code = block_code(dtype, block, j);
    const int steps = dtype == VKATTN_DTYPE_Q8_0 ? code : code - 8;
    const double value = steps * scale;
    // Rounding to the nearest code is half a step; q4_0's clamp at 15 (the
    // opposite of x_m) costs a whole step.
    const double rounding = (dtype == VKATTN_DTYPE_Q4_0 && code == 15 ? 1.0 : 0.5) * d_hi * (1.0 + 1e-4);
    const double allowed = std::abs(steps) * scale_error + rounding + e[j] + 1e-30;
    const double error = std::fabs(value - r[j]);
    result->worst = std::max(result->worst, error / allowed);
    if (error > allowed) {
      failures->add([&](std::ostream& s) {
        s << where(kind, row) << " " << dtype_word(dtype) << " block " << block_index << " value " << j
          << ": code " << code << " x scale " << scale << " = " << value << ", reference " << r[j] << ", error "
          << error << " > allowed " << allowed;
      });
    }
  }
}

}  // namespace

vkattn_dtype cache_dtype(const vkattn_append_desc& desc, CacheKind kind) {
  const vkattn_dtype type = kind == CacheKind::kKeys ? desc.k_dtype : desc.v_dtype;
  return static_cast<int>(type) == 0 ? desc.src_dtype : type;
}

int64_t head_dim(const vkattn_append_desc& desc, CacheKind kind) {
  return kind == CacheKind::kKeys ? desc.qk_dim : desc.v_dim;
}

uint64_t view_extent(const vkattn_tensor_layout& layout, int64_t outer, int64_t heads, int64_t rows, int64_t dim) {
  return layout.offset + static_cast<uint64_t>((outer - 1) * layout.batch_stride + (heads - 1) * layout.head_stride +
                                               (rows - 1) * layout.seq_stride + dim);
}

uint64_t source_extent(const vkattn_append_desc& desc, CacheKind kind) {
  return view_extent(source_layout(desc, kind), desc.batch, desc.kv_heads, desc.new_tokens, head_dim(desc, kind));
}

uint64_t cache_extent(const vkattn_append_desc& desc, CacheKind kind) {
  const bool paged = desc.page_size > 0;
  return view_extent(cache_layout(desc, kind), paged ? desc.num_pages : desc.batch, desc.kv_heads,
                     paged ? desc.page_size : desc.kv_len, head_dim(desc, kind));
}

uint64_t storage_bytes(vkattn_dtype dtype, uint64_t elements) {
  if (is_block(dtype)) return elements / kBlock * block_bytes(dtype);
  return elements * (dtype == VKATTN_DTYPE_F16 ? 2 : 4);
}

uint64_t storage_byte(vkattn_dtype dtype, uint64_t element) { return storage_bytes(dtype, element); }

void fill_sources(AppendData* data, uint64_t seed, double magnitude) {
  const vkattn_append_desc& desc = data->desc;
  uint64_t state = seed;
  for (CacheKind kind : {CacheKind::kKeys, CacheKind::kValues}) {
    std::vector<float>& values = kind == CacheKind::kKeys ? data->k_src : data->v_src;
    values.assign(source_extent(desc, kind), std::numeric_limits<float>::quiet_NaN());
    const vkattn_tensor_layout& layout = source_layout(desc, kind);
    for (int64_t b = 0; b < desc.batch; ++b) {
      for (int64_t h = 0; h < desc.kv_heads; ++h) {
        for (int64_t t = 0; t < desc.new_tokens; ++t) {
          const uint64_t first = element_of(layout, b, h, t);
          for (int64_t d = 0; d < head_dim(desc, kind); ++d) {
            float x = static_cast<float>(unit_random(&state) * magnitude);
            if (desc.src_dtype == VKATTN_DTYPE_F16) x = round_to_f16(x);
            values[first + static_cast<uint64_t>(d)] = x;
          }
        }
      }
    }
  }
}

void plant_rounding_ties(AppendData* data, CacheKind kind) {
  const vkattn_append_desc& desc = data->desc;
  const vkattn_dtype type = cache_dtype(desc, kind);
  const int64_t dim = head_dim(desc, kind);
  const bool f16_source = desc.src_dtype == VKATTN_DTYPE_F16;
  std::vector<float>& values = kind == CacheKind::kKeys ? data->k_src : data->v_src;
  const vkattn_tensor_layout& layout = source_layout(desc, kind);
  // f16 ties (f32 sources only: an f16 source holds no tie), each with the
  // f16 value it must round to noted: 1 + 2^-11 -> 1 (even), 1 + 3 x 2^-11
  // -> 1 + 2^-9, 2^-25 -> 0, 3 x 2^-25 -> 2^-23, 5 x 2^-25 -> 2^-23, the
  // smallest normal's tie, 65519 -> 65504, 65520 -> inf, 1 - 2^-12 -> 1.
  const float f16_ties[] = {1.0f + 0x1p-11f, 1.0f + 0x3p-11f, 0x1p-25f,     0x3p-25f,
                            0x5p-25f,        0x1p-14f + 0x1p-25f, 65519.0f, 65520.0f,
                            1.0f - 0x1p-12f, 1024.0f + 0.5f,  2049.0f,     0x1.002p0f * 0x1p-14f};
  uint64_t state = 0xfeed;
  int64_t row_index = 0;
  for (int64_t b = 0; b < desc.batch; ++b) {
    for (int64_t h = 0; h < desc.kv_heads; ++h) {
      for (int64_t t = 0; t < desc.new_tokens; ++t, ++row_index) {
        float* row = &values[element_of(layout, b, h, t)];
        const float scale = std::ldexp(1.0f, static_cast<int>(next_random(&state) % 9) - 4);  // 2^-4 .. 2^4
        for (int64_t d = 0; d < dim; ++d) {
          const int64_t j = d % kBlock;
          const float sign = (next_random(&state) & 1) ? -1.0f : 1.0f;
          float x;
          if (type == VKATTN_DTYPE_F16 && !f16_source) {
            x = sign * f16_ties[(d + row_index) % 12];
          } else if (type == VKATTN_DTYPE_Q8_0) {
            // d = 127 s / 127 = s exactly; codes of x = (k + 1/2) s are k + 1 away from zero.
            x = j == 0 ? 127.0f * scale : sign * (static_cast<float>((j * 5 + row_index) % 127) + 0.5f) * scale;
          } else if (type == VKATTN_DTYPE_Q4_0) {
            // x_m = -8 s first, d = s; x = (k - 8.5) s gives x / d + 8.5 = k exactly.
            x = j == 0 ? -8.0f * scale
                       : (j == 1 ? 8.0f * scale : (static_cast<float>((j * 3 + row_index) % 17) - 8.5f) * scale);
            if (j != 0 && j != 1 && x < -8.0f * scale) x = -7.5f * scale;
          } else {
            x = sign * f16_ties[(d + row_index) % 12];
          }
          row[d] = f16_source ? round_to_f16(x) : x;
        }
      }
    }
  }
}

std::vector<uint8_t> source_bytes(const AppendData& data, CacheKind kind) {
  const std::vector<float>& values = kind == CacheKind::kKeys ? data.k_src : data.v_src;
  std::vector<uint8_t> bytes;
  if (data.desc.src_dtype == VKATTN_DTYPE_F16) {
    bytes.resize(values.size() * 2);
    for (size_t i = 0; i < values.size(); ++i) {
      const uint16_t bits = encode_f16(values[i]);
      bytes[2 * i] = static_cast<uint8_t>(bits & 0xff);
      bytes[2 * i + 1] = static_cast<uint8_t>(bits >> 8);
    }
  } else {
    bytes.resize(values.size() * 4);
    if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  }
  return bytes;
}

void rope_rotate(const vkattn_rope& rope, int64_t dim, int64_t position, double* x) {
  if (rope.style == VKATTN_ROPE_NONE) return;
  const int64_t r = rope.dims != 0 ? rope.dims : dim;
  // The angle in long double (64-bit significand on x86), so that it stays
  // exact to far below f32's resolution at positions up to 2^31.
  const long double theta = rope.theta != 0.0f ? static_cast<long double>(rope.theta) : 10000.0L;
  for (int64_t p = 0; p < r / 2; ++p) {
    const long double angle = static_cast<long double>(position) *
                              std::pow(theta, -2.0L * static_cast<long double>(p) / static_cast<long double>(r));
    const double c = static_cast<double>(std::cos(angle)), s = static_cast<double>(std::sin(angle));
    const int64_t first = rope.style == VKATTN_ROPE_NEOX ? p : 2 * p;
    const int64_t second = rope.style == VKATTN_ROPE_NEOX ? p + r / 2 : 2 * p + 1;
    const double a = x[first], b = x[second];
    x[first] = a * c - b * s;
    x[second] = a * s + b * c;
  }
}

std::vector<ReferenceRow> reference_append(const AppendData& data, CacheKind kind) {
  const vkattn_append_desc& desc = data.desc;
  const int64_t dim = head_dim(desc, kind);
  const bool rotate = kind == CacheKind::kKeys && desc.rope.style != VKATTN_ROPE_NONE;
  const int64_t rotated_dims = rotate ? (desc.rope.dims != 0 ? desc.rope.dims : dim) : 0;
  const std::vector<float>& src = kind == CacheKind::kKeys ? data.k_src : data.v_src;
  const vkattn_tensor_layout& src_layout = source_layout(desc, kind);
  const vkattn_tensor_layout& layout = cache_layout(desc, kind);
  std::vector<ReferenceRow> rows;
  for (int64_t b = 0; b < desc.batch; ++b) {
    for (int64_t h = 0; h < desc.kv_heads; ++h) {
      for (int64_t t = 0; t < desc.new_tokens; ++t) {
        ReferenceRow row;
        row.batch = b;
        row.head = h;
        row.token = t;
        row.position = data.positions[static_cast<size_t>(b)] + t;
        if (desc.page_size > 0) {
          const int32_t page = data.block_table[static_cast<size_t>(b * desc.max_pages + row.position / desc.page_size)];
          row.element = element_of(layout, page, h, row.position % desc.page_size);
        } else {
          row.element = element_of(layout, b, h, row.position);
        }
        const uint64_t first = element_of(src_layout, b, h, t);
        row.values.resize(static_cast<size_t>(dim));
        row.errors.assign(static_cast<size_t>(dim), 0.0);
        for (int64_t d = 0; d < dim; ++d) row.values[static_cast<size_t>(d)] = src[first + static_cast<uint64_t>(d)];
        if (rotate) {
          rope_rotate(desc.rope, dim, row.position, row.values.data());
          for (int64_t p = 0; p < rotated_dims / 2; ++p) {
            const int64_t a = desc.rope.style == VKATTN_ROPE_NEOX ? p : 2 * p;
            const int64_t c = desc.rope.style == VKATTN_ROPE_NEOX ? p + rotated_dims / 2 : 2 * p + 1;
            const double norm = std::hypot(row.values[static_cast<size_t>(a)], row.values[static_cast<size_t>(c)]);
            // A pair of zeros stays exactly zero; give it the smallest bound.
            const double e = std::max(kRopeRelativeError * norm, 1e-37);
            row.errors[static_cast<size_t>(a)] = e;
            row.errors[static_cast<size_t>(c)] = e;
          }
        }
        rows.push_back(std::move(row));
      }
    }
  }
  return rows;
}

CacheCheck check_cache_buffer(const AppendData& data, const std::vector<CacheKind>& caches,
                              const std::vector<uint8_t>& before, const std::vector<uint8_t>& after,
                              AppendExactness exactness) {
  CacheCheck result;
  Failures failures;
  if (before.size() != after.size()) {
    result.failure = "the buffer's size changed between the two reads";
    return result;
  }
  std::vector<char> written(after.size(), 0);
  for (CacheKind kind : caches) {
    const vkattn_dtype dtype = cache_dtype(data.desc, kind);
    const int64_t dim = head_dim(data.desc, kind);
    const uint64_t row_bytes = storage_bytes(dtype, static_cast<uint64_t>(dim));
    for (const ReferenceRow& row : reference_append(data, kind)) {
      const uint64_t start = storage_byte(dtype, row.element);
      if (start + row_bytes > after.size()) {
        failures.add([&](std::ostream& s) { s << where(kind, row) << " lies beyond the buffer (test setup)"; });
        continue;
      }
      for (uint64_t i = start; i < start + row_bytes; ++i) {
        if (written[i]) {
          failures.add([&](std::ostream& s) { s << where(kind, row) << " overlaps another written row (test setup)"; });
          break;
        }
        written[i] = 1;
      }
      const uint8_t* bytes = after.data() + start;
      if (!is_block(dtype)) {
        check_float_row(kind, dtype, row, bytes, &result, &failures);
        continue;
      }
      for (int64_t block = 0; block < dim / kBlock; ++block) {
        const uint8_t* at = bytes + static_cast<uint64_t>(block) * block_bytes(dtype);
        bool rotated = false;
        for (int j = 0; j < kBlock; ++j) rotated = rotated || row.errors[static_cast<size_t>(block * kBlock + j)] > 0.0;
        if (rotated) {
          check_rotated_block(kind, dtype, row, block, at, &result, &failures);
        } else {
          check_exact_block(kind, dtype, row, block, at, exactness, &result, &failures);
        }
      }
    }
  }
  for (uint64_t i = 0; i < after.size(); ++i) {
    if (written[i]) continue;
    ++result.untouched_bytes;
    if (after[i] != before[i]) {
      failures.add([&](std::ostream& s) {
        char text[96];
        std::snprintf(text, sizeof(text), "byte %llu, written by no row, changed from 0x%02x to 0x%02x",
                      (unsigned long long)i, before[i], after[i]);
        s << text;
      });
    }
  }
  if (failures.any()) result.failure = failures.text();
  return result;
}

std::vector<uint8_t> fill_pattern(uint64_t bytes) {
  std::vector<uint8_t> fill(bytes);
  for (uint64_t i = 0; i < bytes; ++i) fill[i] = static_cast<uint8_t>(0xa5 ^ ((i * 37) & 0x5a));
  return fill;
}

AppendRunner::AppendRunner(vkattn_context context, const vkattn_append_desc& desc, const AppendBufferOptions& options)
    : context_(context), options_(options) {
  if (vkattn_append_plan_create(context, &desc, 0, &plan_) != VKATTN_SUCCESS) {
    fail("vkattn_append_plan_create");
    return;
  }
  const uint64_t k_src_bytes = storage_bytes(desc.src_dtype, source_extent(desc, CacheKind::kKeys));
  const uint64_t v_src_bytes = storage_bytes(desc.src_dtype, source_extent(desc, CacheKind::kValues));
  k_bytes_ = storage_bytes(cache_dtype(desc, CacheKind::kKeys), cache_extent(desc, CacheKind::kKeys));
  v_bytes_ = storage_bytes(cache_dtype(desc, CacheKind::kValues), cache_extent(desc, CacheKind::kValues));
  auto create = [&](uint64_t bytes, vkattn_buffer* out) {
    return vkattn_buffer_create(context, bytes + options.guard_bytes, 0, out) == VKATTN_SUCCESS;
  };
  bool created;
  if (options.shared_sources) {
    created = create(std::max(k_src_bytes, v_src_bytes), &k_src_);
    v_src_ = k_src_;
  } else {
    created = create(k_src_bytes, &k_src_) && create(v_src_bytes, &v_src_);
  }
  if (!created) {
    fail("vkattn_buffer_create (sources)");
    return;
  }
  if (options.shared_caches) {
    k_bytes_ = v_bytes_ = std::max(k_bytes_, v_bytes_);
    created = create(k_bytes_, &k_cache_);
    v_cache_ = k_cache_;
  } else {
    created = create(k_bytes_, &k_cache_) && create(v_bytes_, &v_cache_);
  }
  if (!created) {
    fail("vkattn_buffer_create (caches)");
    return;
  }
  k_bytes_ += options.guard_bytes;
  v_bytes_ += options.guard_bytes;
  ready_ = true;
}

AppendRunner::~AppendRunner() {
  if (v_src_ != k_src_) vkattn_buffer_destroy(v_src_);
  vkattn_buffer_destroy(k_src_);
  if (v_cache_ != k_cache_) vkattn_buffer_destroy(v_cache_);
  vkattn_buffer_destroy(k_cache_);
  vkattn_plan_destroy(plan_);
}

bool AppendRunner::fail(const std::string& what) {
  ready_ = false;
  if (error_.empty()) error_ = what + " failed: " + vkattn_last_error();
  return false;
}

std::vector<CacheKind> AppendRunner::caches_in_buffer(CacheKind kind) const {
  if (options_.shared_caches) return {CacheKind::kKeys, CacheKind::kValues};
  return {kind};
}

bool AppendRunner::write_cache(CacheKind kind, const std::vector<uint8_t>& bytes) {
  if (bytes.size() != cache_buffer_bytes(kind)) return fail("write_cache (wrong size)");
  if (vkattn_buffer_write(cache(kind), 0, bytes.data(), bytes.size()) != VKATTN_SUCCESS) {
    return fail("vkattn_buffer_write (cache)");
  }
  return true;
}

bool AppendRunner::read_cache(CacheKind kind, std::vector<uint8_t>* bytes) {
  bytes->assign(cache_buffer_bytes(kind), 0);
  if (vkattn_buffer_read(cache(kind), 0, bytes->data(), bytes->size()) != VKATTN_SUCCESS) {
    return fail("vkattn_buffer_read (cache)");
  }
  return true;
}

bool AppendRunner::append(const AppendData& data, bool wait) {
  if (!ready_) return false;
  const uint64_t element = data.desc.src_dtype == VKATTN_DTYPE_F16 ? 2 : 4;
  std::vector<uint8_t> k_bytes = source_bytes(data, CacheKind::kKeys);
  std::vector<uint8_t> v_bytes = source_bytes(data, CacheKind::kValues);
  if (options_.shared_sources) {
    // One buffer: K's bytes, with V's rows copied over them.
    std::vector<uint8_t> merged(std::max(k_bytes.size(), v_bytes.size()) + options_.guard_bytes, 0xff);
    std::copy(k_bytes.begin(), k_bytes.end(), merged.begin());
    const vkattn_tensor_layout& layout = data.desc.v_src_layout;
    for (int64_t b = 0; b < data.desc.batch; ++b) {
      for (int64_t h = 0; h < data.desc.kv_heads; ++h) {
        for (int64_t t = 0; t < data.desc.new_tokens; ++t) {
          const uint64_t first = element_of(layout, b, h, t) * element;
          std::copy(v_bytes.begin() + static_cast<std::ptrdiff_t>(first),
                    v_bytes.begin() + static_cast<std::ptrdiff_t>(first + data.desc.v_dim * element),
                    merged.begin() + static_cast<std::ptrdiff_t>(first));
        }
      }
    }
    if (vkattn_buffer_write(k_src_, 0, merged.data(), merged.size()) != VKATTN_SUCCESS) {
      return fail("vkattn_buffer_write (sources)");
    }
  } else {
    k_bytes.resize(k_bytes.size() + options_.guard_bytes, 0xff);
    v_bytes.resize(v_bytes.size() + options_.guard_bytes, 0xff);
    if (vkattn_buffer_write(k_src_, 0, k_bytes.data(), k_bytes.size()) != VKATTN_SUCCESS ||
        vkattn_buffer_write(v_src_, 0, v_bytes.data(), v_bytes.size()) != VKATTN_SUCCESS) {
      return fail("vkattn_buffer_write (sources)");
    }
  }
  vkattn_append_bindings bindings;
  vkattn_append_bindings_init(&bindings);
  bindings.k_src = k_src_;
  bindings.v_src = v_src_;
  bindings.k_cache = k_cache_;
  bindings.v_cache = v_cache_;
  bindings.positions = data.positions.data();
  bindings.block_table = data.desc.page_size > 0 ? data.block_table.data() : nullptr;
  if (vkattn_append_execute(plan_, &bindings) != VKATTN_SUCCESS) return fail("vkattn_append_execute");
  if (wait && vkattn_context_finish(context_) != VKATTN_SUCCESS) return fail("vkattn_context_finish");
  return true;
}

CacheCheck append_and_check(vkattn_context context, const AppendData& data, AppendExactness exactness,
                            const AppendBufferOptions& options) {
  CacheCheck total;
  AppendRunner runner(context, data.desc, options);
  std::vector<uint8_t> k_before, v_before, k_after, v_after;
  bool ok = runner.ready();
  if (ok) {
    k_before = fill_pattern(runner.cache_buffer_bytes(CacheKind::kKeys));
    ok = runner.write_cache(CacheKind::kKeys, k_before);
    if (ok && !options.shared_caches) {
      v_before = fill_pattern(runner.cache_buffer_bytes(CacheKind::kValues));
      ok = runner.write_cache(CacheKind::kValues, v_before);
    }
  }
  ok = ok && runner.append(data) && runner.read_cache(CacheKind::kKeys, &k_after);
  if (ok && !options.shared_caches) ok = runner.read_cache(CacheKind::kValues, &v_after);
  if (!ok) {
    total.failure = runner.error();
    return total;
  }
  std::vector<CacheCheck> checks;
  checks.push_back(check_cache_buffer(data, runner.caches_in_buffer(CacheKind::kKeys), k_before, k_after, exactness));
  if (!options.shared_caches) {
    checks.push_back(check_cache_buffer(data, {CacheKind::kValues}, v_before, v_after, exactness));
  }
  for (const CacheCheck& check : checks) {
    total.failure += check.failure;
    total.values += check.values;
    total.codes += check.codes;
    total.codes_off_by_one += check.codes_off_by_one;
    total.untouched_bytes += check.untouched_bytes;
    total.worst = std::max(total.worst, check.worst);
  }
  return total;
}

namespace {

// Float values of a cache view as the cache holds them, read through the
// element indices (NaN where nothing meaningful is stored).
std::vector<float> decode_cache(vkattn_dtype dtype, const std::vector<uint8_t>& bytes, uint64_t extent) {
  std::vector<float> values(extent, std::numeric_limits<float>::quiet_NaN());
  for (uint64_t e = 0; e < extent; ++e) {
    if (dtype == VKATTN_DTYPE_F32) {
      std::memcpy(&values[e], &bytes[4 * e], 4);
    } else if (dtype == VKATTN_DTYPE_F16) {
      values[e] = static_cast<float>(decode_f16(static_cast<uint16_t>(bytes[2 * e] | (bytes[2 * e + 1] << 8))));
    } else {
      values[e] = decode_block_value(dtype, &bytes[e / kBlock * block_bytes(dtype)], static_cast<int>(e % kBlock));
    }
  }
  return values;
}

std::vector<uint8_t> encode_values(vkattn_dtype dtype, const std::vector<float>& values) {
  std::vector<uint8_t> bytes(storage_bytes(dtype, values.size()));
  if (dtype == VKATTN_DTYPE_F32) {
    std::memcpy(bytes.data(), values.data(), bytes.size());
  } else {
    for (size_t i = 0; i < values.size(); ++i) {
      const uint16_t bits = encode_f16(values[i]);
      bytes[2 * i] = static_cast<uint8_t>(bits & 0xff);
      bytes[2 * i + 1] = static_cast<uint8_t>(bits >> 8);
    }
  }
  return bytes;
}

}  // namespace

AppendAttentionResult append_then_attend(vkattn_context context, const AppendAttentionSpec& spec,
                                         AppendExactness exactness) {
  AppendAttentionResult result;
  auto fail = [&](const std::string& what) {
    result.failure += what + ": " + vkattn_last_error() + "\n";
    return result;
  };
  const bool paged = spec.page_size > 0;
  const int64_t max_pages = paged ? (spec.kv_len + spec.page_size - 1) / spec.page_size : 0;
  AppendData data;
  vkattn_append_desc& a = data.desc;
  vkattn_append_desc_init(&a);
  a.batch = spec.batch;
  a.kv_heads = spec.kv_heads;
  a.new_tokens = spec.new_tokens;
  a.kv_len = spec.kv_len;
  a.qk_dim = a.v_dim = spec.dim;
  a.src_dtype = VKATTN_DTYPE_F32;
  a.k_dtype = static_cast<int>(spec.k_dtype) != 0 ? spec.k_dtype : spec.dtype;
  a.v_dtype = static_cast<int>(spec.v_dtype) != 0 ? spec.v_dtype : spec.dtype;
  a.k_src_layout = a.v_src_layout = vkattn_layout_bhsd(spec.kv_heads, spec.new_tokens, spec.dim);
  a.rope = spec.rope;
  uint64_t state = spec.seed * 0x1234567ull + 99;
  if (paged) {
    a.page_size = spec.page_size;
    a.max_pages = max_pages;
    a.num_pages = spec.batch * max_pages + 1;
    a.k_layout = a.v_layout = vkattn_layout_pages(spec.kv_heads, spec.page_size, spec.dim);
    // Every sequence its own pages, in shuffled order.
    std::vector<int32_t> pages(static_cast<size_t>(a.num_pages));
    for (size_t i = 0; i < pages.size(); ++i) pages[i] = static_cast<int32_t>(i);
    for (size_t i = pages.size() - 1; i > 0; --i) std::swap(pages[i], pages[next_random(&state) % (i + 1)]);
    data.block_table.assign(pages.begin(), pages.begin() + spec.batch * max_pages);
  } else {
    a.k_layout = a.v_layout = vkattn_layout_bhsd(spec.kv_heads, spec.kv_len, spec.dim);
  }

  // The caches before the first append: the prefix keys and values (as the
  // cache type stores them), NaN everywhere else.
  AppendRunner runner(context, a);
  if (!runner.ready()) return fail("creating the append plan and its buffers");
  const CacheKind kinds[] = {CacheKind::kKeys, CacheKind::kValues};
  for (CacheKind kind : kinds) {
    const vkattn_dtype type = cache_dtype(a, kind);
    const uint64_t extent = cache_extent(a, kind);
    std::vector<float> values(extent, std::numeric_limits<float>::quiet_NaN());
    std::vector<uint8_t> bytes(runner.cache_buffer_bytes(kind), 0);
    if (is_block(type)) {
      for (uint64_t block = 0; block < extent / kBlock; ++block) bytes[block * block_bytes(type) + 1] = 0x7e;
    }
    const vkattn_tensor_layout& layout = cache_layout(a, kind);
    for (int64_t b = 0; b < spec.batch; ++b) {
      for (int64_t h = 0; h < spec.kv_heads; ++h) {
        for (int64_t j = 0; j < spec.prefix[static_cast<size_t>(b)]; ++j) {
          const uint64_t first =
              paged ? element_of(layout, data.block_table[static_cast<size_t>(b * max_pages + j / spec.page_size)], h,
                                 j % spec.page_size)
                    : element_of(layout, b, h, j);
          std::vector<float> row(static_cast<size_t>(spec.dim));
          for (float& x : row) x = static_cast<float>(unit_random(&state));
          if (is_block(type)) {
            if (vkattn_quantize(type, row.data(), row.size(), &bytes[storage_byte(type, first)]) != VKATTN_SUCCESS) {
              return fail("vkattn_quantize");
            }
          } else {
            for (size_t d = 0; d < row.size(); ++d) values[first + d] = type == VKATTN_DTYPE_F16 ? round_to_f16(row[d]) : row[d];
          }
        }
      }
    }
    if (!is_block(type)) {
      const std::vector<uint8_t> encoded = encode_values(type, values);
      std::copy(encoded.begin(), encoded.end(), bytes.begin());
    }
    if (!runner.write_cache(kind, bytes)) return fail(runner.error());
  }

  // The attention plan over the caches, prepared before the appends.
  HostInputs in;
  vkattn_attention_desc& d = in.desc;
  vkattn_attention_desc_init(&d);
  const int64_t q_len = spec.q_len > 0 ? spec.q_len : spec.new_tokens;
  d.batch = spec.batch;
  d.q_heads = spec.q_heads;
  d.kv_heads = spec.kv_heads;
  d.q_len = q_len;
  d.kv_len = spec.kv_len;
  d.qk_dim = d.v_dim = spec.dim;
  d.dtype = spec.dtype;
  d.k_dtype = a.k_dtype;
  d.v_dtype = a.v_dtype;
  d.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
  d.has_kv_lens = 1;
  d.rope = spec.rope;
  vkattn_attention_desc_set_dense_layouts(&d);
  d.k_layout = a.k_layout;
  d.v_layout = a.v_layout;
  d.page_size = a.page_size;
  d.num_pages = a.num_pages;
  d.max_pages = a.max_pages;
  in.block_table = data.block_table;
  for (int64_t b = 0; b < spec.batch; ++b) {
    in.kv_lens.push_back(spec.prefix[static_cast<size_t>(b)] + static_cast<int32_t>(spec.steps * spec.new_tokens));
  }
  const uint64_t q_count = static_cast<uint64_t>(spec.batch * spec.q_heads * q_len * spec.dim);
  in.q.resize(q_count);
  for (float& x : in.q) {
    x = static_cast<float>(unit_random(&state));
    if (spec.dtype == VKATTN_DTYPE_F16) x = round_to_f16(x);
  }
  struct Attention {
    vkattn_plan plan = nullptr;
    vkattn_buffer q = nullptr, out = nullptr;
    ~Attention() {
      vkattn_buffer_destroy(q);
      vkattn_buffer_destroy(out);
      vkattn_plan_destroy(plan);
    }
  } attention;
  const std::vector<uint8_t> q_bytes = encode_values(spec.dtype, in.q);
  const uint64_t out_bytes = q_bytes.size();
  if (vkattn_plan_create(context, &d, 0, &attention.plan) != VKATTN_SUCCESS) {
    return fail("vkattn_plan_create (attention)");
  }
  if (vkattn_buffer_create(context, q_bytes.size(), 0, &attention.q) != VKATTN_SUCCESS ||
      vkattn_buffer_create(context, out_bytes, 0, &attention.out) != VKATTN_SUCCESS ||
      vkattn_buffer_write(attention.q, 0, q_bytes.data(), q_bytes.size()) != VKATTN_SUCCESS) {
    return fail("the attention buffers");
  }
  vkattn_bindings bindings;
  vkattn_bindings_init(&bindings);
  bindings.q = attention.q;
  bindings.k = runner.cache(CacheKind::kKeys);
  bindings.v = runner.cache(CacheKind::kValues);
  bindings.out = attention.out;
  bindings.kv_lens = in.kv_lens.data();
  bindings.block_table = paged ? in.block_table.data() : nullptr;

  // The appends, each checked; the float caches' expected contents follow
  // the float64 reference. The last append is followed by the attention
  // at once, without waiting: it must see the new keys.
  std::vector<float> expected[2];
  for (CacheKind kind : kinds) {
    std::vector<uint8_t> bytes;
    if (!runner.read_cache(kind, &bytes)) return fail(runner.error());
    expected[kind == CacheKind::kKeys ? 0 : 1] = decode_cache(cache_dtype(a, kind), bytes, cache_extent(a, kind));
  }
  std::vector<uint8_t> out_read(out_bytes, 0xff);
  for (int step = 0; step < spec.steps; ++step) {
    data.positions.resize(static_cast<size_t>(spec.batch));
    for (int64_t b = 0; b < spec.batch; ++b) {
      data.positions[static_cast<size_t>(b)] =
          spec.prefix[static_cast<size_t>(b)] + static_cast<int32_t>(step * spec.new_tokens);
    }
    fill_sources(&data, spec.seed * 1000 + static_cast<uint64_t>(step));
    const bool last = step == spec.steps - 1;
    std::vector<uint8_t> before[2], after[2];
    if (!runner.read_cache(CacheKind::kKeys, &before[0]) || !runner.read_cache(CacheKind::kValues, &before[1]) ||
        !runner.append(data, /*wait=*/!last)) {
      return fail(runner.error());
    }
    if (last && (vkattn_plan_execute(attention.plan, &bindings) != VKATTN_SUCCESS ||
                 vkattn_buffer_read(attention.out, 0, out_read.data(), out_bytes) != VKATTN_SUCCESS)) {
      return fail("attention over the appended caches");
    }
    if (!runner.read_cache(CacheKind::kKeys, &after[0]) || !runner.read_cache(CacheKind::kValues, &after[1])) {
      return fail(runner.error());
    }
    for (CacheKind kind : kinds) {
      const int i = kind == CacheKind::kKeys ? 0 : 1;
      const CacheCheck check = check_cache_buffer(data, {kind}, before[i], after[i], exactness);
      if (!check.failure.empty()) result.failure += "append step " + std::to_string(step) + ": " + check.failure;
      result.caches.values += check.values;
      result.caches.codes += check.codes;
      result.caches.codes_off_by_one += check.codes_off_by_one;
      result.caches.untouched_bytes += check.untouched_bytes;
      result.caches.worst = std::max(result.caches.worst, check.worst);
      const vkattn_dtype type = cache_dtype(a, kind);
      if (is_block(type)) {
        expected[i] = decode_cache(type, after[i], cache_extent(a, kind));  // verified above
        continue;
      }
      for (const ReferenceRow& row : reference_append(data, kind)) {
        for (size_t e = 0; e < row.values.size(); ++e) {
          const float value = static_cast<float>(row.values[e]);
          expected[i][row.element + e] = type == VKATTN_DTYPE_F16 ? round_to_f16(value) : value;
        }
      }
    }
  }
  in.k = expected[0];
  in.v = expected[1];

  const ReferenceOutput ref = reference_attention(in);
  const std::vector<float> got = decode_cache(spec.dtype, out_read, q_count);
  double output_scale = 0.0;
  for (double value : ref.out) output_scale = std::max(output_scale, std::fabs(value));
  if (output_scale == 0.0) output_scale = 1.0;
  result.allowed = allowed_abs_error(spec.dtype, output_scale, ref.max_abs_v, ref.max_logit_magnitude, spec.dim,
                                     ref.max_row_keys);
  Failures failures;
  for (uint64_t i = 0; i < q_count; ++i) {
    const double error = std::fabs(static_cast<double>(got[i]) - ref.out[i]);
    if (!(error <= result.allowed)) {
      failures.add([&](std::ostream& s) {
        s << "attention output element " << i << " (batch " << i / (spec.q_heads * q_len * spec.dim)
          << "): " << got[i] << ", reference " << ref.out[i] << ", allowed error " << result.allowed;
      });
      result.error = std::max(result.error, std::isnan(error) ? std::numeric_limits<double>::infinity() : error);
    } else {
      result.error = std::max(result.error, error);
    }
  }
  result.failure += failures.text();
  return result;
}

vkattn_append_desc dense_append_desc(int64_t batch, int64_t heads, int64_t tokens, int64_t kv_len, int64_t qk_dim,
                                     int64_t v_dim, vkattn_dtype src, vkattn_dtype k_dtype, vkattn_dtype v_dtype) {
  vkattn_append_desc desc;
  vkattn_append_desc_init(&desc);
  desc.batch = batch;
  desc.kv_heads = heads;
  desc.new_tokens = tokens;
  desc.kv_len = kv_len;
  desc.qk_dim = qk_dim;
  desc.v_dim = v_dim;
  desc.src_dtype = src;
  desc.k_dtype = k_dtype;
  desc.v_dtype = v_dtype;
  desc.k_src_layout = vkattn_layout_bhsd(heads, tokens, qk_dim);
  desc.v_src_layout = vkattn_layout_bhsd(heads, tokens, v_dim);
  desc.k_layout = vkattn_layout_bhsd(heads, kv_len, qk_dim);
  desc.v_layout = vkattn_layout_bhsd(heads, kv_len, v_dim);
  return desc;
}

AppendData make_append_data(const vkattn_append_desc& desc, std::vector<int32_t> positions, uint64_t seed,
                            double magnitude) {
  AppendData data;
  data.desc = desc;
  data.positions = std::move(positions);
  fill_sources(&data, seed, magnitude);
  return data;
}

std::vector<int32_t> shuffled_block_table(int64_t batch, int64_t max_pages, int64_t num_pages, uint64_t seed) {
  std::vector<int32_t> pages(static_cast<size_t>(num_pages));
  for (size_t i = 0; i < pages.size(); ++i) pages[i] = static_cast<int32_t>(i);
  uint64_t state = seed;
  for (size_t i = pages.size() - 1; i > 0; --i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    std::swap(pages[i], pages[(state >> 33) % (i + 1)]);
  }
  return std::vector<int32_t>(pages.begin(), pages.begin() + batch * max_pages);
}

}  // namespace vkattn_test
