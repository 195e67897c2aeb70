// GPU-assisted validation (the validation layer instruments every shader and
// reports out-of-bounds buffer accesses) on SwiftShader, whose shader
// compiler is fast enough for it (lavapipe's takes minutes per instrumented
// pipeline, docs/RELIABILITY.md):
//   - a test-only shader with a planted out-of-bounds read is reported,
//     which proves the instrumentation is active on this driver and layer;
//   - the conformance matrix runs through the GPU kernel with no message.
// Without SwiftShader or the validation layer this binary exits 77 (CTest:
// skipped). The planted-read test talks to Vulkan directly (it needs a shader
// of its own); the matrix goes through vkattn's API with VKATTN_VALIDATION=gpu.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <vulkan/vulkan.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "conformance.h"
#include "vulkan_test_support.h"

using namespace vkattn_test;

namespace {

const char kLayer[] = "VK_LAYER_KHRONOS_validation";

bool has_layer() {
  uint32_t count = 0;
  if (vkEnumerateInstanceLayerProperties(&count, nullptr) != VK_SUCCESS) return false;
  std::vector<VkLayerProperties> layers(count);
  if (vkEnumerateInstanceLayerProperties(&count, layers.data()) != VK_SUCCESS) return false;
  for (const VkLayerProperties& layer : layers) {
    if (std::strcmp(layer.layerName, kLayer) == 0) return true;
  }
  return false;
}

// vkattn's index of the SwiftShader device, or -1.
int swiftshader_index() {
  for (uint32_t device : usable_vulkan_devices()) {
    if (std::strstr(vulkan_device_info(device).name, "SwiftShader") != nullptr) return static_cast<int>(device);
  }
  return -1;
}

struct Messages {
  std::vector<std::string> errors;
  static VKAPI_ATTR VkBool32 VKAPI_CALL callback(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                 VkDebugUtilsMessageTypeFlagsEXT, const VkDebugUtilsMessengerCallbackDataEXT* data,
                                                 void* user) {
    if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
      static_cast<Messages*>(user)->errors.push_back(data->pMessage != nullptr ? data->pMessage : "");
    }
    return VK_FALSE;
  }
};

#define VK_REQUIRE(call) REQUIRE((call) == VK_SUCCESS)

