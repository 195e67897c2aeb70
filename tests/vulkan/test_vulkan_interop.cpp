// Vulkan interop (include/vkattn_vulkan.h) on every Vulkan device: an app
// with its own instance and device (validation and synchronization
// validation on, every message fails the test) adopts vkattn into it,
// imports its buffers, records attention between its own dispatches,
// chains asynchronous submissions with timeline semaphores, and tears down
// in every order. Results are checked against the float64 reference.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "app_vulkan.h"
#include "batch_check.h"
#include "conformance.h"
#include "reference.h"
#include "tolerance.h"
#include "vulkan_test_support.h"

using namespace vkattn_test;

namespace {

// One problem of the tests: GQA, causal bottom-right, key lengths.
HostInputs interop_inputs() {
  CaseSpec spec = make_case("interop", 1, 4, 2, 3, 70, 64, 64);
  spec.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
  spec.kv_lens = true;
  spec.lse = false;
  HostInputs in = make_inputs(spec);
  in.kv_lens = {70};
  return in;
}

// Max |got - reference| relative to the reference's largest |O|.
double relative_error(const std::vector<float>& got, const HostInputs& in) {
  const ReferenceOutput ref = reference_attention(in);
  REQUIRE(got.size() == ref.out.size());
  double scale = 1e-30, error = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    scale = std::max(scale, std::fabs(ref.out[i]));
    error = std::max(error, std::fabs(static_cast<double>(got[i]) - ref.out[i]));
  }
  return error / scale;
}

std::vector<float> read_floats(vkattn_buffer buffer, size_t count) {
  std::vector<float> values(count);
  REQUIRE(vkattn_buffer_read(buffer, 0, values.data(), count * 4) == VKATTN_SUCCESS);
  return values;
}

vkattn_buffer import_range(vkattn_context context, const AppBuffer& buffer, VkDeviceSize offset, VkDeviceSize size,
                           bool with_mapping) {
  const vkattn_vulkan_buffer desc = AppVulkan::range(buffer, offset, size, with_mapping);
  vkattn_buffer imported = nullptr;
  REQUIRE_MESSAGE(vkattn_buffer_import_vulkan(context, &desc, &imported) == VKATTN_SUCCESS, vkattn_last_error());
  return imported;
}

VkDeviceSize aligned(VkDeviceSize bytes, VkDeviceSize alignment) { return (bytes + alignment - 1) / alignment * alignment; }

// The app's memory for one problem: X (what its shader turns into Q) and P
// (what it makes of O) in `io`; Q, K, V and two outputs in `tensors`, each
// at an offset aligned for storage bindings.
struct AppTensors {
  AppBuffer io, tensors;
  VkDeviceSize q = 0, k = 0, v = 0, out = 0, out2 = 0, q_bytes = 0, kv_bytes = 0, out_bytes = 0, p = 0;

  AppTensors(AppVulkan& app, const HostInputs& in) {
    q_bytes = in.q.size() * 4;
    kv_bytes = in.k.size() * 4;
    out_bytes = static_cast<VkDeviceSize>(in.desc.batch * in.desc.q_heads * in.desc.q_len * in.desc.v_dim) * 4;
    const VkDeviceSize a = std::max<VkDeviceSize>(app.storage_alignment, 16);
    k = aligned(q_bytes, a);
    v = k + aligned(kv_bytes, a);
    out = v + aligned(kv_bytes, a);
    out2 = out + aligned(out_bytes, a);
    const VkBufferUsageFlags usage =
        VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    tensors = app.create_buffer(out2 + aligned(out_bytes, a), usage);
    p = aligned(q_bytes, a);
    io = app.create_buffer(p + aligned(out_bytes, a), VK_BUFFER_USAGE_STORAGE_BUFFER_BIT);
  }

  // O as the app's consumer shader saw it: P = 2 O, halved (exact).
  std::vector<float> consumed() const {
    std::vector<float> values(out_bytes / 4);
    std::memcpy(values.data(), io.mapped + p, out_bytes);
    for (float& value : values) value *= 0.5f;
    return values;
  }
  void release(AppVulkan& app) {
    app.destroy_buffer(io);
    app.destroy_buffer(tensors);
  }
};

// Destroys the app's device, where the validation layer names any object
// vkattn left on it, and fails on any message of the whole test.
void destroy_and_check(AppVulkan& app) {
  app.destroy();
  CHECK_MESSAGE(app.messages() == 0, app.first_messages());
}

// Replaces in->q by what the app's shader makes of X = the old Q
// (0.5 X + 0.25, exact in f32 arithmetic on both sides) and stores X.
void plant_producer_input(HostInputs* in, AppTensors& memory) {
  std::memcpy(memory.io.mapped, in->q.data(), memory.q_bytes);
  for (float& q : in->q) {
    const float scaled = 0.5f * q;
    q = scaled + 0.25f;
  }
}

