// Status codes, their names, the thread-local message and the version.
#include <doctest/doctest.h>

#include <cstring>
#include <set>
#include <string>
#include <thread>

#include "api_helpers.h"
#include "vkattn.h"

using namespace vkattn_test;

TEST_CASE("every status code has a distinct, meaningful name") {
  const vkattn_status codes[] = {VKATTN_SUCCESS,
                                 VKATTN_ERROR_INVALID_ARGUMENT,
                                 VKATTN_ERROR_FAILED_PRECONDITION,
                                 VKATTN_ERROR_UNSUPPORTED,
                                 VKATTN_ERROR_BACKEND_UNAVAILABLE,
                                 VKATTN_ERROR_OUT_OF_HOST_MEMORY,
                                 VKATTN_ERROR_OUT_OF_DEVICE_MEMORY,
                                 VKATTN_ERROR_DEVICE_LOST,
                                 VKATTN_ERROR_INTERNAL};
  std::set<std::string> names;
  for (vkattn_status code : codes) {
    const char* name = vkattn_status_string(code);
    REQUIRE(name != nullptr);
    CHECK(std::strlen(name) > 3);
    CHECK(std::string(name) != "unknown status code");
    names.insert(name);
  }
  CHECK(names.size() == sizeof(codes) / sizeof(codes[0]));
  CHECK(std::string(vkattn_status_string(static_cast<vkattn_status>(1234))) == "unknown status code");
  CHECK(std::string(vkattn_status_string(VKATTN_ERROR_OUT_OF_DEVICE_MEMORY)) == "out of device memory");
}

TEST_CASE("the last error is cleared by the next call and is per thread") {
  CHECK(vkattn_context_create(nullptr, nullptr) == VKATTN_ERROR_INVALID_ARGUMENT);
  CHECK(last_error_mentions("out_context"));
  std::string other_thread_message = "unset";
  std::thread([&] { other_thread_message = vkattn_last_error(); }).join();
  CHECK(other_thread_message.empty());
  uint32_t count = 0;
  CHECK(vkattn_enumerate_devices(nullptr, 0, &count) == VKATTN_SUCCESS);
  CHECK(std::string(vkattn_last_error()).empty());
}

TEST_CASE("version macros match the loaded library") {
  CHECK(vkattn_version() == VKATTN_VERSION);
  const std::string expected = std::to_string(VKATTN_VERSION_MAJOR) + "." + std::to_string(VKATTN_VERSION_MINOR) +
                               "." + std::to_string(VKATTN_VERSION_PATCH);
  CHECK(std::string(vkattn_version_string()) == expected);
}

TEST_CASE("each error status is reachable through the API with a useful message") {
  CpuContext context;
  SUBCASE("invalid argument") {
    CHECK_STATUS_MENTIONS(vkattn_buffer_create(context, 0, 0, nullptr), VKATTN_ERROR_INVALID_ARGUMENT, "out_buffer");
  }
  SUBCASE("failed precondition") {
    Buffer buffer(context, 64);
    CHECK_STATUS_MENTIONS(vkattn_buffer_unmap(buffer), VKATTN_ERROR_FAILED_PRECONDITION, "not mapped");
  }
  SUBCASE("backend unavailable") {
    vkattn_context_options options;
    vkattn_context_options_init(&options);
    options.backend = VKATTN_BACKEND_VULKAN;
    options.device_index = 4000;  // no machine has this many Vulkan devices
    vkattn_context vulkan = nullptr;
    const vkattn_status status = vkattn_context_create(&options, &vulkan);
    CHECK(status == VKATTN_ERROR_BACKEND_UNAVAILABLE);
    CHECK(std::strlen(vkattn_last_error()) > 10);
    CHECK(vulkan == nullptr);
  }
  SUBCASE("out of host memory") {
    vkattn_buffer buffer = nullptr;
    CHECK_STATUS_MENTIONS(vkattn_buffer_create(context, uint64_t{1} << 62, 0, &buffer),
                          VKATTN_ERROR_OUT_OF_HOST_MEMORY, "bytes");
    CHECK(buffer == nullptr);
  }
}
