// Tests that need a Vulkan device: with none, the binary exits 77, which
// CTest reports as skipped (never as passed).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>

#include "vulkan_test_support.h"

int main(int argc, char** argv) {
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
