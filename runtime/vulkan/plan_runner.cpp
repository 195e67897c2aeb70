#include "plan_runner.h"

#include <algorithm>
#include <cstring>

#include "runtime/checked_math.h"

namespace vkattn {
namespace vk {

namespace {
constexpr uint64_t kMaxUpdateBytes = 65536;  // vkCmdUpdateBuffer's limit per call
}  // namespace

Status attention_words(const Problem& p, const DeviceCaps& caps, uint64_t* length_words, uint64_t* table_words) {
  // Key lengths [batch], query lengths [batch] (ragged batches), first
  // packed rows [batch] (packed queries). batch < 2^31.
  *length_words = p.has_kv_lens || p.ragged() ? static_cast<uint64_t>(p.batch) * 3 : 0;
  *table_words = 0;
  if (p.paged()) {
    uint64_t bytes = 0;
    if (!checked_mul(static_cast<uint64_t>(p.batch), static_cast<uint64_t>(p.max_pages) * 4, &bytes) ||
        bytes > caps.max_storage_buffer_range) {
      return unsupported("the block table (batch %lld x max_pages %lld) exceeds maxStorageBufferRange (%llu bytes)",
                         (long long)p.batch, (long long)p.max_pages, (unsigned long long)caps.max_storage_buffer_range);
    }
    *table_words = bytes / 4;
  }
  return Status();
}

RunInputs attention_inputs(const Problem& p, uint64_t length_words, const ExecArgs& args, std::vector<int32_t>* lengths) {
  RunInputs in;
  in.tensors[kBindingQ] = args.q;
  in.tensors[kBindingK] = args.k;
  in.tensors[kBindingV] = args.v;
  in.tensors[kBindingOut] = args.out;
  in.tensors[kBindingLse] = args.lse;
  in.tensors[kBindingAdditiveMask] = args.additive_mask;
  in.tensors[kBindingBoolMask] = args.bool_mask;
  if (length_words > 0) {
    // The shader reads only the parts its flags name; the others stay 0.
    const size_t batch = static_cast<size_t>(p.batch);
    lengths->assign(length_words, 0);
    std::copy(args.kv_lens.begin(), args.kv_lens.end(), lengths->begin());
    std::copy(args.q_lens.begin(), args.q_lens.end(), lengths->begin() + batch);
    std::copy(args.q_starts.begin(), args.q_starts.end(), lengths->begin() + 2 * batch);
    in.lengths = lengths;
  }
  if (p.paged()) in.block_table = &args.block_table;
  return in;
}

PlanRunner::~PlanRunner() {
  settle();
  destroy_sets(own_);
  for (SetGroup& group : recorded_) destroy_sets(group);
  device_.free_command_buffer(commands_);
  if (timestamps_ != VK_NULL_HANDLE) device_.fn().vkDestroyQueryPool(device_.handle(), timestamps_, nullptr);
}

Status PlanRunner::initialize(uint64_t length_words, uint64_t table_words) {
  length_words_ = length_words;
  table_words_ = table_words;
  if (length_words > 0) {
    VKATTN_RETURN_IF_ERROR(device_.create_vulkan_buffer(length_words * 4, true, &lengths_));
    VKATTN_RETURN_IF_ERROR(device_.create_vulkan_buffer(length_words * 4, false, &recorded_lengths_));
  }
  if (table_words > 0) {
    VKATTN_RETURN_IF_ERROR(device_.create_vulkan_buffer(table_words * 4, true, &table_));
    VKATTN_RETURN_IF_ERROR(device_.create_vulkan_buffer(table_words * 4, false, &recorded_table_));
  }
  VKATTN_RETURN_IF_ERROR(create_sets(&own_));
  VKATTN_RETURN_IF_ERROR(device_.allocate_command_buffer(&commands_));
  return device_.create_timestamp_queries(&timestamps_);
}

uint64_t PlanRunner::workspace_bytes() const {
  uint64_t bytes = 0;
  for (const auto* buffer : {&lengths_, &table_, &recorded_lengths_, &recorded_table_}) {
    if (*buffer != nullptr) bytes += (*buffer)->size();
  }
  return bytes;
}

std::vector<uint64_t> PlanRunner::key_of(const RunInputs& inputs) const {
  std::vector<uint64_t> key(kBindingCount, 0);
  for (uint32_t b = 0; b < kBindingCount; ++b) {
    // Every buffer of a plan's context is a VulkanBuffer (checked by bindings).
    if (inputs.tensors[b] != nullptr) key[b] = static_cast<const VulkanBuffer*>(inputs.tensors[b])->serial();
  }
  return key;
}

Status PlanRunner::create_sets(SetGroup* group) {
  const Status created = device_.create_descriptor_sets(plan_.slice_count(), &group->pool, &group->sets);
  if (!created.ok()) destroy_sets(*group);
  return created;
}

void PlanRunner::destroy_sets(SetGroup& group) {
  if (group.pool != VK_NULL_HANDLE) device_.fn().vkDestroyDescriptorPool(device_.handle(), group.pool, nullptr);
  group = SetGroup{};
}

void PlanRunner::write_sets(const SetGroup& group, const RunInputs& inputs, const VulkanBuffer* lengths,
                            const VulkanBuffer* table) const {
  for (uint32_t s = 0; s < plan_.slice_count(); ++s) {
    VkDescriptorBufferInfo infos[kBindingCount] = {};  // (none: the placeholder)
    for (uint32_t b = 0; b < kBindingCount; ++b) {
      const VkDescriptorBufferInfo own = plan_.own_binding(s, b);
      if (b == kBindingKvLens && lengths != nullptr) {
        infos[b] = lengths->descriptor(0, VK_WHOLE_SIZE);
      } else if (b == kBindingBlockTable && table != nullptr) {
        infos[b] = table->descriptor(0, VK_WHOLE_SIZE);
      } else if (own.buffer != VK_NULL_HANDLE) {
        infos[b] = own;
      } else if (inputs.tensors[b] != nullptr) {
        const Window& window = plan_.window(s, b);
        infos[b] = static_cast<const VulkanBuffer*>(inputs.tensors[b])->descriptor(window.offset, window.range);
      }
    }
    device_.write_descriptor_set(group.sets[s], infos);
  }
}

Status PlanRunner::record_own_commands() {
  const DeviceFunctions& fn = device_.fn();
  VkCommandBuffer cmd = commands_;
  VKATTN_RETURN_IF_ERROR(device_.check(fn.vkResetCommandBuffer(cmd, 0), "vkResetCommandBuffer"));
  VkCommandBufferBeginInfo begin{};
  begin.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
  VKATTN_RETURN_IF_ERROR(device_.check(fn.vkBeginCommandBuffer(cmd, &begin), "vkBeginCommandBuffer"));
  device_.record_barrier_after_prior_work(cmd);
  if (timestamps_ != VK_NULL_HANDLE) {
    fn.vkCmdResetQueryPool(cmd, timestamps_, 0, 2);
    fn.vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, timestamps_, 0);
  }
  plan_.record_dispatches(cmd, own_.sets.data());
  if (timestamps_ != VK_NULL_HANDLE) fn.vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, timestamps_, 1);
  device_.record_barrier_before_host_reads(cmd);
  return device_.check(fn.vkEndCommandBuffer(cmd), "vkEndCommandBuffer");
}

