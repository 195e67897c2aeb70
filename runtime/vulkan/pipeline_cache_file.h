// The on-disk pipeline cache: vkattn's own header (magic, format version,
// vendor, device, driver version, pipelineCacheUUID, payload size and
// checksum) followed by the driver's VkPipelineCache data. Loading checks all
// of it, and the driver's own header inside, before the driver ever sees the
// bytes: a corrupt, truncated or foreign file is ignored with a warning.
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
  uint8_t uuid[16] = {};
};

// Returns the driver payload of a valid file for this device, or empty; when
// the file exists but is rejected, *why says why.
std::vector<uint8_t> read_pipeline_cache(const std::string& path, const CacheIdentity& identity, std::string* why);

// Writes atomically (temporary file + rename). False with *why on failure.
bool write_pipeline_cache(const std::string& path, const CacheIdentity& identity, const std::vector<uint8_t>& payload,
                          std::string* why);

}  // namespace vk
}  // namespace vkattn
