// What a Vulkan device can do at best, measured with probe shaders
// (shaders/probe.comp): the FMA rate and the read bandwidth. vkattn-bench
// reports each kernel as a fraction of these.
#pragma once

#include <string>

#include "runtime/status.h"

namespace vkattn {
namespace vk {

struct DevicePeaks {
  std::string name;
  double fma_gflops = 0.0;       // 2 FLOPs per fused multiply-add
  double read_gbytes_per_s = 0.0;
};

// Opens Vulkan device `index` (-1: the default choice) and measures it.
Status measure_device_peaks(int32_t index, DevicePeaks* out);

}  // namespace vk
}  // namespace vkattn