// Q, K, V and an output imported from the app's memory into `context`
// (K and V written through vkattn; Q is left to the app's shader or the
// test), and a plan of the problem. With
// `map_all` false, V and the output go without the app's mapping: vkattn
// then writes and reads them through its staging copies.
struct ImportedProblem {
  vkattn_buffer q = nullptr, k = nullptr, v = nullptr, out = nullptr;
  vkattn_plan plan = nullptr;

  ImportedProblem(vkattn_context context, const AppTensors& memory, const HostInputs& in, bool map_all) {
    q = import_range(context, memory.tensors, memory.q, memory.q_bytes, true);
    k = import_range(context, memory.tensors, memory.k, memory.kv_bytes, true);
    v = import_range(context, memory.tensors, memory.v, memory.kv_bytes, map_all);
    out = import_range(context, memory.tensors, memory.out, memory.out_bytes, map_all);
    REQUIRE(vkattn_buffer_write(k, 0, in.k.data(), memory.kv_bytes) == VKATTN_SUCCESS);
    REQUIRE(vkattn_buffer_write(v, 0, in.v.data(), memory.kv_bytes) == VKATTN_SUCCESS);
    REQUIRE(vkattn_plan_create(context, &in.desc, 0, &plan) == VKATTN_SUCCESS);
  }
  vkattn_bindings bindings(const int32_t* kv_lens) const {
    vkattn_bindings b;
    vkattn_bindings_init(&b);
    b.q = q, b.k = k, b.v = v, b.out = out, b.kv_lens = kv_lens;
    return b;
  }
  void release() {
    vkattn_plan_destroy(plan);
    for (vkattn_buffer buffer : {q, k, v, out}) vkattn_buffer_destroy(buffer);
    plan = nullptr;
  }
};

// Executions for one attention plan.
vkattn_execution execution(vkattn_plan plan, const vkattn_bindings* bindings) {
  vkattn_execution e;
  vkattn_execution_init(&e);
  e.plan = plan;
  e.bindings = bindings;
  return e;
}

vkattn_context adopt(const AppVulkan& app, LogCollector* log) {
  vkattn_context_options options;
  vkattn_context_options_init(&options);
  options.log_fn = &LogCollector::callback;
  options.log_user_data = log;
  const vkattn_vulkan_device device = app.adoption();
  vkattn_context context = nullptr;
  REQUIRE_MESSAGE(vkattn_context_create_vulkan(&options, &device, &context) == VKATTN_SUCCESS, vkattn_last_error());
  return context;
}

// The names of the Vulkan devices to run on.
std::vector<std::string> device_names() {
  std::vector<std::string> names;
  for (uint32_t index : usable_vulkan_devices()) names.push_back(vulkan_device_info(index).name);
  return names;
}

}  // namespace

TEST_CASE("an adopted device's command buffer runs the app's shader writing Q, two recorded attentions with their own "
          "key lengths and the app's shader reading O, matching the reference") {
  for (const std::string& name : device_names()) {
    INFO(name);
    AppVulkan app(name, false);
    HostInputs in = interop_inputs();
    AppTensors memory(app, in);
    plant_producer_input(&in, memory);
    LogCollector log;
    vkattn_context context = adopt(app, &log);
    ImportedProblem problem(context, memory, in, false);
    vkattn_buffer out2 = import_range(context, memory.tensors, memory.out2, memory.out_bytes, true);
    const int32_t all_keys[1] = {70};
    const int32_t some_keys[1] = {37};
    const vkattn_bindings first = problem.bindings(all_keys);
    vkattn_bindings second = problem.bindings(some_keys);
    second.out = out2;
    const vkattn_execution first_run = execution(problem.plan, &first), second_run = execution(problem.plan, &second);
    vkattn_vulkan_recording recording;
    vkattn_vulkan_recording_init(&recording);
    const uint32_t q_count = static_cast<uint32_t>(in.q.size()), out_count = static_cast<uint32_t>(memory.out_bytes / 4);

    recording.command_buffer = app.begin_commands();
    app.record_affine(recording.command_buffer, memory.io, 0, memory.tensors, memory.q, q_count, 0.5f, 0.25f);
    REQUIRE_MESSAGE(vkattn_record_vulkan(context, &first_run, 1, &recording) == VKATTN_SUCCESS, vkattn_last_error());
    app.record_affine(recording.command_buffer, memory.tensors, memory.out, memory.io, memory.p, out_count, 2.0f, 0.0f);
    REQUIRE_MESSAGE(vkattn_record_vulkan(context, &second_run, 1, &recording) == VKATTN_SUCCESS, vkattn_last_error());
    app.submit(recording.command_buffer, VK_NULL_HANDLE, 0, VK_NULL_HANDLE, 0, true);

    const std::vector<float> consumed = memory.consumed();
    CHECK(relative_error(consumed, in) <= dtype_tolerance(VKATTN_DTYPE_F32));
    CHECK(read_floats(problem.out, out_count) == consumed);  // (through vkattn's staging copy)
    HostInputs fewer = in;
    fewer.kv_lens = {37};
    CHECK(relative_error(read_floats(out2, out_count), fewer) <= dtype_tolerance(VKATTN_DTYPE_F32));

    problem.release();
    vkattn_buffer_destroy(out2);
    vkattn_context_destroy(context);
    memory.release(app);
    destroy_and_check(app);
    CHECK(log.warnings == 0);
  }
}

