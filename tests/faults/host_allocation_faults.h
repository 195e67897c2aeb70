// Host allocation failure injection for the fault tests: this executable
// replaces the global operator new, and a test can make the n-th allocation
// on its own thread fail (throw std::bad_alloc, or return NULL for the
// nothrow forms), the way an exhausted heap would answer.
//
// Only vkattn's own allocations are counted, tracked and failed: those made inside a
// vkattn call (the test marks each with a LibraryCall scope), minus those
// made while a Vulkan driver call runs: the driver and the validation layer
// allocate too, and an exception must never unwind through them. Vulkan
// call hooks mark those regions (enter/leave_driver).
#pragma once

#include <cstdint>

namespace vkattn_test {
namespace host_faults {

// From now on, counts allocations on the calling thread and fails the one
// numbered `index` (0-based); a negative index only counts.
void arm(int64_t index);
// Stops counting; returns how many allocations were counted.
int64_t disarm();
// Whether the armed failure happened.
bool fired();

// Blocks allocated inside vkattn calls (outside driver calls), on any
// thread, and not freed yet: after a round that destroyed everything it
// made, the same number as before it, or the library leaked.
int64_t live_library_allocations();

// Driver code runs on this thread between these calls (they nest).
void enter_driver();
void leave_driver();

// Marks code that is not vkattn's (test bookkeeping inside hooks) as driver work.
class NotLibrary {
 public:
  NotLibrary() { enter_driver(); }
  ~NotLibrary() { leave_driver(); }
  NotLibrary(const NotLibrary&) = delete;
  NotLibrary& operator=(const NotLibrary&) = delete;
};

// Marks one vkattn call made by the test.
class LibraryCall {
 public:
  LibraryCall();
  ~LibraryCall();
  LibraryCall(const LibraryCall&) = delete;
  LibraryCall& operator=(const LibraryCall&) = delete;
};

}  // namespace host_faults
}  // namespace vkattn_test
