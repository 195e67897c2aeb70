// Opening a shared library at run time (dlopen on Linux and Android).
#pragma once

#include <string>

namespace vkattn {

class DynamicLibrary {
 public:
  DynamicLibrary() = default;
  DynamicLibrary(const DynamicLibrary&) = delete;
  DynamicLibrary& operator=(const DynamicLibrary&) = delete;
  ~DynamicLibrary();

  // Tries each name in turn; on failure *error lists what each attempt said.
  bool open(const char* const* names, int count, std::string* error);
  void* symbol(const char* name) const;
  bool is_open() const { return handle_ != nullptr; }

 private:
  void* handle_ = nullptr;
};

}  // namespace vkattn