TEST_CASE("a Linformer plan recorded twice into the app's command buffer, with two key lengths, matches the reference") {
  // Its projections and its softmax stage go into the app's command buffer
  // together, each recording with its own key lengths.
  for (const std::string& name : device_names()) {
    INFO(name);
    AppVulkan app(name, false);
    CaseSpec spec = make_case("interop", 1, 4, 2, 3, 70, 64, 64);
    spec.kv_lens = true;
    spec.lse = false;
    spec.mode = VKATTN_MODE_LINFORMER;
    spec.proj_len = 16;
    HostInputs in = make_inputs(spec);
    in.kv_lens = {70};
    AppTensors memory(app, in);
    LogCollector log;
    vkattn_context context = adopt(app, &log);
    ImportedProblem problem(context, memory, in, true);
    REQUIRE(vkattn_buffer_write(problem.q, 0, in.q.data(), memory.q_bytes) == VKATTN_SUCCESS);
    vkattn_buffer out2 = import_range(context, memory.tensors, memory.out2, memory.out_bytes, true);
    const int32_t all_keys[1] = {70};
    const int32_t some_keys[1] = {37};
    const vkattn_bindings first = problem.bindings(all_keys);
    vkattn_bindings second = problem.bindings(some_keys);
    second.out = out2;
    const vkattn_execution first_run = execution(problem.plan, &first), second_run = execution(problem.plan, &second);
    vkattn_vulkan_recording recording;
    vkattn_vulkan_recording_init(&recording);
    recording.command_buffer = app.begin_commands();
    REQUIRE_MESSAGE(vkattn_record_vulkan(context, &first_run, 1, &recording) == VKATTN_SUCCESS, vkattn_last_error());
    REQUIRE_MESSAGE(vkattn_record_vulkan(context, &second_run, 1, &recording) == VKATTN_SUCCESS, vkattn_last_error());
    app.submit(recording.command_buffer, VK_NULL_HANDLE, 0, VK_NULL_HANDLE, 0, true);

    const size_t out_count = memory.out_bytes / 4;
    CHECK(relative_error(read_floats(problem.out, out_count), in) <= dtype_tolerance(VKATTN_DTYPE_F32));
    HostInputs fewer = in;
    fewer.kv_lens = {37};
    CHECK(relative_error(read_floats(out2, out_count), fewer) <= dtype_tolerance(VKATTN_DTYPE_F32));

    problem.release();
    vkattn_buffer_destroy(out2);
    vkattn_context_destroy(context);
    memory.release(app);
    destroy_and_check(app);
    CHECK(log.warnings == 0);
  }
}

