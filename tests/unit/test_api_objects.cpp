// Contexts, devices, buffers and handle lifetimes.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "api_helpers.h"
#include "vkattn.h"

using namespace vkattn_test;

TEST_CASE("context options are validated by name") {
  vkattn_context context = nullptr;
  vkattn_context_options options;
  vkattn_context_options_init(&options);
  options.struct_size = 12;
  CHECK_STATUS_MENTIONS(vkattn_context_create(&options, &context), VKATTN_ERROR_INVALID_ARGUMENT, "struct_size");
  vkattn_context_options_init(&options);
  options.backend = static_cast<vkattn_backend>(7);
  CHECK_STATUS_MENTIONS(vkattn_context_create(&options, &context), VKATTN_ERROR_INVALID_ARGUMENT, "backend");
  vkattn_context_options_init(&options);
  options.cpu_threads = -2;
  CHECK_STATUS_MENTIONS(vkattn_context_create(&options, &context), VKATTN_ERROR_INVALID_ARGUMENT, "cpu_threads");
  vkattn_context_options_init(&options);
  options.device_index = -5;
  CHECK_STATUS_MENTIONS(vkattn_context_create(&options, &context), VKATTN_ERROR_INVALID_ARGUMENT, "device_index");
  vkattn_context_options_init(&options);
  options.flags = 0x80;
  CHECK_STATUS_MENTIONS(vkattn_context_create(&options, &context), VKATTN_ERROR_INVALID_ARGUMENT, "flags");
  CHECK(context == nullptr);
}

TEST_CASE("a default context works and describes its device") {
  vkattn_context context = nullptr;
  REQUIRE(vkattn_context_create(nullptr, &context) == VKATTN_SUCCESS);
  vkattn_device_info info;
  vkattn_device_info_init(&info);
  REQUIRE(vkattn_context_get_info(context, &info) == VKATTN_SUCCESS);
  CHECK((info.backend == VKATTN_BACKEND_CPU || info.backend == VKATTN_BACKEND_VULKAN));
  CHECK(std::strlen(info.name) > 0);
  CHECK(info.usable == 1);
  vkattn_device_info bad;
  vkattn_device_info_init(&bad);
  bad.struct_size = 3;
  CHECK_STATUS_MENTIONS(vkattn_context_get_info(context, &bad), VKATTN_ERROR_INVALID_ARGUMENT, "struct_size");
  CHECK(vkattn_context_finish(context) == VKATTN_SUCCESS);
  CHECK(vkattn_context_destroy(context) == VKATTN_SUCCESS);
}

TEST_CASE("the CPU context reports its thread count") {
  CpuContext context(3);
  vkattn_device_info info;
  vkattn_device_info_init(&info);
  REQUIRE(vkattn_context_get_info(context, &info) == VKATTN_SUCCESS);
  CHECK(info.backend == VKATTN_BACKEND_CPU);
  CHECK(info.type == VKATTN_DEVICE_TYPE_CPU);
  CHECK(info.compute_units == 3);
  CHECK(info.storage_16bit == 1);
  CHECK(info.unified_memory == 1);
}

TEST_CASE("device enumeration lists the CPU first and honours capacity") {
  uint32_t count = 0;
  REQUIRE(vkattn_enumerate_devices(nullptr, 0, &count) == VKATTN_SUCCESS);
  REQUIRE(count >= 1);
  std::vector<vkattn_device_info> infos(count);
  for (auto& info : infos) vkattn_device_info_init(&info);
  uint32_t again = 0;
  REQUIRE(vkattn_enumerate_devices(infos.data(), count, &again) == VKATTN_SUCCESS);
  CHECK(again == count);
  CHECK(infos[0].backend == VKATTN_BACKEND_CPU);
  for (uint32_t i = 1; i < count; ++i) CHECK(infos[i].backend == VKATTN_BACKEND_VULKAN);
  vkattn_device_info one;
  vkattn_device_info_init(&one);
  REQUIRE(vkattn_enumerate_devices(&one, 1, &again) == VKATTN_SUCCESS);
  CHECK(again == count);
  CHECK_STATUS_MENTIONS(vkattn_enumerate_devices(nullptr, 2, &again), VKATTN_ERROR_INVALID_ARGUMENT, "capacity");
  CHECK_STATUS_MENTIONS(vkattn_enumerate_devices(nullptr, 0, nullptr), VKATTN_ERROR_INVALID_ARGUMENT, "out_count");
  one.struct_size = 1;
  CHECK_STATUS_MENTIONS(vkattn_enumerate_devices(&one, 1, &again), VKATTN_ERROR_INVALID_ARGUMENT, "struct_size");
}

