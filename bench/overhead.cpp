#include "overhead.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>

#include "args.h"
#include "conformance.h"
#include "vkattn_vulkan.h"

namespace vkattn_bench {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kInFlight = 4;

struct OverheadCase {
  std::string name;
  vkattn_test::CaseSpec spec;
};

std::vector<OverheadCase> cases() {
  std::vector<OverheadCase> all;
  // A small decode, where the per-call cost is most of the time, and the
  // suite's decode shape.
  vkattn_test::CaseSpec small = vkattn_test::make_case("overhead", 1, 8, 2, 1, 512, 64, 64, VKATTN_DTYPE_F16);
  small.lse = false;
  all.push_back({"overhead_decode_q1_kv512_h8x2_d64_f16", small});
  vkattn_test::CaseSpec suite_shape = vkattn_test::make_case("overhead", 1, 32, 8, 1, 4096, 128, 128, VKATTN_DTYPE_F16);
  suite_shape.lse = false;
  all.push_back({"overhead_decode_q1_kv4096_h32x8_d128_f16", suite_shape});
  return all;
}

// The few device functions the bench's "app" calls, loaded through the
// context's own vkGetInstanceProcAddr (the bench does not link the loader).
struct AppFunctions {
  PFN_vkCreateCommandPool create_pool = nullptr;
  PFN_vkDestroyCommandPool destroy_pool = nullptr;
  PFN_vkAllocateCommandBuffers allocate = nullptr;
  PFN_vkBeginCommandBuffer begin = nullptr;
  PFN_vkEndCommandBuffer end = nullptr;
  PFN_vkQueueSubmit submit = nullptr;
  PFN_vkCreateFence create_fence = nullptr;
  PFN_vkDestroyFence destroy_fence = nullptr;
  PFN_vkWaitForFences wait = nullptr;
  PFN_vkResetFences reset = nullptr;

  bool load(const vkattn_vulkan_device& d) {
    auto device_proc = reinterpret_cast<PFN_vkGetDeviceProcAddr>(d.get_instance_proc_addr(d.instance, "vkGetDeviceProcAddr"));
    if (device_proc == nullptr) return false;
    auto get = [&](const char* name) { return device_proc(d.device, name); };
    create_pool = reinterpret_cast<PFN_vkCreateCommandPool>(get("vkCreateCommandPool"));
    destroy_pool = reinterpret_cast<PFN_vkDestroyCommandPool>(get("vkDestroyCommandPool"));
    allocate = reinterpret_cast<PFN_vkAllocateCommandBuffers>(get("vkAllocateCommandBuffers"));
    begin = reinterpret_cast<PFN_vkBeginCommandBuffer>(get("vkBeginCommandBuffer"));
    end = reinterpret_cast<PFN_vkEndCommandBuffer>(get("vkEndCommandBuffer"));
    submit = reinterpret_cast<PFN_vkQueueSubmit>(get("vkQueueSubmit"));
    create_fence = reinterpret_cast<PFN_vkCreateFence>(get("vkCreateFence"));
    destroy_fence = reinterpret_cast<PFN_vkDestroyFence>(get("vkDestroyFence"));
    wait = reinterpret_cast<PFN_vkWaitForFences>(get("vkWaitForFences"));
    reset = reinterpret_cast<PFN_vkResetFences>(get("vkResetFences"));
    return create_pool && destroy_pool && allocate && begin && end && submit && create_fence && destroy_fence && wait &&
           reset;
  }
};

// Runs `step` (which performs `per_step` executions) repeatedly for about
// `seconds` after a warm-up; returns microseconds per execution (the median
// of 5 slices), or a negative value when a step failed.
double time_steps(const std::function<bool()>& step, int per_step, double seconds) {
  for (int i = 0; i < 3; ++i) {
    if (!step()) return -1;
  }
  std::vector<double> slices;
  for (int slice = 0; slice < 5; ++slice) {
    const auto start = Clock::now();
    int steps = 0;
    do {
      if (!step()) return -1;
      ++steps;
    } while (std::chrono::duration<double>(Clock::now() - start).count() < seconds / 5);
    slices.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count() / (steps * per_step));
  }
  std::sort(slices.begin(), slices.end());
  return slices[2];
}

bool ok(vkattn_status status, const char* what) {
  if (status == VKATTN_SUCCESS) return true;
  std::printf("  %s failed: %s\n", what, vkattn_last_error());
  return false;
}

