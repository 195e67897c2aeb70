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
  virtual Status execute(const ExecArgs& args) = 0;
  virtual PlanInfo info() const = 0;
  // Duration of the last execution (waits for it); see vkattn_plan_get_last_time.
  virtual Status last_time(double* ms) = 0;
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
};

class Device {
 public:
  virtual ~Device() = default;
  virtual const vkattn_device_info& info() const = 0;
  virtual Status create_buffer(uint64_t size, uint32_t flags, std::unique_ptr<DeviceBuffer>* out) = 0;
  // flags: VKATTN_PLAN_* (checked by the caller).
  virtual Status create_plan(const Problem& problem, uint32_t flags, std::unique_ptr<DevicePlan>* out) = 0;
  virtual Status create_append_plan(const AppendProblem& problem, std::unique_ptr<DeviceAppendPlan>* out) = 0;
  // Waits for all submitted work. After a failure, work may still run.
  virtual Status finish() = 0;
  // For destruction: like finish, but returns only when no submitted work can
  // still touch memory, whatever failed (the failure is still reported).
  virtual Status drain() = 0;
};

// Backend factories. create_cpu_device never fails for lack of hardware;
// the Vulkan one answers BACKEND_UNAVAILABLE with the reason.
Status create_cpu_device(const vkattn_context_options& options, const Logger& log, std::unique_ptr<Device>* out);
Status create_vulkan_device(const vkattn_context_options& options, const Logger& log, std::unique_ptr<Device>* out);

// Device descriptions for vkattn_enumerate_devices.
void describe_cpu_device(int32_t threads, vkattn_device_info* info);
void describe_vulkan_devices(const Logger& log, std::vector<vkattn_device_info>* out);

}  // namespace vkattn
