// The command-line tools' JSON helpers (samples/common/json.h).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "json.h"

using vkattn_samples::json_escape;
using vkattn_samples::json_number;

TEST_CASE("json_number writes finite values as numbers and NaN or infinities as null") {
  CHECK(json_number(0.0) == "0");
  CHECK(json_number(1.5e-7) == "1.5e-07");
  CHECK(json_number(-2.25) == "-2.25");
  CHECK(json_number(std::numeric_limits<double>::quiet_NaN()) == "null");
  CHECK(json_number(std::numeric_limits<double>::infinity()) == "null");
  CHECK(json_number(-std::numeric_limits<double>::infinity()) == "null");
}

TEST_CASE("json_escape escapes quotes, backslashes and control characters") {
  CHECK(json_escape("a\"b\\c") == "a\\\"b\\\\c");
  CHECK(json_escape(std::string("x\ny\t", 4)) == "x\\u000ay\\u0009");
}
