// libFuzzer target: the .npy reader behind vkattn-run. Any byte string must
// either be rejected with a message or give an array whose payload matches
// its shape and dtype exactly; a round trip through the writer must parse
// back to the same values.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "npy.h"

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vkattn_samples::NpyArray array;
  std::string error;
  if (!vkattn_samples::parse_npy(data, size, &array, &error)) {
    require(!error.empty());
    return 0;
  }
  require(array.count() >= 0);
  require(array.data.size() == static_cast<size_t>(array.count()) * array.item_size());
  if (array.type == vkattn_samples::NpyType::kFloat32) {
    const std::vector<uint8_t> again = vkattn_samples::encode_npy_f32(
        array.shape, reinterpret_cast<const float*>(array.data.data()));
    vkattn_samples::NpyArray round_trip;
    require(vkattn_samples::parse_npy(again.data(), again.size(), &round_trip, &error));
    require(round_trip.shape == array.shape);
    require(round_trip.data == array.data);
  }
  return 0;
}