TEST_CASE("asynchronous submissions chained with the app's timeline semaphores, and four plans in flight, match the "
          "reference") {
  for (const std::string& name : device_names()) {
    INFO(name);
    AppVulkan app(name, true);
    REQUIRE_MESSAGE(app.has_timeline, "timeline semaphores are core in Vulkan 1.2, which every CI device has");
    HostInputs in = interop_inputs();
    AppTensors memory(app, in);
    plant_producer_input(&in, memory);
    LogCollector log;
    vkattn_context context = adopt(app, &log);
    ImportedProblem problem(context, memory, in, true);
    const uint32_t q_count = static_cast<uint32_t>(in.q.size()), out_count = static_cast<uint32_t>(memory.out_bytes / 4);

    // The app's producer signals 1; vkattn waits for 1 and signals 2; the
    // app's consumer waits for 2. The host waits only for the consumer.
    VkSemaphore timeline = app.create_timeline();
    VkCommandBuffer produce = app.begin_commands();
    app.record_affine(produce, memory.io, 0, memory.tensors, memory.q, q_count, 0.5f, 0.25f);
    app.submit(produce, VK_NULL_HANDLE, 0, timeline, 1, false);
    const vkattn_bindings bindings = problem.bindings(in.kv_lens.data());
    const vkattn_execution run = execution(problem.plan, &bindings);
    const uint64_t one = 1, two = 2;
    vkattn_vulkan_sync sync;
    vkattn_vulkan_sync_init(&sync);
    sync.wait_semaphore_count = 1, sync.wait_semaphores = &timeline, sync.wait_values = &one;
    sync.signal_semaphore_count = 1, sync.signal_semaphores = &timeline, sync.signal_values = &two;
    uint64_t ticket = 0;
    REQUIRE_MESSAGE(vkattn_submit_vulkan(context, &run, 1, &sync, &ticket) == VKATTN_SUCCESS, vkattn_last_error());
    VkCommandBuffer consume = app.begin_commands();
    app.record_affine(consume, memory.tensors, memory.out, memory.io, memory.p, out_count, 2.0f, 0.0f);
    app.submit(consume, timeline, 2, VK_NULL_HANDLE, 0, true);
    const std::vector<float> consumed = memory.consumed();
    CHECK(relative_error(consumed, in) <= dtype_tolerance(VKATTN_DTYPE_F32));
    uint32_t complete = 0;
    REQUIRE(vkattn_context_poll(context, ticket, &complete) == VKATTN_SUCCESS);
    CHECK(complete == 1);

    // Four plans of the same problem in flight on vkattn's own buffers:
    // three submitted one by one, then one more and the first again batched.
    constexpr int kPlans = 4;
    vkattn_plan plans[kPlans] = {};
    vkattn_buffer outs[kPlans] = {};
    vkattn_bindings each[kPlans];
    vkattn_execution runs[kPlans];
    for (int i = 0; i < kPlans; ++i) {
      REQUIRE(vkattn_plan_create(context, &in.desc, 0, &plans[i]) == VKATTN_SUCCESS);
      REQUIRE(vkattn_buffer_create(context, memory.out_bytes, 0, &outs[i]) == VKATTN_SUCCESS);
      each[i] = bindings;
      each[i].out = outs[i];
      runs[i] = execution(plans[i], &each[i]);
    }
    uint64_t tickets[kPlans] = {};
    for (int i = 0; i < kPlans - 1; ++i) REQUIRE(vkattn_submit(context, &runs[i], 1, &tickets[i]) == VKATTN_SUCCESS);
    REQUIRE(vkattn_submit(context, &runs[kPlans - 1], 1, &tickets[kPlans - 1]) == VKATTN_SUCCESS);
    for (int i = 1; i < kPlans; ++i) CHECK(tickets[i] == tickets[i - 1] + 1);
    REQUIRE(vkattn_context_wait(context, tickets[kPlans - 1]) == VKATTN_SUCCESS);
    for (int i = 0; i < kPlans; ++i) {
      REQUIRE(vkattn_context_poll(context, tickets[i], &complete) == VKATTN_SUCCESS);
      CHECK(complete == 1);
      CHECK(read_floats(outs[i], out_count) == consumed);  // the same plan configuration: the same bits
    }
    for (int i = 0; i < kPlans; ++i) {
      vkattn_plan_destroy(plans[i]);
      vkattn_buffer_destroy(outs[i]);
    }

    problem.release();
    vkattn_context_destroy(context);
    memory.release(app);
    destroy_and_check(app);
    CHECK(log.warnings == 0);
  }
}

// The app's submit callback: counts vkattn's submissions and makes them,
// or answers `failure` instead when it is set.
struct SubmitCounter {
  VkQueue queue = VK_NULL_HANDLE;
  int calls = 0;
  VkResult failure = VK_SUCCESS;
  static VkResult VKAPI_PTR submit(void* user, uint32_t count, const VkSubmitInfo* submits, VkFence fence) {
    auto* self = static_cast<SubmitCounter*>(user);
    self->calls++;
    if (self->failure != VK_SUCCESS) return self->failure;
    return vkQueueSubmit(self->queue, count, submits, fence);
  }
};

// A context on `app` whose submissions go through `counter`.
vkattn_context adopt_with_callback(const AppVulkan& app, SubmitCounter* counter, LogCollector* log) {
  counter->queue = app.queue;
  vkattn_vulkan_device device = app.adoption();
  device.queue = VK_NULL_HANDLE;  // vkattn must not need it
  device.submit_fn = &SubmitCounter::submit;
  device.submit_user_data = counter;
  vkattn_context_options options;
  vkattn_context_options_init(&options);
  options.log_fn = &LogCollector::callback;
  options.log_user_data = log;
  vkattn_context context = nullptr;
  REQUIRE_MESSAGE(vkattn_context_create_vulkan(&options, &device, &context) == VKATTN_SUCCESS, vkattn_last_error());
  return context;
}

