// Vulkan call hooks for the fault tests (see runtime/vulkan/vk_api.h): fail
// the n-th call that returns VkResult (optionally only among some function
// names) with a chosen result, and keep the count of live Vulkan objects
// per kind. Installed process-wide for the contexts created in its scope.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>

#include "host_allocation_faults.h"
#include "runtime/vulkan/vk_api.h"

namespace vkattn_test {

class VulkanCallFaults final : public vkattn::vk::CallHooks {
 public:
  VulkanCallFaults() { vkattn::vk::install_call_hooks(this); }
  ~VulkanCallFaults() override { vkattn::vk::install_call_hooks(nullptr); }
  VulkanCallFaults(const VulkanCallFaults&) = delete;
  VulkanCallFaults& operator=(const VulkanCallFaults&) = delete;

  // Fails the call numbered `index` (0-based) among those named in `only`
  // (every VkResult call when empty) with `result`; vkAllocateMemory gets
  // `memory_result` instead when that is not VK_SUCCESS. Sticky: every later
  // counted call fails too, as on an exhausted heap.
  void arm(int64_t index, VkResult result, std::set<std::string> only = {}, VkResult memory_result = VK_SUCCESS,
           bool sticky = false) {
    std::lock_guard<std::mutex> lock(mutex_);
    index_ = index;
    sticky_ = sticky;
    result_ = result;
    memory_result_ = memory_result;
    only_ = std::move(only);
    counted_ = 0;
    fired_at_.clear();
    armed_ = true;
  }
  // Stops failing; returns how many calls were counted.
  int64_t disarm() {
    std::lock_guard<std::mutex> lock(mutex_);
    armed_ = false;
    return counted_;
  }
  // The function that was failed, "" if none.
  std::string fired_at() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return fired_at_;
  }
  // Live objects per kind; kinds at zero are left out.
  std::map<std::string, int64_t> live_objects() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::map<std::string, int64_t> live;
    for (const auto& entry : live_) {
      if (entry.second != 0) live.insert(entry);
    }
    return live;
  }
  int64_t objects_ever_created() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return created_total_;
  }

  // vk::CallHooks
  VkResult before_call(const char* name) override {
    host_faults::NotLibrary bookkeeping;
    std::lock_guard<std::mutex> lock(mutex_);
    if (!armed_ || (!only_.empty() && only_.count(name) == 0)) return VK_SUCCESS;
    const int64_t number = counted_++;
    if (number != index_ && !(sticky_ && number > index_)) return VK_SUCCESS;
    if (fired_at_.empty()) fired_at_ = name;
    const bool memory = std::string(name) == "vkAllocateMemory";
    return memory && memory_result_ != VK_SUCCESS ? memory_result_ : result_;
  }
  void enter_driver() override { host_faults::enter_driver(); }
  void leave_driver() override { host_faults::leave_driver(); }
  void objects_created(const char* kind, uint32_t count) override {
    host_faults::NotLibrary bookkeeping;
    std::lock_guard<std::mutex> lock(mutex_);
    live_[kind] += count;
    created_total_ += count;
  }
  void objects_destroyed(const char* kind, uint32_t count) override {
    host_faults::NotLibrary bookkeeping;
    std::lock_guard<std::mutex> lock(mutex_);
    live_[kind] -= count;
  }

 private:
  mutable std::mutex mutex_;
  bool armed_ = false;
  bool sticky_ = false;
  int64_t index_ = -1;
  int64_t counted_ = 0;
  VkResult result_ = VK_SUCCESS;
  VkResult memory_result_ = VK_SUCCESS;
  std::set<std::string> only_;
  std::string fired_at_;
  std::map<std::string, int64_t> live_;
  int64_t created_total_ = 0;
};

}  // namespace vkattn_test