Status PlanRunner::prepare(const RunInputs& inputs, VkCommandBuffer* out, std::vector<VulkanBuffer*>* used) {
  VKATTN_RETURN_IF_ERROR(device_.usable());
  // The previous submission must be done before the words, descriptor sets
  // or command buffer change.
  VKATTN_RETURN_IF_ERROR(device_.wait_for(last_serial_));
  const std::vector<uint64_t> key = key_of(inputs);
  if (key != own_.key) {
    own_.key.clear();
    write_sets(own_, inputs, lengths_.get(), table_.get());
    VKATTN_RETURN_IF_ERROR(record_own_commands());
    own_.key = key;
  }
  if (lengths_ != nullptr) {
    std::memcpy(lengths_->mapped(), inputs.lengths->data(), length_words_ * 4);
    VKATTN_RETURN_IF_ERROR(lengths_->flush(0, length_words_ * 4));
  }
  if (table_ != nullptr) {
    std::memcpy(table_->mapped(), inputs.block_table->data(), table_words_ * 4);
    VKATTN_RETURN_IF_ERROR(table_->flush(0, table_words_ * 4));
  }
  for (DeviceBuffer* tensor : inputs.tensors) {
    if (tensor != nullptr) used->push_back(static_cast<VulkanBuffer*>(tensor));
  }
  *out = commands_;
  return Status();
}

const PlanRunner::SetGroup* PlanRunner::recorded_sets(const std::vector<uint64_t>& key) const {
  for (const SetGroup& group : recorded_) {
    if (group.key == key) return &group;
  }
  return nullptr;
}

Status PlanRunner::prepare_recording(const RunInputs& inputs) {
  // Sets of buffers that no longer exist can serve no valid recording.
  for (size_t i = 0; i < recorded_.size();) {
    const bool stale = std::any_of(recorded_[i].key.begin(), recorded_[i].key.end(),
                                   [&](uint64_t serial) { return serial != 0 && !device_.buffer_alive(serial); });
    if (stale) {
      destroy_sets(recorded_[i]);
      recorded_.erase(recorded_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  const std::vector<uint64_t> key = key_of(inputs);
  if (recorded_sets(key) != nullptr) return Status();
  // Written once, never updated: recordings still pending may use them.
  SetGroup group;
  recorded_.reserve(recorded_.size() + 1);
  VKATTN_RETURN_IF_ERROR(create_sets(&group));
  write_sets(group, inputs, recorded_lengths_.get(), recorded_table_.get());
  group.key = key;
  recorded_.push_back(std::move(group));
  return Status();
}

void PlanRunner::record_into(const RunInputs& inputs, VkCommandBuffer cmd) const {
  const DeviceFunctions& fn = device_.fn();
  const SetGroup* group = recorded_sets(key_of(inputs));  // made by prepare_recording
  struct Words {
    const VulkanBuffer* buffer;
    const std::vector<int32_t>* values;
    uint64_t count;
  };
  bool updated = false;
  for (const Words& words : {Words{recorded_lengths_.get(), inputs.lengths, length_words_},
                             Words{recorded_table_.get(), inputs.block_table, table_words_}}) {
    if (words.buffer == nullptr) continue;
    const uint64_t bytes = words.count * 4;
    for (uint64_t done = 0; done < bytes; done += kMaxUpdateBytes) {
      const uint64_t chunk = std::min(kMaxUpdateBytes, bytes - done);
      fn.vkCmdUpdateBuffer(cmd, words.buffer->handle(), words.buffer->base() + done, chunk,
                           reinterpret_cast<const uint8_t*>(words.values->data()) + done);
    }
    updated = true;
  }
  if (updated) device_.record_barrier_between_work(cmd);
  plan_.record_dispatches(cmd, group->sets.data());
}

Status PlanRunner::last_time(double* ms) {
  if (!executed_) return failed_precondition("the plan has not been executed yet");
  return device_.elapsed_ms(timestamps_, last_serial_, ms);
}

}  // namespace vk
}  // namespace vkattn
