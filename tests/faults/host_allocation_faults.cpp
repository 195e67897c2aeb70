#include "host_allocation_faults.h"

#include <atomic>
#include <cstdlib>
#include <new>

namespace vkattn_test {
namespace host_faults {
namespace {

// Thread-local and trivially initialised: safe to touch from operator new at
// any point of a thread's life.
thread_local bool t_armed = false;
thread_local int64_t t_fail_index = -1;
thread_local int64_t t_counted = 0;
thread_local bool t_fired = false;
thread_local int t_driver_depth = 0;
thread_local int t_library_depth = 0;

std::atomic<int64_t> g_live_library_blocks{0};

// Every block starts with this header, which says whether it is vkattn's
// (16 bytes keep malloc's alignment for what follows).
struct alignas(16) Header {
  uint64_t library;
  uint64_t reserved;
};

bool in_library() { return t_library_depth > 0 && t_driver_depth == 0; }

// Whether this allocation must fail.
bool should_fail() {
  if (!t_armed || !in_library()) return false;
  const int64_t index = t_counted++;
  if (index != t_fail_index) return false;
  t_fired = true;
  return true;
}

void* allocate_block(std::size_t size) noexcept {
  if (size > SIZE_MAX - sizeof(Header)) return nullptr;
  Header* header = static_cast<Header*>(std::malloc(sizeof(Header) + size));
  if (header == nullptr) return nullptr;
  header->library = in_library() ? 1 : 0;
  if (header->library) g_live_library_blocks.fetch_add(1, std::memory_order_relaxed);
  return header + 1;
}

void free_block(void* memory) noexcept {
  if (memory == nullptr) return;
  Header* header = static_cast<Header*>(memory) - 1;
  if (header->library) g_live_library_blocks.fetch_sub(1, std::memory_order_relaxed);
  std::free(header);
}

void* allocate_or_throw(std::size_t size) {
  if (should_fail()) throw std::bad_alloc();
  void* memory = allocate_block(size);
  if (memory == nullptr) throw std::bad_alloc();
  return memory;
}

void* allocate_or_null(std::size_t size) noexcept {
  if (should_fail()) return nullptr;
  return allocate_block(size);
}

}  // namespace

void arm(int64_t index) {
  t_fail_index = index;
  t_counted = 0;
  t_fired = false;
  t_armed = true;
}

int64_t disarm() {
  t_armed = false;
  return t_counted;
}

bool fired() { return t_fired; }

int64_t live_library_allocations() { return g_live_library_blocks.load(); }

void enter_driver() { ++t_driver_depth; }
void leave_driver() { --t_driver_depth; }

LibraryCall::LibraryCall() { ++t_library_depth; }
LibraryCall::~LibraryCall() { --t_library_depth; }

}  // namespace host_faults
}  // namespace vkattn_test

// The replaceable global allocation functions (the aligned forms are left to
// the standard library, which pairs them with its own deallocation: vkattn
// does not use over-aligned new).
using vkattn_test::host_faults::allocate_or_null;
using vkattn_test::host_faults::allocate_or_throw;
using vkattn_test::host_faults::free_block;

void* operator new(std::size_t size) { return allocate_or_throw(size); }
void* operator new[](std::size_t size) { return allocate_or_throw(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return allocate_or_null(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return allocate_or_null(size); }
void operator delete(void* memory) noexcept { free_block(memory); }
void operator delete[](void* memory) noexcept { free_block(memory); }
void operator delete(void* memory, std::size_t) noexcept { free_block(memory); }
void operator delete[](void* memory, std::size_t) noexcept { free_block(memory); }
void operator delete(void* memory, const std::nothrow_t&) noexcept { free_block(memory); }
void operator delete[](void* memory, const std::nothrow_t&) noexcept { free_block(memory); }