// One case on one context: kInFlight plans of the problem, each with its own
// output buffer (they share Q, K and V). *skipped: the device is too slow
// for the time budget (nothing measured, not a failure).
bool run_case(vkattn_context context, const OverheadCase& oc, double seconds, std::vector<OverheadRow>* rows,
              bool* skipped) {
  const vkattn_test::HostInputs in = vkattn_test::make_inputs(oc.spec);
  const std::vector<uint8_t> q = vkattn_test::encode_tensor(in.q, oc.spec.dtype);
  const std::vector<uint8_t> k = vkattn_test::encode_tensor(in.k, oc.spec.dtype);
  const std::vector<uint8_t> v = vkattn_test::encode_tensor(in.v, oc.spec.dtype);
  const uint64_t out_bytes = static_cast<uint64_t>(oc.spec.q_heads * oc.spec.q_len * oc.spec.v_dim) * 2;
  std::vector<vkattn_buffer> buffers;
  auto make = [&](uint64_t bytes, const void* data) {
    vkattn_buffer buffer = nullptr;
    if (!ok(vkattn_buffer_create(context, bytes, 0, &buffer), "vkattn_buffer_create")) return buffer;
    buffers.push_back(buffer);
    if (data != nullptr && !ok(vkattn_buffer_write(buffer, 0, data, bytes), "vkattn_buffer_write")) return buffer;
    return buffer;
  };
  vkattn_plan plans[kInFlight] = {};
  vkattn_bindings bindings[kInFlight];
  vkattn_execution runs[kInFlight];
  const vkattn_buffer qb = make(q.size(), q.data()), kb = make(k.size(), k.data()), vb = make(v.size(), v.data());
  bool good = qb && kb && vb;
  for (int i = 0; i < kInFlight && good; ++i) {
    good = ok(vkattn_plan_create(context, &in.desc, 0, &plans[i]), "vkattn_plan_create");
    vkattn_bindings_init(&bindings[i]);
    bindings[i].q = qb, bindings[i].k = kb, bindings[i].v = vb, bindings[i].out = make(out_bytes, nullptr);
    good = good && bindings[i].out != nullptr;
    vkattn_execution_init(&runs[i]);
    runs[i].plan = plans[i];
    runs[i].bindings = &bindings[i];
  }
  // The work itself: GPU timestamps of one execution, warm (the median of 5
  // after 3 that compile and fault everything in).
  std::vector<double> gpu_times;
  for (int run = 0; run < 8 && good; ++run) {
    double ms = 0;
    good = ok(vkattn_plan_execute(plans[0], &bindings[0]), "vkattn_plan_execute") &&
           ok(vkattn_plan_get_last_time(plans[0], &ms), "vkattn_plan_get_last_time");
    if (run >= 3) gpu_times.push_back(ms);
  }
  std::sort(gpu_times.begin(), gpu_times.end());
  const double gpu_ms = good ? gpu_times[2] : 0;
  // Each mode runs at least 8 steps of up to 4 executions.
  if (good && gpu_ms * 1e-3 * 8 * kInFlight * 4 > 4 * seconds) {
    std::printf("\n%s: skipped: one execution takes %.1f ms of device time, over the time budget\n", oc.name.c_str(),
                gpu_ms);
    good = false;
    *skipped = true;
  }
  auto add = [&](const char* mode, double us) {
    if (us < 0) good = false;
    rows->push_back({oc.name, mode, "", us, gpu_ms * 1000});
  };

  if (good) {
    add("blocking: execute + finish", time_steps([&] {
          return ok(vkattn_plan_execute(plans[0], &bindings[0]), "execute") && ok(vkattn_context_finish(context), "finish");
        }, 1, seconds));
  }
  if (good) {
    uint64_t tickets[kInFlight] = {};
    int next = 0;
    add("async: 4 plans in flight (submit, wait oldest)", time_steps([&] {
          const int i = next++ % kInFlight;
          if (tickets[i] != 0 && !ok(vkattn_context_wait(context, tickets[i]), "vkattn_context_wait")) return false;
          return ok(vkattn_submit(context, &runs[i], 1, &tickets[i]), "vkattn_submit");
        }, 1, seconds));
    good = good && ok(vkattn_context_finish(context), "finish");
  }
  if (good) {
    add("batched: 4 plans per submission + wait", time_steps([&] {
          uint64_t ticket = 0;
          return ok(vkattn_submit(context, runs, kInFlight, &ticket), "vkattn_submit") &&
                 ok(vkattn_context_wait(context, ticket), "vkattn_context_wait");
        }, kInFlight, seconds));
  }
  // The app's command buffer with the 4 plans recorded once, resubmitted
  // and waited for each frame, as an engine's frame graph does.
  vkattn_vulkan_device device;
  vkattn_vulkan_device_init(&device);
  AppFunctions fn;
  VkCommandPool pool = VK_NULL_HANDLE;
  VkFence fence = VK_NULL_HANDLE;
  if (good) good = ok(vkattn_context_get_vulkan_device(context, &device), "vkattn_context_get_vulkan_device");
  if (good && !fn.load(device)) {
    std::printf("  cannot load the app's device functions\n");
    good = false;
  }
  if (good) {
    VkCommandPoolCreateInfo pool_info{};
    pool_info.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
    pool_info.queueFamilyIndex = device.queue_family_index;
    VkFenceCreateInfo fence_info{};
    fence_info.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
    good = fn.create_pool(device.device, &pool_info, nullptr, &pool) == VK_SUCCESS &&
           fn.create_fence(device.device, &fence_info, nullptr, &fence) == VK_SUCCESS;
  }
  if (good) {
    VkCommandBufferAllocateInfo allocate{};
    allocate.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
    allocate.commandPool = pool;
    allocate.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    allocate.commandBufferCount = 1;
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    VkCommandBufferBeginInfo begin{};
    begin.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
    vkattn_vulkan_recording recording;
    vkattn_vulkan_recording_init(&recording);
    good = fn.allocate(device.device, &allocate, &cmd) == VK_SUCCESS && fn.begin(cmd, &begin) == VK_SUCCESS;
    recording.command_buffer = cmd;
    good = good && ok(vkattn_record_vulkan(context, runs, kInFlight, &recording), "vkattn_record_vulkan") &&
           fn.end(cmd) == VK_SUCCESS;
    VkSubmitInfo submit{};
    submit.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    submit.commandBufferCount = 1;
    submit.pCommandBuffers = &cmd;
    if (good) {
      add("recorded: 4 plans in the app's command buffer", time_steps([&] {
            return fn.submit(device.queue, 1, &submit, fence) == VK_SUCCESS &&
                   fn.wait(device.device, 1, &fence, VK_TRUE, UINT64_MAX) == VK_SUCCESS &&
                   fn.reset(device.device, 1, &fence) == VK_SUCCESS;
          }, kInFlight, seconds));
    }
  }
  if (fence != VK_NULL_HANDLE) fn.destroy_fence(device.device, fence, nullptr);
  if (pool != VK_NULL_HANDLE) fn.destroy_pool(device.device, pool, nullptr);
  for (vkattn_plan plan : plans) vkattn_plan_destroy(plan);
  for (vkattn_buffer buffer : buffers) vkattn_buffer_destroy(buffer);
  return good || *skipped;
}

}  // namespace

