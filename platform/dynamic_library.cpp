#include "dynamic_library.h"

#include <dlfcn.h>

namespace vkattn {

DynamicLibrary::~DynamicLibrary() {
  if (handle_ != nullptr) dlclose(handle_);
}

bool DynamicLibrary::open(const char* const* names, int count, std::string* error) {
  error->clear();
  for (int i = 0; i < count; ++i) {
    handle_ = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (handle_ != nullptr) return true;
    const char* reason = dlerror();
    if (!error->empty()) *error += "; ";
    *error += reason != nullptr ? reason : names[i];
  }
  return false;
}

void* DynamicLibrary::symbol(const char* name) const { return handle_ != nullptr ? dlsym(handle_, name) : nullptr; }

}  // namespace vkattn
