// What the opaque C handles point to. Each handle starts with a magic number
// naming its kind, so a handle of the wrong kind (or one already destroyed)
// is rejected instead of being misread.
//
// Ownership: a context handle holds a ContextState; every buffer and plan
// holds a reference to the same state, so the device outlives the last object
// made from it. Destroying the context handle marks the state closed: its
// surviving buffers and plans then refuse work with FAILED_PRECONDITION.
#pragma once

#include <cstdint>
#include <memory>

#include "append.h"
#include "backend.h"
#include "platform/log.h"
#include "problem.h"

namespace vkattn {

enum class HandleKind : uint32_t {
  kContext = 0x56414331u,  // "VAC1"
  kBuffer = 0x56414231u,   // "VAB1"
  kPlan = 0x56415031u,     // "VAP1"
  kDestroyed = 0xdeadbeefu,
};

struct ContextState {
  Logger log;
  std::unique_ptr<Device> device;
  bool open = true;  // false once the context handle was destroyed

  ~ContextState() {
    // Buffers and plans were destroyed first (they hold references); the
    // device goes last.
    device.reset();
  }
};

}  // namespace vkattn

struct vkattn_context_t {
  vkattn::HandleKind kind = vkattn::HandleKind::kContext;
  std::shared_ptr<vkattn::ContextState> state;
};

struct vkattn_buffer_t {
  vkattn::HandleKind kind = vkattn::HandleKind::kBuffer;
  std::shared_ptr<vkattn::ContextState> context;  // declared first: destroyed last
  std::unique_ptr<vkattn::DeviceBuffer> impl;
  bool mapped = false;
};

// An attention plan (impl) or an append plan (append_impl); exactly one is set.
struct vkattn_plan_t {
  vkattn::HandleKind kind = vkattn::HandleKind::kPlan;
  std::shared_ptr<vkattn::ContextState> context;
  vkattn::Problem problem;
  std::unique_ptr<vkattn::DevicePlan> impl;
  vkattn::AppendProblem append_problem;
  std::unique_ptr<vkattn::DeviceAppendPlan> append_impl;
};
