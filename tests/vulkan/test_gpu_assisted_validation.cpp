// GPU-assisted validation (the validation layer instruments every shader and
// reports out-of-bounds buffer accesses) on SwiftShader, whose shader
// compiler is fast enough for it (lavapipe's takes minutes per instrumented
// pipeline, docs/RELIABILITY.md):
//   - a test-only shader with a planted out-of-bounds read is reported,
//     which proves the instrumentation is active on this driver and layer;
//   - an eighth of the conformance matrix runs through the GPU kernel with no
//     message.
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
#include <set>
#include <string>
#include <vector>

#include "app_vulkan.h"
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
    if (is_swiftshader(vulkan_device_info(device))) return static_cast<int>(device);
  }
  return -1;
}

// Runs the planted shader once with each index, on one app device with
// GPU-assisted validation, and returns the layer's errors of each run.
std::vector<std::vector<std::string>> run_planted_reads(const std::vector<uint32_t>& indices) {
  AppVulkan app(vulkan_device_info(static_cast<uint32_t>(swiftshader_index())).name, false,
                VK_VALIDATION_FEATURE_ENABLE_GPU_ASSISTED_EXT);
  REQUIRE(app.validation);
  std::ifstream spv_file(VKATTN_PLANTED_OUT_OF_BOUNDS_SPV, std::ios::binary);
  REQUIRE(spv_file.good());
  const std::vector<char> spv((std::istreambuf_iterator<char>(spv_file)), std::istreambuf_iterator<char>());
  std::vector<uint32_t> words(spv.size() / 4);
  std::memcpy(words.data(), spv.data(), words.size() * 4);
  const VkPipeline planted = app.create_pipeline(words.data(), words.size());
  AppBuffer source = app.create_buffer(256, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT);
  AppBuffer destination = app.create_buffer(256, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT);
  std::vector<std::vector<std::string>> errors;
  for (uint32_t index : indices) {
    // 16-byte bindings: element `index` of the source is read.
    VkCommandBuffer cmd = app.begin_commands();
    app.record_dispatch(cmd, planted, source, 0, destination, 0, 16, &index, sizeof(index), 1);
    app.submit(cmd, VK_NULL_HANDLE, 0, VK_NULL_HANDLE, 0, true);
    errors.push_back(app.take_errors());
  }
  app.destroy_buffer(source);
  app.destroy_buffer(destination);
  app.destroy();
  const std::vector<std::string> teardown = app.take_errors();
  CHECK_MESSAGE(teardown.empty(), (teardown.empty() ? "" : teardown.front()));
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
// split with the (O, m, l) scratch and the reduce pass; linear
// and top-k attention through their own kernels (top-k's selection with one
// key per invocation, as GPUs run it). On every eighth case of each group
// (under_gpu_assisted_validation): the tiled matrix runs SwiftShader's
// other cases without instrumentation, spread over the four team / K-V
// choices.
TEST_CASE("an eighth of the conformance matrix under GPU-assisted validation on SwiftShader: tiled kernel, staged and split, no message") {
  const char kernel[] = "tiled,subgroup,staged,split,keys=1";
  REQUIRE(setenv("VKATTN_VALIDATION", "gpu", 1) == 0);
  REQUIRE(setenv("VKATTN_VULKAN_KERNEL", kernel, 1) == 0);
  const uint32_t device = static_cast<uint32_t>(swiftshader_index());
  LogCollector log;
  vkattn_context context = nullptr;
  REQUIRE(create_validated_context(device, &log, nullptr, &context) == VKATTN_SUCCESS);
  REQUIRE(unsetenv("VKATTN_VULKAN_KERNEL") == 0);
  int passed = 0;
  std::set<std::string> executed;  // the variants that ran, for the variant check
  const std::vector<CaseSpec> cases = conformance_cases();
  const std::vector<bool> chosen = under_gpu_assisted_validation(cases);
  for (size_t c = 0; c < cases.size(); ++c) {
    const CaseSpec& spec = cases[c];
    if (!chosen[c]) continue;  // run by the tiled matrix
    const CaseResult result = run_case(context, spec);
    INFO(spec.name(), ": ", result.message);
    CHECK(result.passed);
    if (result.passed) ++passed;
    if (!result.kernel.empty()) executed.insert(result.kernel);
  }
  if (!variant_record_dir().empty()) {
    std::ofstream out(variant_record_dir() + "/gpuav.txt");
    for (const std::string& name : executed) out << name << "\n";
    CHECK(out.good());
  }
  CHECK(vkattn_context_destroy(context) == VKATTN_SUCCESS);
  MESSAGE("SwiftShader, GPU-assisted validation, VKATTN_VULKAN_KERNEL=", std::string(kernel), ": ", passed,
          " cases passed");
  CHECK_MESSAGE(log.validation_messages.load() == 0, log.first_messages());
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