std::vector<std::string> overhead_cases() {
  std::vector<std::string> names;
  for (const OverheadCase& oc : cases()) names.push_back(oc.name);
  return names;
}

bool run_overhead(int32_t device, const std::string& label, const std::string& filter, double seconds,
                  std::vector<OverheadRow>* rows) {
  bool good = true;
  for (const OverheadCase& oc : cases()) {
    if (!vkattn_samples::filter_matches(filter, oc.name)) continue;
    vkattn_context_options options;
    vkattn_context_options_init(&options);
    options.backend = VKATTN_BACKEND_VULKAN;
    options.device_index = device;
    vkattn_context context = nullptr;
    if (!ok(vkattn_context_create(&options, &context), "vkattn_context_create")) return false;
    const size_t first = rows->size();
    bool skipped = false;
    const bool ran = run_case(context, oc, seconds, rows, &skipped);
    vkattn_context_destroy(context);
    good = good && ran;
    if (rows->size() == first || skipped) continue;
    const double blocking = (*rows)[first].us_per_execution;
    std::printf("\n%s on %s: the device's work takes %.1f us per execution (GPU timestamps)\n", oc.name.c_str(),
                label.c_str(), (*rows)[first].gpu_us);
    std::printf("  %-48s %14s %14s %12s\n", "mode", "us/execution", "host us/exec", "vs blocking");
    for (size_t r = first; r < rows->size(); ++r) {
      const OverheadRow& row = (*rows)[r];
      std::printf("  %-48s %14.1f %14.1f %11.2fx\n", row.mode.c_str(), row.us_per_execution,
                  row.us_per_execution - row.gpu_us, row.us_per_execution / blocking);
    }
  }
  return good;
}

}  // namespace vkattn_bench
