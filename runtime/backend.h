// The interface each backend (cpu/, vulkan/) implements. The C API layer
// (api.cpp) and the backend-neutral checks (problem.*, bindings.*) talk only
// to these classes; nothing above this line knows XNNPACK or Vulkan exists.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "platform/log.h"
#include "problem.h"
#include "status.h"
#include "vkattn.h"

// The Vulkan interop structures (include/vkattn_vulkan.h); only pointers to
// them cross this interface, so it needs no Vulkan header.
struct vkattn_vulkan_device;
struct vkattn_vulkan_buffer;
struct vkattn_vulkan_sync;
struct vkattn_vulkan_recording;
struct AHardwareBuffer;

namespace vkattn {

class DeviceBuffer {
 public:
  virtual ~DeviceBuffer() = default;
  virtual uint64_t size() const = 0;
  virtual bool host_visible() const = 0;
  // Ranges are checked by the caller; these wait for pending work themselves.
  virtual Status write(uint64_t offset, const void* data, uint64_t size) = 0;
  virtual Status read(uint64_t offset, void* data, uint64_t size) = 0;
  virtual Status map(void** pointer) = 0;
  virtual Status unmap() = 0;
  // Before destruction: returns once no submitted work uses the buffer,
  // whatever failed (the failure is still reported).
  virtual Status settle() = 0;
};

// One execution's tensors, already checked against the plan's problem:
// present exactly when the problem needs them and large enough.
struct ExecArgs {
  DeviceBuffer* q = nullptr;
  DeviceBuffer* k = nullptr;
  DeviceBuffer* v = nullptr;
  DeviceBuffer* out = nullptr;
  DeviceBuffer* additive_mask = nullptr;
  DeviceBuffer* bool_mask = nullptr;
  DeviceBuffer* lse = nullptr;
  std::vector<int32_t> kv_lens;  // empty unless problem.has_kv_lens
  std::vector<int32_t> block_table;  // [batch, max_pages]; empty unless problem.paged(); checked entries
  std::vector<int32_t> q_lens;       // empty unless problem.ragged(): each sequence's query count
  std::vector<int32_t> q_starts;     // empty unless problem.packed_queries(): each sequence's first packed row
};

struct PlanInfo {
  std::string kernel;
  uint32_t block_q = 0;
  uint32_t block_kv = 0;
  uint32_t kv_splits = 1;
  uint32_t tasks = 0;
  uint32_t dispatches = 1;
  uint64_t workspace_bytes = 0;
  bool tuned = false;
};

class DevicePlan {
 public:
  virtual ~DevicePlan() = default;
  // One execution on its own (the device's submit runs batches).
  virtual Status execute(const ExecArgs& args) = 0;
  virtual PlanInfo info() const = 0;
  // Duration of the last execution (waits for it); see vkattn_plan_get_last_time.
  virtual Status last_time(double* ms) = 0;
  // Before destruction: returns once no submitted work of this plan can still
  // run, whatever failed (the failure is still reported).
  virtual Status settle() = 0;
};

struct AppendProblem;
struct AppendArgs;

// Writes new keys and values into a K/V cache (vkattn_append_desc).
class DeviceAppendPlan {
 public:
  virtual ~DeviceAppendPlan() = default;
  virtual Status execute(const AppendArgs& args) = 0;
  virtual PlanInfo info() const = 0;
  virtual Status last_time(double* ms) = 0;
  virtual Status settle() = 0;
};

// One plan execution of a submission (vkattn_submit): an attention plan
// with its arguments or an append plan with its.
struct Work {
  DevicePlan* plan = nullptr;
  const ExecArgs* args = nullptr;
  DeviceAppendPlan* append_plan = nullptr;
  const AppendArgs* append_args = nullptr;
};

class Device {
 public:
  virtual ~Device() = default;
  virtual const vkattn_device_info& info() const = 0;
  virtual Status create_buffer(uint64_t size, uint32_t flags, std::unique_ptr<DeviceBuffer>* out) = 0;
  // flags: VKATTN_PLAN_* (checked by the caller).
  virtual Status create_plan(const Problem& problem, uint32_t flags, std::unique_ptr<DevicePlan>* out) = 0;
  virtual Status create_append_plan(const AppendProblem& problem, std::unique_ptr<DeviceAppendPlan>* out) = 0;
  // Runs `work` in order as one submission (on Vulkan: one vkQueueSubmit,
  // waiting on and signalling `sync`'s semaphores when it is not null) and
  // returns its ticket: tickets grow with every submission, and a ticket is
  // complete once its submission and every earlier one have completed.
  // Checked by the caller: every plan is this device's and appears once.
  virtual Status submit(const std::vector<Work>& work, const vkattn_vulkan_sync* sync, uint64_t* ticket) = 0;
  // The last ticket submit returned (0 before the first).
  virtual uint64_t last_ticket() const = 0;
  // Blocks until `ticket` (<= last_ticket()) is complete; poll only asks.
  virtual Status wait(uint64_t ticket) = 0;
  virtual Status poll(uint64_t ticket, bool* complete) = 0;
  // Waits for all submitted work. After a failure, work may still run.
  virtual Status finish() = 0;
  // For destruction: like finish, but returns only when no submitted work can
  // still touch memory, whatever failed (the failure is still reported).
  virtual Status drain() = 0;

  // Vulkan interop (include/vkattn_vulkan.h); the CPU backend answers
  // UNSUPPORTED.
  virtual Status import_vulkan_buffer(const vkattn_vulkan_buffer& desc, std::unique_ptr<DeviceBuffer>* out) = 0;
  virtual Status import_android_hardware_buffer(AHardwareBuffer* hardware_buffer, std::unique_ptr<DeviceBuffer>* out) = 0;
  virtual Status describe_vulkan_buffer(DeviceBuffer& buffer, vkattn_vulkan_buffer* out) = 0;
  virtual Status describe_vulkan_device(vkattn_vulkan_device* out) = 0;
  // Records `work` into the app's command buffer (no submission, no ticket).
  virtual Status record_vulkan(const std::vector<Work>& work, const vkattn_vulkan_recording& recording) = 0;
};

// Backend factories. create_cpu_device never fails for lack of hardware;
// the Vulkan one answers BACKEND_UNAVAILABLE with the reason.
Status create_cpu_device(const vkattn_context_options& options, const Logger& log, std::unique_ptr<Device>* out);
Status create_vulkan_device(const vkattn_context_options& options, const Logger& log, std::unique_ptr<Device>* out);
// A Vulkan device on the app's VkDevice (vkattn_context_create_vulkan): the
// app's objects are checked and used, never destroyed.
Status adopt_vulkan_device(const vkattn_context_options& options, const vkattn_vulkan_device& app, const Logger& log,
                           std::unique_ptr<Device>* out);

// Device descriptions for vkattn_enumerate_devices.
void describe_cpu_device(int32_t threads, vkattn_device_info* info);
void describe_vulkan_devices(const Logger& log, std::vector<vkattn_device_info>* out);

}  // namespace vkattn
