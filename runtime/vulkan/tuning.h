// Tuning on the user's device. No one can measure every phone in advance, so
// a plan created with VKATTN_PLAN_TUNE times the kernel configurations the
// device can run for its problem (GPU timestamps, synthetic inputs in the
// problem's own shape and layouts), checks each one's output against the
// untuned configuration's, and keeps the fastest. Winners are keyed by
// problem class and kept in the context's TuningTable, which the tuning
// cache file (vkattn_context_options.tuning_cache_path, cache_file.h)
// carries to later contexts and processes on the same device and driver.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "device_caps.h"
#include "runtime/problem.h"
#include "runtime/status.h"

namespace vkattn {
namespace vk {

class VulkanDevice;

// The class a tuned configuration is reused for, e.g.
// "f16.d128x128.g4.q1.kv4096.bh8.causal-br.lens.kvvec4": storage types, head
// dimensions, GQA group, query and key lengths and batch x kv heads rounded
// up to powers of two, causal alignment, window, masks, key lengths, LSE and
// the vector alignment of K/V and O rows (`layout_flags`: the automatic
// plan's shader flags).
std::string tuning_class(const Problem& problem, uint32_t layout_flags);

struct TunedEntry {
  KernelOverride choice;   // the winner, in VKATTN_VULKAN_KERNEL words when saved
  double tuned_ms = 0.0;   // its median time when it was measured
  double default_ms = 0.0; // the untuned configuration's, same run
};

// A fingerprint of the SPIR-V this library embeds: tuned entries measured
// with other kernels are stale.
uint64_t embedded_shaders_hash();

// The tuned entries of one device. Payload of the tuning cache file (text):
//   vkattn-tuning 1
//   shaders <embedded_shaders_hash, 16 hex digits>
//   <class> <choice words> <tuned ms> <default ms>      (one line per entry)
class TuningTable {
 public:
  // Replaces the entries with the payload's. False, entries unchanged, with
  // *why when it is malformed or stale (other shaders).
  bool parse(const std::string& payload, uint64_t shaders_hash, std::string* why);
  std::string serialize(uint64_t shaders_hash) const;
  const TunedEntry* find(const std::string& problem_class) const;
  void set(const std::string& problem_class, const TunedEntry& entry) { entries_[problem_class] = entry; }
  size_t size() const { return entries_.size(); }

 private:
  std::map<std::string, TunedEntry> entries_;
};

// One timed candidate (the first is the untuned configuration).
struct TuningCandidate {
  KernelOverride choice;
  std::string kernel;     // vkattn_plan_info.kernel of its plan
  double ms = 0.0;        // median GPU time; 0 when it did not run
  std::string rejected;   // why it cannot win ("" when it can)
};

// Times the candidates of `problem` on `device` and returns the fastest
// correct one (the untuned configuration when nothing beats it by more than
// the timing noise). Candidates are searched one choice at a time (kernel,
// subgroups, staging, fp16 arithmetic, rows and keys per thread, key
// splits), each starting from the best so far. Allocates the problem's
// tensors for the duration. UNSUPPORTED when the device has no timestamps.
Status tune_problem(VulkanDevice& device, const Problem& problem, TunedEntry* winner,
                    std::vector<TuningCandidate>* tried);

}  // namespace vk
}  // namespace vkattn
