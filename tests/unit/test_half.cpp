// The runtime's f16 conversions against the tests' independent codec.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <initializer_list>

#include "f16.h"
#include "runtime/half.h"

TEST_CASE("half_to_float is exact for all 65536 halves") {
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    const float got = vkattn::half_to_float(static_cast<uint16_t>(bits));
    const double want = vkattn_test::decode_f16(static_cast<uint16_t>(bits));
    if (std::isnan(want)) {
      REQUIRE(std::isnan(got));
    } else {
      REQUIRE_MESSAGE(static_cast<double>(got) == want, "bits " << bits);
      REQUIRE(std::signbit(got) == std::signbit(want));
    }
  }
}

TEST_CASE("float_to_half rounds to nearest even, including subnormals and overflow") {
  // Every half value, the midpoints between neighbours, and points just off them.
  for (uint32_t bits = 0; bits < 0x7c00; ++bits) {
    const double value = vkattn_test::decode_f16(static_cast<uint16_t>(bits));
    const double next = vkattn_test::decode_f16(static_cast<uint16_t>(bits + 1));
    for (double probe : {value, (value + next) / 2, value + (next - value) * 0.25, value + (next - value) * 0.75}) {
      for (double sign : {1.0, -1.0}) {
        const float f = static_cast<float>(sign * probe);
        if (static_cast<double>(f) != sign * probe) continue;  // not representable as float
        const uint16_t got = vkattn::float_to_half(f);
        const uint16_t want = vkattn_test::encode_f16(f);
        REQUIRE_MESSAGE(got == want, "value " << f);
      }
    }
  }
  CHECK(vkattn::float_to_half(1e6f) == 0x7c00);
  CHECK(vkattn::float_to_half(-1e6f) == 0xfc00);
  CHECK(vkattn::float_to_half(65519.0f) == 0x7bff);  // rounds down to max half
  CHECK(vkattn::float_to_half(65520.0f) == 0x7c00);  // rounds up to Inf
  CHECK(vkattn::float_to_half(1e-9f) == 0);
  CHECK((vkattn::float_to_half(NAN) & 0x7c00) == 0x7c00);
  CHECK((vkattn::float_to_half(NAN) & 0x3ff) != 0);
}