// Runs the planted shader once with each index, on one instance and
// device, and returns the layer's errors of each run.
std::vector<std::vector<std::string>> run_planted_reads(const std::vector<uint32_t>& indices) {
  Messages messages;
  const char* extensions[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME};
  const char* layers[] = {kLayer};
  VkValidationFeatureEnableEXT enables[] = {VK_VALIDATION_FEATURE_ENABLE_GPU_ASSISTED_EXT};
  VkValidationFeaturesEXT features{};
  features.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT;
  features.enabledValidationFeatureCount = 1;
  features.pEnabledValidationFeatures = enables;
  VkApplicationInfo app{};
  app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
  app.apiVersion = VK_API_VERSION_1_1;
  VkInstanceCreateInfo instance_info{};
  instance_info.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
  instance_info.pNext = &features;
  instance_info.pApplicationInfo = &app;
  instance_info.enabledLayerCount = 1;
  instance_info.ppEnabledLayerNames = layers;
  instance_info.enabledExtensionCount = 2;
  instance_info.ppEnabledExtensionNames = extensions;
  VkDebugUtilsMessengerCreateInfoEXT messenger_info{};
  messenger_info.sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT;
  messenger_info.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  messenger_info.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT;
  messenger_info.pfnUserCallback = &Messages::callback;
  messenger_info.pUserData = &messages;
  VkInstance instance = VK_NULL_HANDLE;
  VK_REQUIRE(vkCreateInstance(&instance_info, nullptr, &instance));
  auto create_messenger = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
      vkGetInstanceProcAddr(instance, "vkCreateDebugUtilsMessengerEXT"));
  auto destroy_messenger = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
      vkGetInstanceProcAddr(instance, "vkDestroyDebugUtilsMessengerEXT"));
  REQUIRE(static_cast<bool>(create_messenger));
  VkDebugUtilsMessengerEXT messenger = VK_NULL_HANDLE;
  VK_REQUIRE(create_messenger(instance, &messenger_info, nullptr, &messenger));

  uint32_t count = 0;
  VK_REQUIRE(vkEnumeratePhysicalDevices(instance, &count, nullptr));
  std::vector<VkPhysicalDevice> physical(count);
  VK_REQUIRE(vkEnumeratePhysicalDevices(instance, &count, physical.data()));
  VkPhysicalDevice chosen = VK_NULL_HANDLE;
  for (VkPhysicalDevice p : physical) {
    VkPhysicalDeviceProperties props{};
    vkGetPhysicalDeviceProperties(p, &props);
    if (std::strstr(props.deviceName, "SwiftShader") != nullptr) chosen = p;
  }
  REQUIRE(chosen != VK_NULL_HANDLE);
  const float priority = 1.0f;
  VkDeviceQueueCreateInfo queue_info{};
  queue_info.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
  queue_info.queueCount = 1;
  queue_info.pQueuePriorities = &priority;
  VkDeviceCreateInfo device_info{};
  device_info.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
  device_info.queueCreateInfoCount = 1;
  device_info.pQueueCreateInfos = &queue_info;
  VkDevice device = VK_NULL_HANDLE;
  VK_REQUIRE(vkCreateDevice(chosen, &device_info, nullptr, &device));
  VkQueue queue = VK_NULL_HANDLE;
  vkGetDeviceQueue(device, 0, 0, &queue);

  VkPhysicalDeviceMemoryProperties memory{};
  vkGetPhysicalDeviceMemoryProperties(chosen, &memory);
  VkBuffer buffers[2] = {};
  VkDeviceMemory allocations[2] = {};
  for (int i = 0; i < 2; ++i) {
    VkBufferCreateInfo buffer_info{};
    buffer_info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    buffer_info.size = 256;
    buffer_info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
    VK_REQUIRE(vkCreateBuffer(device, &buffer_info, nullptr, &buffers[i]));
    VkMemoryRequirements requirements{};
    vkGetBufferMemoryRequirements(device, buffers[i], &requirements);
    uint32_t type = 0;
    while (type < memory.memoryTypeCount && !(requirements.memoryTypeBits & (1u << type))) ++type;
    REQUIRE(type < memory.memoryTypeCount);
    VkMemoryAllocateInfo allocate{};
    allocate.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
    allocate.allocationSize = requirements.size;
    allocate.memoryTypeIndex = type;
    VK_REQUIRE(vkAllocateMemory(device, &allocate, nullptr, &allocations[i]));
    VK_REQUIRE(vkBindBufferMemory(device, buffers[i], allocations[i], 0));
  }
  VkDescriptorSetLayoutBinding bindings[2] = {
      {0, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr},
      {1, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr}};
  VkDescriptorSetLayoutCreateInfo set_layout_info{};
  set_layout_info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
  set_layout_info.bindingCount = 2;
  set_layout_info.pBindings = bindings;
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
  VK_REQUIRE(vkCreateDescriptorSetLayout(device, &set_layout_info, nullptr, &set_layout));
  VkPushConstantRange push{VK_SHADER_STAGE_COMPUTE_BIT, 0, 4};
  VkPipelineLayoutCreateInfo layout_info{};
  layout_info.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
  layout_info.setLayoutCount = 1;
  layout_info.pSetLayouts = &set_layout;
  layout_info.pushConstantRangeCount = 1;
  layout_info.pPushConstantRanges = &push;
  VkPipelineLayout pipeline_layout = VK_NULL_HANDLE;
  VK_REQUIRE(vkCreatePipelineLayout(device, &layout_info, nullptr, &pipeline_layout));
  std::ifstream spv_file(VKATTN_PLANTED_OUT_OF_BOUNDS_SPV, std::ios::binary);
  REQUIRE(spv_file.good());
  const std::vector<char> spv((std::istreambuf_iterator<char>(spv_file)), std::istreambuf_iterator<char>());
  std::vector<uint32_t> words(spv.size() / 4);
  std::memcpy(words.data(), spv.data(), words.size() * 4);
  VkShaderModuleCreateInfo module_info{};
  module_info.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
  module_info.codeSize = words.size() * 4;
  module_info.pCode = words.data();
  VkShaderModule module = VK_NULL_HANDLE;
  VK_REQUIRE(vkCreateShaderModule(device, &module_info, nullptr, &module));
  VkComputePipelineCreateInfo pipeline_info{};
  pipeline_info.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
  pipeline_info.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  pipeline_info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  pipeline_info.stage.module = module;
  pipeline_info.stage.pName = "main";
  pipeline_info.layout = pipeline_layout;
  VkPipeline pipeline = VK_NULL_HANDLE;
  VK_REQUIRE(vkCreateComputePipelines(device, VK_NULL_HANDLE, 1, &pipeline_info, nullptr, &pipeline));
  VkDescriptorPoolSize pool_size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 2};
  VkDescriptorPoolCreateInfo pool_info{};
  pool_info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
  pool_info.maxSets = 1;
  pool_info.poolSizeCount = 1;
  pool_info.pPoolSizes = &pool_size;
  VkDescriptorPool pool = VK_NULL_HANDLE;
  VK_REQUIRE(vkCreateDescriptorPool(device, &pool_info, nullptr, &pool));
  VkDescriptorSetAllocateInfo set_info{};
  set_info.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
  set_info.descriptorPool = pool;
  set_info.descriptorSetCount = 1;
  set_info.pSetLayouts = &set_layout;
  VkDescriptorSet set = VK_NULL_HANDLE;
  VK_REQUIRE(vkAllocateDescriptorSets(device, &set_info, &set));
  VkDescriptorBufferInfo buffer_infos[2] = {{buffers[0], 0, 16}, {buffers[1], 0, 16}};
  VkWriteDescriptorSet writes[2] = {};
  for (uint32_t i = 0; i < 2; ++i) {
    writes[i].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
    writes[i].dstSet = set;
    writes[i].dstBinding = i;
    writes[i].descriptorCount = 1;
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &buffer_infos[i];
  }
  vkUpdateDescriptorSets(device, 2, writes, 0, nullptr);
  VkCommandPoolCreateInfo command_pool_info{};
  command_pool_info.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
  command_pool_info.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;  // recorded once per index
  VkCommandPool command_pool = VK_NULL_HANDLE;
  VK_REQUIRE(vkCreateCommandPool(device, &command_pool_info, nullptr, &command_pool));
  VkCommandBufferAllocateInfo command_info{};
  command_info.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
  command_info.commandPool = command_pool;
  command_info.commandBufferCount = 1;
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  VK_REQUIRE(vkAllocateCommandBuffers(device, &command_info, &cmd));
  std::vector<std::vector<std::string>> errors;
  for (uint32_t index : indices) {
    VkCommandBufferBeginInfo begin{};
    begin.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
    VK_REQUIRE(vkBeginCommandBuffer(cmd, &begin));
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
    vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_layout, 0, 1, &set, 0, nullptr);
    vkCmdPushConstants(cmd, pipeline_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, 4, &index);
    vkCmdDispatch(cmd, 1, 1, 1);
    VK_REQUIRE(vkEndCommandBuffer(cmd));
    VkSubmitInfo submit{};
    submit.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    submit.commandBufferCount = 1;
    submit.pCommandBuffers = &cmd;
    VK_REQUIRE(vkQueueSubmit(queue, 1, &submit, VK_NULL_HANDLE));
    VK_REQUIRE(vkQueueWaitIdle(queue));
    errors.push_back(messages.errors);
    messages.errors.clear();
  }

  vkDestroyCommandPool(device, command_pool, nullptr);
  vkDestroyDescriptorPool(device, pool, nullptr);
  vkDestroyPipeline(device, pipeline, nullptr);
  vkDestroyShaderModule(device, module, nullptr);
  vkDestroyPipelineLayout(device, pipeline_layout, nullptr);
  vkDestroyDescriptorSetLayout(device, set_layout, nullptr);
  for (int i = 0; i < 2; ++i) {
    vkDestroyBuffer(device, buffers[i], nullptr);
    vkFreeMemory(device, allocations[i], nullptr);
  }
  vkDestroyDevice(device, nullptr);
  destroy_messenger(instance, messenger, nullptr);
  vkDestroyInstance(instance, nullptr);
  CHECK_MESSAGE(messages.errors.empty(), (messages.errors.empty() ? "" : messages.errors.front()));  // teardown
  return errors;
}

}  // namespace

