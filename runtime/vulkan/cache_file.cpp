#include "cache_file.h"

#include <unistd.h>

#include <cerrno>

#include <cstdio>
#include <cstring>

namespace vkattn {
namespace vk {

namespace {

const char kPipelineMagic[8] = {'V', 'K', 'A', 'T', 'T', 'N', 'P', 'C'};
const char kTuningMagic[8] = {'V', 'K', 'A', 'T', 'T', 'N', 'T', 'U'};
const char* magic_of(CacheKind kind) { return kind == CacheKind::pipeline ? kPipelineMagic : kTuningMagic; }
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kHeaderBytes = 8 + 4 + 4 + 4 + 4 + 16 + 8 + 8;
constexpr uint64_t kMaxPayload = uint64_t{1} << 30;

uint64_t fnv1a(const uint8_t* data, size_t size) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 1099511628211ull;
  return h;
}

void put32(std::vector<uint8_t>* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put64(std::vector<uint8_t>* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint32_t get32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

std::vector<uint8_t> read_cache_file(const std::string& path, CacheKind kind, const CacheIdentity& id,
                                     std::string* why) {
  why->clear();
  FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return {};  // no cache yet: not a problem
  std::vector<uint8_t> bytes;
  uint8_t chunk[1 << 16];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof(chunk), file)) > 0) {
    bytes.insert(bytes.end(), chunk, chunk + n);
    if (bytes.size() > kMaxPayload + kHeaderBytes) break;
  }
  std::fclose(file);
  if (bytes.size() < kHeaderBytes || std::memcmp(bytes.data(), magic_of(kind), 8) != 0) {
    *why = kind == CacheKind::pipeline ? "not a vkattn pipeline cache (bad magic or too short)"
                                       : "not a vkattn tuning cache (bad magic or too short)";
    return {};
  }
  const uint8_t* p = bytes.data() + 8;
  if (get32(p) != kFormatVersion) {
    *why = "unknown cache format version";
    return {};
  }
  if (get32(p + 4) != id.vendor_id || get32(p + 8) != id.device_id || get32(p + 12) != id.driver_version ||
      std::memcmp(p + 16, id.uuid, 16) != 0) {
    *why = "written for another device or driver version";
    return {};
  }
  const uint64_t size = get64(p + 32);
  const uint64_t checksum = get64(p + 40);
  if (size > kMaxPayload || bytes.size() != kHeaderBytes + size) {
    *why = "truncated or oversized";
    return {};
  }
  const uint8_t* payload = bytes.data() + kHeaderBytes;
  if (fnv1a(payload, static_cast<size_t>(size)) != checksum) {
    *why = "checksum mismatch (corrupt)";
    return {};
  }
  // The driver's own VkPipelineCacheHeaderVersionOne must agree as well.
  if (kind == CacheKind::pipeline &&
      (size < 32 || get32(payload) < 32 || get32(payload) > size || get32(payload + 4) != 1 ||
      get32(payload + 8) != id.vendor_id || get32(payload + 12) != id.device_id ||
      std::memcmp(payload + 16, id.uuid, 16) != 0)) {
    *why = "the driver header inside does not match this device";
    return {};
  }
  return std::vector<uint8_t>(payload, payload + size);
}

bool write_cache_file(const std::string& path, CacheKind kind, const CacheIdentity& id,
                      const std::vector<uint8_t>& payload, std::string* why) {
  std::vector<uint8_t> bytes(magic_of(kind), magic_of(kind) + 8);
  put32(&bytes, kFormatVersion);
  put32(&bytes, id.vendor_id);
  put32(&bytes, id.device_id);
  put32(&bytes, id.driver_version);
  bytes.insert(bytes.end(), id.uuid, id.uuid + 16);
  put64(&bytes, payload.size());
  put64(&bytes, fnv1a(payload.data(), payload.size()));
  bytes.insert(bytes.end(), payload.begin(), payload.end());
  const std::string temp = path + ".tmp" + std::to_string(getpid());
  FILE* file = std::fopen(temp.c_str(), "wb");
  if (file == nullptr) {
    *why = "cannot create " + temp + ": " + std::strerror(errno);
    return false;
  }
  const bool written = std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size();
  const bool closed = std::fclose(file) == 0;
  if (!written || !closed || std::rename(temp.c_str(), path.c_str()) != 0) {
    *why = "cannot write " + path + ": " + std::strerror(errno);
    std::remove(temp.c_str());
    return false;
  }
  return true;
}

}  // namespace vk
}  // namespace vkattn