TEST_CASE("buffers: create, write, read, map and their errors") {
  CpuContext context;
  vkattn_buffer buffer = nullptr;
  CHECK_STATUS_MENTIONS(vkattn_buffer_create(context, 0, 0, &buffer), VKATTN_ERROR_INVALID_ARGUMENT, "size_bytes");
  CHECK_STATUS_MENTIONS(vkattn_buffer_create(context, 16, 0x10, &buffer), VKATTN_ERROR_INVALID_ARGUMENT, "flags");
  REQUIRE(vkattn_buffer_create(context, 64, VKATTN_BUFFER_HOST_VISIBLE, &buffer) == VKATTN_SUCCESS);
  uint64_t size = 0;
  CHECK(vkattn_buffer_get_size(buffer, &size) == VKATTN_SUCCESS);
  CHECK(size == 64);

  std::vector<uint8_t> data(64);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7);
  CHECK(vkattn_buffer_write(buffer, 0, data.data(), 64) == VKATTN_SUCCESS);
  std::vector<uint8_t> back(16, 0);
  CHECK(vkattn_buffer_read(buffer, 48, back.data(), 16) == VKATTN_SUCCESS);
  CHECK(std::memcmp(back.data(), data.data() + 48, 16) == 0);
  CHECK_STATUS_MENTIONS(vkattn_buffer_read(buffer, 60, back.data(), 8), VKATTN_ERROR_INVALID_ARGUMENT, "outside");
  CHECK_STATUS_MENTIONS(vkattn_buffer_write(buffer, UINT64_MAX, data.data(), 2), VKATTN_ERROR_INVALID_ARGUMENT,
                        "outside");
  CHECK_STATUS_MENTIONS(vkattn_buffer_write(buffer, 0, nullptr, 2), VKATTN_ERROR_INVALID_ARGUMENT, "data");
  CHECK(vkattn_buffer_write(buffer, 64, nullptr, 0) == VKATTN_SUCCESS);

  void* pointer = nullptr;
  REQUIRE(vkattn_buffer_map(buffer, &pointer) == VKATTN_SUCCESS);
  REQUIRE(pointer != nullptr);
  CHECK(static_cast<uint8_t*>(pointer)[5] == data[5]);
  static_cast<uint8_t*>(pointer)[5] = 99;
  CHECK_STATUS_MENTIONS(vkattn_buffer_map(buffer, &pointer), VKATTN_ERROR_FAILED_PRECONDITION, "already mapped");
  CHECK_STATUS_MENTIONS(vkattn_buffer_read(buffer, 0, back.data(), 1), VKATTN_ERROR_FAILED_PRECONDITION, "mapped");
  CHECK(vkattn_buffer_unmap(buffer) == VKATTN_SUCCESS);
  CHECK(vkattn_buffer_read(buffer, 5, back.data(), 1) == VKATTN_SUCCESS);
  CHECK(back[0] == 99);
  CHECK_STATUS_MENTIONS(vkattn_buffer_unmap(buffer), VKATTN_ERROR_FAILED_PRECONDITION, "not mapped");
  CHECK(vkattn_buffer_destroy(buffer) == VKATTN_SUCCESS);
}

TEST_CASE("destroy accepts NULL and rejects handles of the wrong kind") {
  CHECK(vkattn_context_destroy(nullptr) == VKATTN_SUCCESS);
  CHECK(vkattn_buffer_destroy(nullptr) == VKATTN_SUCCESS);
  CHECK(vkattn_plan_destroy(nullptr) == VKATTN_SUCCESS);
  CpuContext context;
  Buffer buffer(context, 16);
  CHECK_STATUS_MENTIONS(vkattn_plan_destroy(reinterpret_cast<vkattn_plan>(buffer.buffer)),
                        VKATTN_ERROR_INVALID_ARGUMENT, "vkattn_plan");
  CHECK_STATUS_MENTIONS(vkattn_buffer_destroy(reinterpret_cast<vkattn_buffer>(context.context)),
                        VKATTN_ERROR_INVALID_ARGUMENT, "vkattn_buffer");
  CHECK_STATUS_MENTIONS(vkattn_context_finish(reinterpret_cast<vkattn_context>(buffer.buffer)),
                        VKATTN_ERROR_INVALID_ARGUMENT, "vkattn_context");
}

TEST_CASE("objects outliving their context refuse work but can be destroyed") {
  vkattn_context_options options;
  vkattn_context_options_init(&options);
  options.backend = VKATTN_BACKEND_CPU;
  vkattn_context context = nullptr;
  REQUIRE(vkattn_context_create(&options, &context) == VKATTN_SUCCESS);
  vkattn_attention_desc desc = small_desc();
  vkattn_plan plan = nullptr;
  REQUIRE(vkattn_plan_create(context, &desc, 0, &plan) == VKATTN_SUCCESS);
  vkattn_buffer buffer = nullptr;
  REQUIRE(vkattn_buffer_create(context, 256, 0, &buffer) == VKATTN_SUCCESS);
  REQUIRE(vkattn_context_destroy(context) == VKATTN_SUCCESS);

  vkattn_bindings bindings;
  vkattn_bindings_init(&bindings);
  CHECK_STATUS_MENTIONS(vkattn_plan_execute(plan, &bindings), VKATTN_ERROR_FAILED_PRECONDITION, "context was destroyed");
  uint8_t byte = 0;
  CHECK_STATUS_MENTIONS(vkattn_buffer_read(buffer, 0, &byte, 1), VKATTN_ERROR_FAILED_PRECONDITION,
                        "context was destroyed");
  vkattn_plan_info info;
  vkattn_plan_info_init(&info);
  CHECK(vkattn_plan_get_info(plan, &info) == VKATTN_ERROR_FAILED_PRECONDITION);
  CHECK(vkattn_plan_destroy(plan) == VKATTN_SUCCESS);
  CHECK(vkattn_buffer_destroy(buffer) == VKATTN_SUCCESS);
}