TEST_CASE("GPU-assisted validation reports a planted out-of-bounds read on SwiftShader, and not an in-bounds one") {
  // Element 3 is the last of the 16-byte binding; element 100 is far outside.
  const std::vector<std::vector<std::string>> errors = run_planted_reads({3, 100});
  REQUIRE(errors.size() == 2);
  const std::vector<std::string>& in_bounds = errors[0];
  CHECK_MESSAGE(in_bounds.empty(), (in_bounds.empty() ? "" : in_bounds.front()));
  const std::vector<std::string>& out_of_bounds = errors[1];
  REQUIRE(out_of_bounds.size() == 1);
  CHECK(out_of_bounds.front().find("out of bounds") != std::string::npos);
}

// The GPU kernel (the one every GPU runs) in its variant that touches the
// most buffers: subgroup reductions, K/V staged through shared memory, keys
// split with the (O, m, l) scratch and the reduce pass. The other variants
// run the matrix without instrumentation (vkattn_vulkan_conformance_tests);
// under GPU-AV each takes about 11 minutes here, the lanes kernel about 23
// (docs/RELIABILITY.md says how to run them).
TEST_CASE("the conformance matrix under GPU-assisted validation on SwiftShader: tiled kernel, no message") {
  const char kernel[] = "tiled,subgroup,staged,split";
  REQUIRE(setenv("VKATTN_VALIDATION", "gpu", 1) == 0);
  REQUIRE(setenv("VKATTN_VULKAN_KERNEL", kernel, 1) == 0);
  const uint32_t device = static_cast<uint32_t>(swiftshader_index());
  LogCollector log;
  vkattn_context context = nullptr;
  REQUIRE(create_validated_context(device, &log, nullptr, &context) == VKATTN_SUCCESS);
  int passed = 0;
  for (const CaseSpec& spec : conformance_cases()) {
    const CaseResult result = run_case(context, spec);
    INFO(spec.name(), ": ", result.message);
    CHECK(result.passed);
    if (result.passed) ++passed;
  }
  CHECK(vkattn_context_destroy(context) == VKATTN_SUCCESS);
  CHECK_MESSAGE(log.validation_messages.load() == 0, log.first_messages());
  MESSAGE("SwiftShader, GPU-assisted validation, VKATTN_VULKAN_KERNEL=", std::string(kernel), ": ", passed,
          " cases passed, ", log.validation_messages.load(), " validation messages");
  REQUIRE(unsetenv("VKATTN_VULKAN_KERNEL") == 0);
  REQUIRE(unsetenv("VKATTN_VALIDATION") == 0);
}

int main(int argc, char** argv) {
  bool listing = false;
  for (int a = 1; a < argc; ++a) {
    if (std::strncmp(argv[a], "--list", 6) == 0 || std::strncmp(argv[a], "-l", 2) == 0) listing = true;
  }
  if (!listing && (swiftshader_index() < 0 || !has_layer())) {
    std::printf("needs SwiftShader (chromium-common, registered by scripts/install-deps.sh) and "
                "VK_LAYER_KHRONOS_validation: skipped\n");
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
