// Run with VK_DRIVER_FILES / VK_ICD_FILENAMES pointing at nothing (see
// tests/CMakeLists.txt): the loader exists but finds no driver. AUTO must
// give the CPU backend; VULKAN must give BACKEND_UNAVAILABLE saying why;
// enumeration lists only the CPU.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstring>

#include "vkattn.h"

TEST_CASE("without a Vulkan driver AUTO gives CPU and VULKAN gives BACKEND_UNAVAILABLE") {
  vkattn_context context = nullptr;
  REQUIRE(vkattn_context_create(nullptr, &context) == VKATTN_SUCCESS);
  vkattn_device_info info;
  vkattn_device_info_init(&info);
  REQUIRE(vkattn_context_get_info(context, &info) == VKATTN_SUCCESS);
  CHECK(info.backend == VKATTN_BACKEND_CPU);
  vkattn_context_destroy(context);

  vkattn_context_options options;
  vkattn_context_options_init(&options);
  options.backend = VKATTN_BACKEND_VULKAN;
  context = nullptr;
  CHECK(vkattn_context_create(&options, &context) == VKATTN_ERROR_BACKEND_UNAVAILABLE);
  const char* why = vkattn_last_error();
  INFO(why);
  CHECK((std::strstr(why, "found no driver") != nullptr || std::strstr(why, "no physical device") != nullptr));
  CHECK(context == nullptr);

  uint32_t count = 0;
  REQUIRE(vkattn_enumerate_devices(nullptr, 0, &count) == VKATTN_SUCCESS);
  CHECK(count == 1);
}
