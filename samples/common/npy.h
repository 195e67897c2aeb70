// A strict reader and writer for NumPy .npy files (format versions 1.0, 2.0
// and 3.0, little-endian, C order). Every malformed input is reported with a
// message; nothing here trusts a size it has not checked against the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vkattn_samples {

enum class NpyType { kFloat32, kFloat16, kFloat64, kBool, kUint8, kInt8, kInt32, kInt64 };

struct NpyArray {
  NpyType type = NpyType::kFloat32;
  std::vector<int64_t> shape;  // empty for a 0-d array
  std::vector<uint8_t> data;   // count() * item_size() bytes, little-endian, C order

  int64_t count() const;
  size_t item_size() const;
};

const char* npy_type_name(NpyType type);  // NumPy's name: "float32", "bool", ...

// Parses a whole .npy image. On failure returns false and sets *error.
bool parse_npy(const uint8_t* bytes, size_t size, NpyArray* out, std::string* error);

// Reads and parses a file (at most max_bytes long).
bool read_npy(const std::string& path, NpyArray* out, std::string* error, uint64_t max_bytes = uint64_t{1} << 40);

// Serialises a float32 array as .npy version 1.0.
std::vector<uint8_t> encode_npy_f32(const std::vector<int64_t>& shape, const float* data);

}  // namespace vkattn_samples
