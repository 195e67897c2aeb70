#include "npy.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

namespace vkattn_samples {

namespace {

struct TypeInfo {
  const char* descr;  // without the byte-order character
  NpyType type;
  size_t size;
  const char* name;
};

const TypeInfo kTypes[] = {
    {"f4", NpyType::kFloat32, 4, "float32"}, {"f2", NpyType::kFloat16, 2, "float16"},
    {"f8", NpyType::kFloat64, 8, "float64"}, {"b1", NpyType::kBool, 1, "bool"},
    {"u1", NpyType::kUint8, 1, "uint8"},     {"i1", NpyType::kInt8, 1, "int8"},
    {"i4", NpyType::kInt32, 4, "int32"},     {"i8", NpyType::kInt64, 8, "int64"},
};

const TypeInfo& info_of(NpyType type) {
  for (const TypeInfo& info : kTypes) {
    if (info.type == type) return info;
  }
  return kTypes[0];
}

// A tiny parser for the header's Python dict literal, e.g.
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class HeaderParser {
 public:
  HeaderParser(const char* text, size_t size) : p_(text), end_(text + size) {}

  bool parse(std::string* descr, bool* fortran, std::vector<int64_t>* shape, std::string* error) {
    bool have_descr = false, have_fortran = false, have_shape = false;
    skip_space();
    if (!eat('{')) return fail(error, "header does not start with '{'");
    for (;;) {
      skip_space();
      if (eat('}')) break;
      std::string key;
      if (!string_literal(&key)) return fail(error, "expected a quoted key in the header");
      skip_space();
      if (!eat(':')) return fail(error, "expected ':' after key '" + key + "'");
      skip_space();
      if (key == "descr") {
        if (have_descr || !string_literal(descr)) return fail(error, "bad or repeated 'descr'");
        have_descr = true;
      } else if (key == "fortran_order") {
        if (have_fortran) return fail(error, "repeated 'fortran_order'");
        if (word("True")) {
          *fortran = true;
        } else if (word("False")) {
          *fortran = false;
        } else {
          return fail(error, "'fortran_order' must be True or False");
        }
        have_fortran = true;
      } else if (key == "shape") {
        if (have_shape || !tuple(shape, error)) return error->empty() ? fail(error, "bad or repeated 'shape'") : false;
        have_shape = true;
      } else {
        return fail(error, "unexpected header key '" + key + "'");
      }
      skip_space();
      if (eat(',')) continue;
      skip_space();
      if (eat('}')) break;
      return fail(error, "expected ',' or '}' in the header");
    }
    if (!have_descr || !have_fortran || !have_shape) {
      return fail(error, "header lacks one of 'descr', 'fortran_order', 'shape'");
    }
    skip_space();
    if (p_ != end_) return fail(error, "unexpected text after the header dict");
    return true;
  }

 private:
  static bool fail(std::string* error, const std::string& message) {
    *error = message;
    return false;
  }
  void skip_space() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool eat(char c) {
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }
  bool word(const char* w) {
    const size_t n = std::strlen(w);
    if (static_cast<size_t>(end_ - p_) >= n && std::memcmp(p_, w, n) == 0) {
      p_ += n;
      return true;
    }
    return false;
  }
  bool string_literal(std::string* out) {
    if (p_ >= end_ || (*p_ != '\'' && *p_ != '"')) return false;
    const char quote = *p_++;
    out->clear();
    while (p_ < end_ && *p_ != quote) {
      if (*p_ == '\\' || out->size() > 64) return false;  // no escapes in valid headers
      out->push_back(*p_++);
    }
    return eat(quote);
  }
  bool tuple(std::vector<int64_t>* shape, std::string* error) {
    shape->clear();
    if (!eat('(')) return false;
    for (;;) {
      skip_space();
      if (eat(')')) return true;
      if (p_ >= end_ || *p_ < '0' || *p_ > '9') return false;
      int64_t value = 0;
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
        if (value > (std::numeric_limits<int64_t>::max() - 9) / 10) return fail(error, "a shape entry is too large");
        value = value * 10 + (*p_++ - '0');
      }
      if (shape->size() >= 32) return fail(error, "more than 32 dimensions");
      shape->push_back(value);
      skip_space();
      if (eat(',')) continue;
      skip_space();
      if (eat(')')) return true;
      return false;
    }
  }

  const char* p_;
  const char* end_;
};

uint32_t read_le(const uint8_t* p, int bytes) {
  uint32_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

}  // namespace

int64_t NpyArray::count() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // bounded by parse_npy
  return n;
}

size_t NpyArray::item_size() const { return info_of(type).size; }

const char* npy_type_name(NpyType type) { return info_of(type).name; }

