// The integer a C caller stored in an enum-typed argument or struct field.
// C allows any int there, but in C++ loading an enum object whose value lies
// outside its enumerators' range is undefined behaviour (UBSan's -fsanitize=enum
// reports it). Everything the library validates is therefore read as raw
// bits first; only a value already known to be valid is used as the enum.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace vkattn {

template <class Enum>
int32_t enum_value(const Enum& value) {
  static_assert(std::is_enum<Enum>::value && sizeof(Enum) == sizeof(int32_t), "C API enums are 32-bit");
  int32_t raw;
  std::memcpy(&raw, &value, sizeof(raw));
  return raw;
}

}  // namespace vkattn