TEST_CASE("the app's binary semaphores order an asynchronous submission between its own, and its submit callback "
          "makes every submission of the adopted context") {
  for (const std::string& name : device_names()) {
    INFO(name);
    AppVulkan app(name, false);
    HostInputs in = interop_inputs();
    AppTensors memory(app, in);
    plant_producer_input(&in, memory);
    LogCollector log;
    SubmitCounter counter;
    vkattn_context context = adopt_with_callback(app, &counter, &log);
    ImportedProblem problem(context, memory, in, true);  // (mapped: no staging submissions)
    const int before = counter.calls;
    const uint32_t q_count = static_cast<uint32_t>(in.q.size()), out_count = static_cast<uint32_t>(memory.out_bytes / 4);

    VkSemaphore produced = app.create_binary(), attended = app.create_binary();
    VkCommandBuffer produce = app.begin_commands();
    app.record_affine(produce, memory.io, 0, memory.tensors, memory.q, q_count, 0.5f, 0.25f);
    app.submit(produce, VK_NULL_HANDLE, 0, produced, 0, false);
    const vkattn_bindings bindings = problem.bindings(in.kv_lens.data());
    const vkattn_execution run = execution(problem.plan, &bindings);
    vkattn_vulkan_sync sync;
    vkattn_vulkan_sync_init(&sync);
    sync.wait_semaphore_count = 1, sync.wait_semaphores = &produced;
    sync.signal_semaphore_count = 1, sync.signal_semaphores = &attended;
    uint64_t ticket = 0;
    REQUIRE_MESSAGE(vkattn_submit_vulkan(context, &run, 1, &sync, &ticket) == VKATTN_SUCCESS, vkattn_last_error());
    CHECK(counter.calls == before + 1);
    VkCommandBuffer consume = app.begin_commands();
    app.record_affine(consume, memory.tensors, memory.out, memory.io, memory.p, out_count, 2.0f, 0.0f);
    app.submit(consume, attended, 0, VK_NULL_HANDLE, 0, true);
    const std::vector<float> consumed = memory.consumed();
    CHECK(relative_error(consumed, in) <= dtype_tolerance(VKATTN_DTYPE_F32));
    REQUIRE(vkattn_context_wait(context, ticket) == VKATTN_SUCCESS);
    REQUIRE(vkattn_plan_execute(problem.plan, &bindings) == VKATTN_SUCCESS);
    CHECK(counter.calls == before + 2);
    REQUIRE(vkattn_context_finish(context) == VKATTN_SUCCESS);

    problem.release();
    vkattn_context_destroy(context);
    memory.release(app);
    destroy_and_check(app);
    CHECK(log.warnings == 0);
  }
}

TEST_CASE("a failing submit callback gives the call's status: out of memory leaves the context working, device loss "
          "closes it, and the app's device is left clean") {
  for (const std::string& name : device_names()) {
    INFO(name);
    AppVulkan app(name, false);
    const HostInputs in = interop_inputs();
    AppTensors memory(app, in);
    LogCollector log;
    SubmitCounter counter;
    vkattn_context context = adopt_with_callback(app, &counter, &log);
    ImportedProblem problem(context, memory, in, true);
    REQUIRE(vkattn_buffer_write(problem.q, 0, in.q.data(), memory.q_bytes) == VKATTN_SUCCESS);
    const vkattn_bindings bindings = problem.bindings(in.kv_lens.data());
    const uint32_t out_count = static_cast<uint32_t>(memory.out_bytes / 4);

    counter.failure = VK_ERROR_OUT_OF_DEVICE_MEMORY;
    CHECK(vkattn_plan_execute(problem.plan, &bindings) == VKATTN_ERROR_OUT_OF_DEVICE_MEMORY);
    CHECK(std::string(vkattn_last_error()).find("vkQueueSubmit") != std::string::npos);
    counter.failure = VK_SUCCESS;
    REQUIRE(vkattn_plan_execute(problem.plan, &bindings) == VKATTN_SUCCESS);
    CHECK(relative_error(read_floats(problem.out, out_count), in) <= dtype_tolerance(VKATTN_DTYPE_F32));

    counter.failure = VK_ERROR_DEVICE_LOST;
    CHECK(vkattn_plan_execute(problem.plan, &bindings) == VKATTN_ERROR_DEVICE_LOST);
    CHECK(vkattn_plan_execute(problem.plan, &bindings) == VKATTN_ERROR_FAILED_PRECONDITION);
    CHECK(vkattn_context_finish(context) == VKATTN_ERROR_FAILED_PRECONDITION);
    problem.release();
    vkattn_context_destroy(context);
    memory.release(app);
    destroy_and_check(app);
  }
}

