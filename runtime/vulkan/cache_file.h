// vkattn's cache files: the Vulkan pipeline cache and the tuning cache.
// Both have vkattn's own header (magic naming the kind, format version,
// vendor, device, driver version, pipelineCacheUUID, payload size and
// checksum) followed by the payload. Loading checks all of it (and, for a
// pipeline cache, the driver's own header inside) before anything uses the
// bytes: a corrupt, truncated or foreign file is ignored with a warning.
// Writes are atomic (temporary file + rename), so a crash never leaves a
// half-written cache.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vkattn {
namespace vk {

struct CacheIdentity {
  uint32_t vendor_id = 0;
  uint32_t device_id = 0;
  uint32_t driver_version = 0;
  uint8_t uuid[16] = {};  // VkPhysicalDeviceProperties::pipelineCacheUUID
};

enum class CacheKind {
  pipeline,  // the driver's VkPipelineCache data
  tuning,    // tuned kernel configurations (tuning.h)
};

// Returns the payload of a valid file of this kind for this device, or
// empty; when the file exists but is rejected, *why says why.
std::vector<uint8_t> read_cache_file(const std::string& path, CacheKind kind, const CacheIdentity& identity,
                                     std::string* why);

// Writes atomically (temporary file + rename). False with *why on failure.
bool write_cache_file(const std::string& path, CacheKind kind, const CacheIdentity& identity,
                      const std::vector<uint8_t>& payload, std::string* why);

}  // namespace vk
}  // namespace vkattn