bool parse_npy(const uint8_t* bytes, size_t size, NpyArray* out, std::string* error) {
  static const uint8_t kMagic[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (size < 10 || std::memcmp(bytes, kMagic, 6) != 0) {
    *error = "not a .npy file (missing the \\x93NUMPY magic)";
    return false;
  }
  const uint8_t major = bytes[6];
  if (major < 1 || major > 3) {
    *error = "unsupported .npy format version " + std::to_string(major) + "." + std::to_string(bytes[7]);
    return false;
  }
  const size_t length_bytes = major == 1 ? 2 : 4;
  if (size < 8 + length_bytes) {
    *error = "truncated .npy header";
    return false;
  }
  const uint64_t header_len = read_le(bytes + 8, static_cast<int>(length_bytes));
  const uint64_t data_start = 8 + length_bytes + header_len;
  if (data_start > size) {
    *error = "truncated .npy header (declares " + std::to_string(header_len) + " bytes)";
    return false;
  }
  std::string descr;
  bool fortran = false;
  std::vector<int64_t> shape;
  HeaderParser parser(reinterpret_cast<const char*>(bytes + 8 + length_bytes), static_cast<size_t>(header_len));
  std::string parse_error;
  if (!parser.parse(&descr, &fortran, &shape, &parse_error)) {
    *error = "malformed .npy header: " + parse_error;
    return false;
  }
  if (fortran) {
    *error = "Fortran-order arrays are not supported (save with np.ascontiguousarray)";
    return false;
  }
  if (descr.size() != 3 || (descr[0] != '<' && descr[0] != '|' && descr[0] != '=')) {
    *error = "unsupported dtype '" + descr + "' (need little-endian float32/float16/float64/bool/uint8/int8/int32/int64)";
    return false;
  }
  const TypeInfo* type = nullptr;
  for (const TypeInfo& info : kTypes) {
    if (descr.compare(1, 2, info.descr) == 0) type = &info;
  }
  if (type == nullptr) {
    *error = "unsupported dtype '" + descr + "'";
    return false;
  }
  uint64_t count = 1;
  for (int64_t d : shape) {
    if (d != 0 && count > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(d)) {
      *error = "shape product overflows";
      return false;
    }
    count *= static_cast<uint64_t>(d);
  }
  if (count > (std::numeric_limits<uint64_t>::max() / type->size)) {
    *error = "data size overflows";
    return false;
  }
  const uint64_t data_bytes = count * type->size;
  if (size - data_start != data_bytes) {
    *error = "data holds " + std::to_string(size - data_start) + " bytes but shape and dtype need " +
             std::to_string(data_bytes);
    return false;
  }
  out->type = type->type;
  out->shape = shape;
  out->data.assign(bytes + data_start, bytes + size);
  return true;
}

bool read_npy(const std::string& path, NpyArray* out, std::string* error, uint64_t max_bytes) {
  FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    *error = "cannot open " + path + ": " + std::strerror(errno);
    return false;
  }
  std::vector<uint8_t> bytes;
  uint8_t chunk[1 << 16];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof(chunk), file)) > 0) {
    if (bytes.size() + n > max_bytes) {
      std::fclose(file);
      *error = path + " is larger than " + std::to_string(max_bytes) + " bytes";
      return false;
    }
    bytes.insert(bytes.end(), chunk, chunk + n);
  }
  const bool read_failed = std::ferror(file) != 0;
  std::fclose(file);
  if (read_failed) {
    *error = "cannot read " + path;
    return false;
  }
  std::string parse_error;
  if (!parse_npy(bytes.data(), bytes.size(), out, &parse_error)) {
    *error = path + ": " + parse_error;
    return false;
  }
  return true;
}

std::vector<uint8_t> encode_npy_f32(const std::vector<int64_t>& shape, const float* data) {
  // Python's tuple repr: () for 0-d, (n,) for 1-d, (a, b, c) otherwise.
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  int64_t count = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) header += ", ";
    header += std::to_string(shape[i]);
    count *= shape[i];
  }
  if (shape.size() == 1) header += ",";
  header += "), }";
  // Pad with spaces so the data starts on a 64-byte boundary, end with '\n'.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  const uint8_t preamble[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<uint8_t>(header.size() & 0xff),
                                 static_cast<uint8_t>(header.size() >> 8)};
  const uint8_t* raw = reinterpret_cast<const uint8_t*>(data);
  std::vector<uint8_t> bytes;
  bytes.reserve(sizeof(preamble) + header.size() + static_cast<size_t>(count) * 4);
  bytes.insert(bytes.end(), preamble, preamble + sizeof(preamble));
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.insert(bytes.end(), raw, raw + count * 4);
  return bytes;
}

}  // namespace vkattn_samples