TEST_CASE("reading a buffer waits only for the submissions that use it") {
  for (const std::string& name : device_names()) {
    INFO(name);
    AppVulkan app(name, true);
    REQUIRE(app.has_timeline);
    const HostInputs in = interop_inputs();
    LogCollector log;
    vkattn_context context = adopt(app, &log);
    const uint64_t out_bytes = static_cast<uint64_t>(in.desc.q_heads * in.desc.q_len * in.desc.v_dim) * 4;
    vkattn_buffer q = nullptr, k = nullptr, v = nullptr, out = nullptr, other = nullptr;
    REQUIRE(vkattn_buffer_create(context, in.q.size() * 4, VKATTN_BUFFER_HOST_VISIBLE, &q) == VKATTN_SUCCESS);
    REQUIRE(vkattn_buffer_create(context, in.k.size() * 4, VKATTN_BUFFER_HOST_VISIBLE, &k) == VKATTN_SUCCESS);
    REQUIRE(vkattn_buffer_create(context, in.v.size() * 4, VKATTN_BUFFER_HOST_VISIBLE, &v) == VKATTN_SUCCESS);
    REQUIRE(vkattn_buffer_create(context, out_bytes, VKATTN_BUFFER_HOST_VISIBLE, &out) == VKATTN_SUCCESS);
    REQUIRE(vkattn_buffer_create(context, 64, VKATTN_BUFFER_HOST_VISIBLE, &other) == VKATTN_SUCCESS);
    REQUIRE(vkattn_buffer_write(q, 0, in.q.data(), in.q.size() * 4) == VKATTN_SUCCESS);
    REQUIRE(vkattn_buffer_write(k, 0, in.k.data(), in.k.size() * 4) == VKATTN_SUCCESS);
    REQUIRE(vkattn_buffer_write(v, 0, in.v.data(), in.v.size() * 4) == VKATTN_SUCCESS);
    const char text[16] = "not waited for";
    REQUIRE(vkattn_buffer_write(other, 0, text, sizeof(text)) == VKATTN_SUCCESS);
    vkattn_plan plan = nullptr;
    REQUIRE(vkattn_plan_create(context, &in.desc, 0, &plan) == VKATTN_SUCCESS);

    // The attention waits on a semaphore nobody has signalled yet.
    VkSemaphore gate = app.create_timeline();
    const uint64_t one = 1;
    vkattn_vulkan_sync sync;
    vkattn_vulkan_sync_init(&sync);
    sync.wait_semaphore_count = 1, sync.wait_semaphores = &gate, sync.wait_values = &one;
    vkattn_bindings bindings;
    vkattn_bindings_init(&bindings);
    bindings.q = q, bindings.k = k, bindings.v = v, bindings.out = out, bindings.kv_lens = in.kv_lens.data();
    const vkattn_execution run = execution(plan, &bindings);
    uint64_t ticket = 0;
    REQUIRE(vkattn_submit_vulkan(context, &run, 1, &sync, &ticket) == VKATTN_SUCCESS);
    char read_back[16] = {};
    const auto start = std::chrono::steady_clock::now();
    REQUIRE(vkattn_buffer_read(other, 0, read_back, sizeof(read_back)) == VKATTN_SUCCESS);  // would hang if it waited
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
    CHECK(std::memcmp(read_back, text, sizeof(text)) == 0);
    uint32_t complete = 1;
    REQUIRE(vkattn_context_poll(context, ticket, &complete) == VKATTN_SUCCESS);
    CHECK(complete == 0);
    app.signal_from_host(gate, 1);
    REQUIRE(vkattn_context_wait(context, ticket) == VKATTN_SUCCESS);
    CHECK(relative_error(read_floats(out, out_bytes / 4), in) <= dtype_tolerance(VKATTN_DTYPE_F32));

    vkattn_plan_destroy(plan);
    for (vkattn_buffer buffer : {q, k, v, out, other}) vkattn_buffer_destroy(buffer);
    vkattn_context_destroy(context);
    destroy_and_check(app);
  }
}

TEST_CASE("an append and an attention batched into one submission match the reference on every Vulkan device") {
  for (uint32_t index : usable_vulkan_devices()) {
    INFO(vulkan_device_info(index).name);
    LogCollector log;
    vkattn_context context = nullptr;
    REQUIRE(create_validated_context(index, &log, nullptr, &context) == VKATTN_SUCCESS);
    CHECK(check_batched_decode_step(context) == "");
    vkattn_context_destroy(context);
    CHECK_MESSAGE(log.validation_messages == 0, log.first_messages());
  }
}

TEST_CASE("destroying the context, the imported buffers and a plan in each of the six orders leaves the app's device "
          "clean") {
  const std::vector<int> objects = {0, 1, 2};  // context, buffers, plan
  for (const std::string& name : device_names()) {
    std::vector<int> order = objects;
    do {
      INFO(name << ": destroyed in the order " << order[0] << order[1] << order[2] << " (0 context, 1 buffers, 2 plan)");
      AppVulkan app(name, false);
      const HostInputs in = interop_inputs();
      AppTensors memory(app, in);
      LogCollector log;
      vkattn_context context = adopt(app, &log);
      ImportedProblem problem(context, memory, in, true);
      const vkattn_bindings bindings = problem.bindings(in.kv_lens.data());
      REQUIRE(vkattn_plan_execute(problem.plan, &bindings) == VKATTN_SUCCESS);  // left in flight
      for (int object : order) {
        if (object == 0) CHECK(vkattn_context_destroy(context) == VKATTN_SUCCESS);
        if (object == 1) {
          for (vkattn_buffer buffer : {problem.q, problem.k, problem.v, problem.out}) {
            CHECK(vkattn_buffer_destroy(buffer) == VKATTN_SUCCESS);
          }
        }
        if (object == 2) CHECK(vkattn_plan_destroy(problem.plan) == VKATTN_SUCCESS);
      }
      memory.release(app);
      destroy_and_check(app);
    } while (std::next_permutation(order.begin(), order.end()));
  }
}

