// Tests that need a Vulkan device: with none, the binary exits 77, which
// CTest reports as skipped (never as passed).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <dlfcn.h>

#include <cstdio>
#include <cstring>

#include "vulkan_test_support.h"

int main(int argc, char** argv) {
  // Every test context enables VK_LAYER_KHRONOS_validation, which the loader
  // would load and unload with each instance: slow, and the layer leaks its
  // one-time initialisation at every unload (LeakSanitizer cannot even name
  // the module afterwards). Pinning it keeps one copy for the process; local
  // binding, so none of its symbols interpose the loader's.
  dlopen("libVkLayer_khronos_validation.so", RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  bool listing = false;
  for (int a = 1; a < argc; ++a) {
    if (std::strncmp(argv[a], "--list", 6) == 0 || std::strncmp(argv[a], "-l", 2) == 0) listing = true;
  }
  if (!listing && vkattn_test::usable_vulkan_devices().empty()) {
    std::printf("no usable Vulkan device (install mesa-vulkan-drivers for lavapipe): skipped\n");
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