TEST_CASE("interop misuse is rejected with a status naming the problem") {
  for (const std::string& name : device_names()) {
    INFO(name);
    AppVulkan app(name, false);  // no timeline semaphores enabled
    LogCollector log;
    vkattn_context_options options;
    vkattn_context_options_init(&options);
    vkattn_context rejected = nullptr;
    auto expect = [&](vkattn_status status, vkattn_status wanted, const char* fragment) {
      CHECK(status == wanted);
      CHECK_MESSAGE(std::string(vkattn_last_error()).find(fragment) != std::string::npos, vkattn_last_error());
    };

    vkattn_vulkan_device device = app.adoption();
    device.instance_api_version = VK_API_VERSION_1_0;
    expect(vkattn_context_create_vulkan(&options, &device, &rejected), VKATTN_ERROR_UNSUPPORTED, "Vulkan 1.1");
    device = app.adoption();
    device.queue_family_index = 99;
    expect(vkattn_context_create_vulkan(&options, &device, &rejected), VKATTN_ERROR_INVALID_ARGUMENT,
           "not among device_create_info's queues");
    device = app.adoption();
    device.device_create_info = nullptr;
    expect(vkattn_context_create_vulkan(&options, &device, &rejected), VKATTN_ERROR_INVALID_ARGUMENT,
           "device_create_info is NULL");
    device = app.adoption();
    device.queue = VK_NULL_HANDLE;
    expect(vkattn_context_create_vulkan(&options, &device, &rejected), VKATTN_ERROR_INVALID_ARGUMENT, "submit_fn");
    device.struct_size = 8;
    expect(vkattn_context_create_vulkan(&options, &device, &rejected), VKATTN_ERROR_INVALID_ARGUMENT, "struct_size");
    CHECK(rejected == nullptr);

    const HostInputs in = interop_inputs();
    AppTensors memory(app, in);
    vkattn_context context = adopt(app, &log);
    vkattn_context other = adopt(app, &log);
    vkattn_buffer imported = nullptr;
    vkattn_vulkan_buffer desc = AppVulkan::range(memory.tensors, memory.out, memory.out_bytes, true);
    desc.size = 6;
    expect(vkattn_buffer_import_vulkan(context, &desc, &imported), VKATTN_ERROR_INVALID_ARGUMENT, "multiple of 4");
    desc = AppVulkan::range(memory.tensors, memory.out, memory.out_bytes, true);
    desc.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT;
    expect(vkattn_buffer_import_vulkan(context, &desc, &imported), VKATTN_ERROR_INVALID_ARGUMENT,
           "VK_BUFFER_USAGE_STORAGE_BUFFER_BIT");
    desc = AppVulkan::range(memory.tensors, memory.out, memory.out_bytes, true);
    desc.memory_properties = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
    expect(vkattn_buffer_import_vulkan(context, &desc, &imported), VKATTN_ERROR_INVALID_ARGUMENT, "HOST_COHERENT");
    if (app.storage_alignment > 4) {
      desc = AppVulkan::range(memory.tensors, memory.out + 4, memory.out_bytes - 4, true);
      expect(vkattn_buffer_import_vulkan(context, &desc, &imported), VKATTN_ERROR_INVALID_ARGUMENT,
             "minStorageBufferOffsetAlignment");
    }
    CHECK(imported == nullptr);
    // Storage usage only, no mapping: the host cannot write it.
    AppBuffer device_only = app.create_buffer(256, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT);
    vkattn_buffer unwritable = import_range(context, device_only, 0, 256, false);
    float zeros[4] = {};
    expect(vkattn_buffer_write(unwritable, 0, zeros, sizeof(zeros)), VKATTN_ERROR_UNSUPPORTED,
           "VK_BUFFER_USAGE_TRANSFER_DST_BIT");

    vkattn_buffer q = import_range(context, memory.tensors, memory.q, memory.q_bytes, true);
    vkattn_buffer k = import_range(context, memory.tensors, memory.k, memory.kv_bytes, true);
    vkattn_buffer v = import_range(context, memory.tensors, memory.v, memory.kv_bytes, true);
    vkattn_buffer foreign = import_range(other, memory.tensors, memory.out, memory.out_bytes, true);
    vkattn_plan plan = nullptr;
    REQUIRE(vkattn_plan_create(context, &in.desc, 0, &plan) == VKATTN_SUCCESS);
    vkattn_bindings bindings;
    vkattn_bindings_init(&bindings);
    bindings.q = q, bindings.k = k, bindings.v = v, bindings.out = foreign, bindings.kv_lens = in.kv_lens.data();
    vkattn_execution runs[2] = {execution(plan, &bindings), execution(plan, &bindings)};
    expect(vkattn_submit(context, runs, 1, nullptr), VKATTN_ERROR_INVALID_ARGUMENT, "another context");
    vkattn_buffer out = import_range(context, memory.tensors, memory.out, memory.out_bytes, true);
    bindings.out = out;
    expect(vkattn_submit(context, runs, 2, nullptr), VKATTN_ERROR_INVALID_ARGUMENT, "appears twice");
    expect(vkattn_submit(other, runs, 1, nullptr), VKATTN_ERROR_INVALID_ARGUMENT, "another context");
    expect(vkattn_context_wait(context, 1000), VKATTN_ERROR_INVALID_ARGUMENT, "never issued");
    VkSemaphore binary = VK_NULL_HANDLE;
    VkSemaphoreCreateInfo semaphore_info{};
    semaphore_info.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO;
    VK_CHECK_OK(vkCreateSemaphore(app.device, &semaphore_info, nullptr, &binary));
    const uint64_t value = 1;
    vkattn_vulkan_sync sync;
    vkattn_vulkan_sync_init(&sync);
    sync.signal_semaphore_count = 1, sync.signal_semaphores = &binary, sync.signal_values = &value;
    expect(vkattn_submit_vulkan(context, runs, 1, &sync, nullptr), VKATTN_ERROR_UNSUPPORTED, "timelineSemaphore");
    vkattn_vulkan_recording recording;
    vkattn_vulkan_recording_init(&recording);
    expect(vkattn_record_vulkan(context, runs, 1, &recording), VKATTN_ERROR_INVALID_ARGUMENT, "command_buffer");

    // Outside Android builds (this one) the AHardwareBuffer is never touched.
    auto* hardware_buffer = reinterpret_cast<AHardwareBuffer*>(&desc);
#if defined(__ANDROID__)
    const char* no_hardware_buffers = "VK_ANDROID_external_memory_android_hardware_buffer";
#else
    const char* no_hardware_buffers = "only in Android builds";
#endif
    expect(vkattn_buffer_import_android_hardware_buffer(context, hardware_buffer, &imported), VKATTN_ERROR_UNSUPPORTED,
           no_hardware_buffers);
    expect(vkattn_buffer_import_android_hardware_buffer(context, nullptr, &imported), VKATTN_ERROR_INVALID_ARGUMENT,
           "hardware_buffer is NULL");

    vkattn_context cpu = nullptr;
    options.backend = VKATTN_BACKEND_CPU;
    REQUIRE(vkattn_context_create(&options, &cpu) == VKATTN_SUCCESS);
    desc = AppVulkan::range(memory.tensors, memory.out, memory.out_bytes, true);
    expect(vkattn_buffer_import_vulkan(cpu, &desc, &imported), VKATTN_ERROR_UNSUPPORTED, "CPU backend");
    vkattn_vulkan_device described;
    vkattn_vulkan_device_init(&described);
    expect(vkattn_context_get_vulkan_device(cpu, &described), VKATTN_ERROR_UNSUPPORTED, "CPU backend");
    vkattn_context_destroy(cpu);

    vkattn_plan_destroy(plan);
    for (vkattn_buffer buffer : {q, k, v, out, foreign, unwritable}) vkattn_buffer_destroy(buffer);
    vkattn_context_destroy(other);
    vkattn_context_destroy(context);
    vkDestroySemaphore(app.device, binary, nullptr);
    app.destroy_buffer(device_only);
    memory.release(app);
    destroy_and_check(app);
  }
}

TEST_CASE("a context's own Vulkan device and buffers are described for the app") {
  for (uint32_t index : usable_vulkan_devices()) {
    LogCollector log;
    vkattn_context context = nullptr;
    REQUIRE(create_validated_context(index, &log, nullptr, &context) == VKATTN_SUCCESS);
    vkattn_vulkan_device device;
    vkattn_vulkan_device_init(&device);
    REQUIRE(vkattn_context_get_vulkan_device(context, &device) == VKATTN_SUCCESS);
    CHECK(device.instance != VK_NULL_HANDLE);
    CHECK(device.device != VK_NULL_HANDLE);
    CHECK(device.queue != VK_NULL_HANDLE);
    CHECK(device.device_create_info == nullptr);
    REQUIRE(static_cast<bool>(device.get_instance_proc_addr));
    auto properties = reinterpret_cast<PFN_vkGetPhysicalDeviceProperties>(
        device.get_instance_proc_addr(device.instance, "vkGetPhysicalDeviceProperties"));
    VkPhysicalDeviceProperties props{};
    properties(device.physical_device, &props);
    CHECK(std::string(props.deviceName) == vulkan_device_info(index).name);
    vkattn_buffer buffer = nullptr;
    REQUIRE(vkattn_buffer_create(context, 100, VKATTN_BUFFER_HOST_VISIBLE, &buffer) == VKATTN_SUCCESS);
    vkattn_vulkan_buffer described;
    vkattn_vulkan_buffer_init(&described);
    REQUIRE(vkattn_buffer_get_vulkan(buffer, &described) == VKATTN_SUCCESS);
    CHECK(described.buffer != VK_NULL_HANDLE);
    CHECK(described.size == 100);
    CHECK((described.usage & VK_BUFFER_USAGE_STORAGE_BUFFER_BIT) != 0);
    CHECK((described.memory_properties & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) != 0);
    void* mapped = nullptr;
    REQUIRE(vkattn_buffer_map(buffer, &mapped) == VKATTN_SUCCESS);
    CHECK(mapped == described.mapped);
    vkattn_buffer_unmap(buffer);
    vkattn_buffer_destroy(buffer);
    vkattn_context_destroy(context);
    CHECK(log.validation_messages == 0);
  }
}
