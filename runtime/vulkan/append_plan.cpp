// A Vulkan append plan (vkattn_append_desc): one kv_append.comp pipeline,
// a parameter block and a descriptor set per slice, and per-execution
// host-visible positions and block table. As attention plans do
// (slicing.h), the rows are dispatched in slices of batches and kv heads
// whose tensors each fit one binding window (so indices are 32-bit and
// relative): one slice when everything fits, else fewer batches, then
// fewer kv heads per slice; a single (batch, kv head) beyond
// maxStorageBufferRange is UNSUPPORTED.
#include <algorithm>
#include <cstring>

#include "plan_layout.h"
#include "runtime/append.h"
#include "runtime/checked_math.h"
#include "runtime/quant.h"
#include "plan_runner.h"
#include "vulkan_device.h"

namespace vkattn {
namespace vk {

namespace {

// Mirrors the std140 AppendParams block in shaders/kv_append.comp.
struct AppendParams {
  uint32_t k_src[4];
  uint32_t v_src[4];
  uint32_t k_cache[4];
  uint32_t v_cache[4];
  uint32_t sizes[4];
  uint32_t extra[4];
};
static_assert(sizeof(AppendParams) == 96, "std140 layout of AppendParams");

constexpr uint32_t kAppendWorkgroup = 64;

// Cache and source types as kv_append.comp numbers them.
uint32_t shader_type(vkattn_dtype dtype) {
  switch (dtype) {
    case VKATTN_DTYPE_F16: return 1;
    case VKATTN_DTYPE_Q8_0: return 2;
    case VKATTN_DTYPE_Q4_0: return 3;
    default: return 0;
  }
}

// Units of a row the shader gives one invocation each (kv_append.comp).
uint64_t row_units(vkattn_dtype dtype, int64_t dim) {
  switch (dtype) {
    case VKATTN_DTYPE_F32: return static_cast<uint64_t>(dim);
    case VKATTN_DTYPE_F16: return static_cast<uint64_t>(dim + 1) / 2;
    default: return static_cast<uint64_t>(dim) / kQuantBlock;
  }
}

// The part of a [outer, heads, rows, dim] view one slice touches:
// `outer` entries of its outer axis (batches, or every page) from
// outer_begin, and `heads` heads from head_begin.
struct ViewPart {
  const char* name;  // the descriptor field, for messages
  const TensorView* view;
  vkattn_dtype dtype;
  uint64_t outer_begin, outer, head_begin, heads, rows, dim;
};

// The window binding a part of a view (element units; bytes for block
// types) and the part's offset and strides relative to it. Returns false,
// with the part's span in *bytes, if it exceeds one binding.
bool part_window(const ViewPart& part, const DeviceCaps& caps, Window* window, uint32_t out[4], uint64_t* bytes) {
  const TensorView& view = *part.view;
  const bool blocks = is_block_dtype(part.dtype);
  const uint64_t unit = blocks ? 1 : dtype_size(part.dtype);  // bytes per addressed unit
  // Element indices inside the validated extent: no overflow.
  const uint64_t first_element = view.offset + part.outer_begin * view.batch_stride + part.head_begin * view.head_stride;
  const uint64_t end_element = first_element + (part.outer - 1) * view.batch_stride + (part.heads - 1) * view.head_stride +
                               (part.rows - 1) * view.seq_stride + part.dim;
  const uint64_t first = storage_offset(part.dtype, first_element);
  const uint64_t end = storage_offset(part.dtype, end_element);
  const uint64_t start = first / caps.storage_offset_alignment * caps.storage_offset_alignment;
  const uint64_t range = (end - start + 3) / 4 * 4;
  *bytes = end - first;
  if (range > caps.max_storage_buffer_range) return false;
  window->offset = start;
  window->range = range;
  // Strides of axes with one index never multiply anything; the others are
  // below the window, hence below 2^32.
  auto stride = [&](uint64_t count, uint64_t s) {
    return count > 1 ? static_cast<uint32_t>(blocks ? storage_offset(part.dtype, s) : s) : 0u;
  };
  out[0] = static_cast<uint32_t>((first - start) / unit);
  out[1] = stride(part.outer, view.batch_stride);
  out[2] = stride(part.heads, view.head_stride);
  out[3] = stride(part.rows, view.seq_stride);
  return true;
}

// One dispatch slice: batches [batch_begin, batch_end) x kv heads
// [head_begin, head_end), its windows and its parameter block.
struct AppendSlice {
  int64_t batch_begin = 0, batch_end = 0, head_begin = 0, head_end = 0;
  Window windows[kBindingCount];
  AppendParams params{};
};

// Slices whose sources and caches each fit one binding: all batches and
// kv heads at once if they fit, else halving the batches per slice, then
// the kv heads. Paged caches bind every page of the slice's heads (any
// sequence may name any page).
Status plan_append_slices(const AppendProblem& p, const DeviceCaps& caps, std::vector<AppendSlice>* out) {
  const uint64_t cache_rows = static_cast<uint64_t>(p.paged() ? p.page_size : p.kv_len);
  const uint64_t tokens = static_cast<uint64_t>(p.new_tokens);
  const char* failed = nullptr;
  uint64_t failed_bytes = 0;
  for (int64_t batches = p.batch; batches >= 1; batches = batches == 1 ? 0 : (batches + 1) / 2) {
    for (int64_t heads = p.kv_heads; heads >= 1; heads = heads == 1 ? 0 : (heads + 1) / 2) {
      std::vector<AppendSlice> slices;
      bool fits = true;
      for (int64_t b0 = 0; b0 < p.batch && fits; b0 += batches) {
        for (int64_t h0 = 0; h0 < p.kv_heads && fits; h0 += heads) {
          AppendSlice slice;
          slice.batch_begin = b0;
          slice.batch_end = std::min(p.batch, b0 + batches);
          slice.head_begin = h0;
          slice.head_end = std::min(p.kv_heads, h0 + heads);
          const uint64_t nb = static_cast<uint64_t>(slice.batch_end - b0), nh = static_cast<uint64_t>(slice.head_end - h0);
          const uint64_t cache_first = p.paged() ? 0 : static_cast<uint64_t>(b0);
          const uint64_t cache_outer = p.paged() ? static_cast<uint64_t>(p.num_pages) : nb;
          const struct {
            ViewPart part;
            uint32_t binding;
            uint32_t* params;
          } parts[] = {
              {{"k_src_layout", &p.k_src, p.src_dtype, static_cast<uint64_t>(b0), nb, static_cast<uint64_t>(h0), nh,
                tokens, static_cast<uint64_t>(p.qk_dim)},
               kBindingQ, slice.params.k_src},
              {{"v_src_layout", &p.v_src, p.src_dtype, static_cast<uint64_t>(b0), nb, static_cast<uint64_t>(h0), nh,
                tokens, static_cast<uint64_t>(p.v_dim)},
               kBindingOut, slice.params.v_src},
              {{"k_layout", &p.k, p.k_dtype, cache_first, cache_outer, static_cast<uint64_t>(h0), nh, cache_rows,
                static_cast<uint64_t>(p.qk_dim)},
               kBindingK, slice.params.k_cache},
              {{"v_layout", &p.v, p.v_dtype, cache_first, cache_outer, static_cast<uint64_t>(h0), nh, cache_rows,
                static_cast<uint64_t>(p.v_dim)},
               kBindingV, slice.params.v_cache},
          };
          for (const auto& item : parts) {
            if (!fits) break;
            uint64_t bytes = 0;
            fits = part_window(item.part, caps, &slice.windows[item.binding], item.params, &bytes);
            if (!fits) failed = item.part.name, failed_bytes = bytes;
          }
          const uint64_t rows = nb * nh * tokens;
          if (fits && rows > UINT32_MAX) {
            return unsupported("vkattn_append_desc: batch x kv_heads x new_tokens (%llu) exceeds 2^32 - 1 rows",
                               (unsigned long long)rows);
          }
          slice.params.sizes[0] = static_cast<uint32_t>(nh);
          slice.params.extra[2] = static_cast<uint32_t>(rows);
          slice.params.extra[3] = static_cast<uint32_t>(b0);
          if (fits) slices.push_back(slice);
        }
      }
      if (fits) {
        *out = std::move(slices);
        return Status();
      }
    }
  }
  return unsupported("vkattn_append_desc.%s of one (batch, kv head) spans %llu bytes, more than one binding of %s "
                     "can reach (maxStorageBufferRange %llu bytes)",
                     failed, (unsigned long long)failed_bytes, caps.name.c_str(),
                     (unsigned long long)caps.max_storage_buffer_range);
}

class VulkanAppendPlan final : public DeviceAppendPlan, public VulkanWork, public PlanDispatches {
 public:
  VulkanAppendPlan(VulkanDevice& device, const AppendProblem& problem)
      : device_(device), p_(problem), runner_(device, *this) {}

  Status initialize();
  // DeviceAppendPlan
  Status execute(const AppendArgs& args) override;
  PlanInfo info() const override;
  Status last_time(double* ms) override { return runner_.last_time(ms); }
  Status settle() override { return runner_.settle(); }
  // VulkanWork
  Status prepare(const Work& work, VkCommandBuffer* out, std::vector<VulkanBuffer*>* used) override {
    return runner_.prepare(inputs(*work.append_args), out, used);
  }
  void submitted(uint64_t serial) override { runner_.submitted(serial); }
  Status prepare_recording(const Work& work) override { return runner_.prepare_recording(inputs(*work.append_args)); }
  void record_into(const Work& work, VkCommandBuffer cmd) override { runner_.record_into(inputs(*work.append_args), cmd); }
  // PlanDispatches
  uint32_t slice_count() const override { return static_cast<uint32_t>(slices_.size()); }
  const Window& window(uint32_t slice, uint32_t binding) const override { return slices_[slice].windows[binding]; }
  VkDescriptorBufferInfo own_binding(uint32_t slice, uint32_t binding) const override;
  void record_dispatches(VkCommandBuffer cmd, const VkDescriptorSet* sets) const override;

 private:
  // The execution's buffers by binding (sources as Q and O, caches as K
  // and V: kv_append.comp's bindings) and words.
  RunInputs inputs(const AppendArgs& args) const;

  VulkanDevice& device_;
  AppendProblem p_;
  VkPipeline pipeline_ = VK_NULL_HANDLE;
  std::vector<AppendSlice> slices_;
  uint64_t params_stride_ = 0;  // one parameter block per slice, at uniform-offset alignment
  std::unique_ptr<VulkanBuffer> params_;
  std::unique_ptr<VulkanBuffer> rope_;
  uint64_t rows_ = 0;            // batch x kv_heads x new_tokens
  uint32_t groups_x_ = 0;        // workgroups per row
  uint32_t dispatches_ = 0;
  // Last: destroyed first, it waits for the plan's work before the buffers above go.
  PlanRunner runner_;
};

Status VulkanAppendPlan::initialize() {
  const DeviceCaps& caps = device_.caps();
  const uint64_t batch = static_cast<uint64_t>(p_.batch);
  VKATTN_RETURN_IF_ERROR(plan_append_slices(p_, caps, &slices_));
  const uint32_t max_y = caps.max_workgroup_count[1];
  for (AppendSlice& slice : slices_) {  // (plan_append_slices set the windows, heads, rows and first batch)
    slice.params.sizes[1] = static_cast<uint32_t>(p_.new_tokens);
    slice.params.sizes[2] = static_cast<uint32_t>(p_.qk_dim);
    slice.params.sizes[3] = static_cast<uint32_t>(p_.v_dim);
    slice.params.extra[0] = static_cast<uint32_t>(p_.max_pages);
    slice.params.extra[1] = static_cast<uint32_t>(p_.rope.dims);
    rows_ += slice.params.extra[2];
    dispatches_ += static_cast<uint32_t>(ceil_div(uint64_t{slice.params.extra[2]}, uint64_t{max_y}));
  }
  const uint64_t units = row_units(p_.k_dtype, p_.qk_dim) + row_units(p_.v_dtype, p_.v_dim);  // <= 8192
  groups_x_ = static_cast<uint32_t>(ceil_div(units, uint64_t{kAppendWorkgroup}));

  PipelineSpec spec;
  spec.role = "append";
  spec.shader = shaders::ShaderId::kv_append;
  spec.constants = {kAppendWorkgroup, p_.src_dtype == VKATTN_DTYPE_F16 ? 1u : 0u, shader_type(p_.k_dtype),
                    shader_type(p_.v_dtype), static_cast<uint32_t>(p_.page_size),
                    static_cast<uint32_t>(p_.rope.style)};
  VKATTN_RETURN_IF_ERROR(device_.pipeline(spec, &pipeline_));

  params_stride_ = ceil_div(uint64_t{sizeof(AppendParams)}, caps.uniform_offset_alignment) * caps.uniform_offset_alignment;
  VKATTN_RETURN_IF_ERROR(device_.create_vulkan_buffer(params_stride_ * slices_.size(), true, &params_));
  for (size_t s = 0; s < slices_.size(); ++s) {
    std::memcpy(params_->mapped() + s * params_stride_, &slices_[s].params, sizeof(AppendParams));
  }
  VKATTN_RETURN_IF_ERROR(params_->flush(0, params_stride_ * slices_.size()));
  uint64_t table_words = 0;
  if (p_.paged()) {
    uint64_t bytes = 0;
    if (!checked_mul(batch, static_cast<uint64_t>(p_.max_pages) * 4, &bytes) || bytes > caps.max_storage_buffer_range) {
      return unsupported("the block table (batch %lld x max_pages %lld) exceeds maxStorageBufferRange (%llu bytes)",
                         (long long)p_.batch, (long long)p_.max_pages, (unsigned long long)caps.max_storage_buffer_range);
    }
    table_words = bytes / 4;
  }
  if (p_.rope.enabled()) {
    std::vector<uint32_t> words(2 * p_.rope.turns.size());
    for (size_t pair = 0; pair < p_.rope.turns.size(); ++pair) {
      words[2 * pair] = static_cast<uint32_t>(p_.rope.turns[pair] >> 32);
      words[2 * pair + 1] = static_cast<uint32_t>(p_.rope.turns[pair]);
    }
    VKATTN_RETURN_IF_ERROR(device_.create_vulkan_buffer(words.size() * 4, true, &rope_));
    std::memcpy(rope_->mapped(), words.data(), words.size() * 4);
    VKATTN_RETURN_IF_ERROR(rope_->flush(0, words.size() * 4));
  }
  return runner_.initialize(batch, table_words);  // the positions [batch], the block table
}

RunInputs VulkanAppendPlan::inputs(const AppendArgs& args) const {
  RunInputs in;
  in.tensors[kBindingQ] = args.k_src;
  in.tensors[kBindingOut] = args.v_src;
  in.tensors[kBindingK] = args.k_cache;
  in.tensors[kBindingV] = args.v_cache;
  in.lengths = &args.positions;
  if (p_.paged()) in.block_table = &args.block_table;
  return in;
}

VkDescriptorBufferInfo VulkanAppendPlan::own_binding(uint32_t slice, uint32_t binding) const {
  if (binding == kBindingParams) return params_->descriptor(slice * params_stride_, sizeof(AppendParams));
  if (binding == kBindingHeadConstants && rope_ != nullptr) return rope_->descriptor(0, VK_WHOLE_SIZE);
  return VkDescriptorBufferInfo{};
}

void VulkanAppendPlan::record_dispatches(VkCommandBuffer cmd, const VkDescriptorSet* sets) const {
  const DeviceFunctions& fn = device_.fn();
  fn.vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline_);
  // Slices write disjoint rows of the caches: no barrier between them.
  const uint32_t max_y = device_.caps().max_workgroup_count[1];
  for (size_t s = 0; s < slices_.size(); ++s) {
    fn.vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, device_.pipeline_layout(), 0, 1, &sets[s], 0,
                               nullptr);
    const uint64_t rows = slices_[s].params.extra[2];
    for (uint64_t base = 0; base < rows; base += max_y) {
      const uint32_t constants[5] = {static_cast<uint32_t>(base), 0, 0, 0, 0};
      fn.vkCmdPushConstants(cmd, device_.pipeline_layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(constants), constants);
      fn.vkCmdDispatch(cmd, groups_x_, static_cast<uint32_t>(std::min<uint64_t>(max_y, rows - base)), 1);
    }
  }
}

Status VulkanAppendPlan::execute(const AppendArgs& args) {
  Work work;
  work.append_plan = this;
  work.append_args = &args;
  return device_.submit_alone(work);
}

PlanInfo VulkanAppendPlan::info() const {
  PlanInfo info;
  info.kernel = "vulkan.append";
  info.tasks = static_cast<uint32_t>(std::min<uint64_t>(UINT32_MAX, rows_ * groups_x_));
  info.dispatches = dispatches_;
  info.workspace_bytes = params_->size() + runner_.workspace_bytes() + (rope_ ? rope_->size() : 0);
  return info;
}

}  // namespace

Status create_vulkan_append_plan(VulkanDevice& device, const AppendProblem& problem,
                                 std::unique_ptr<DeviceAppendPlan>* out) {
  VKATTN_RETURN_IF_ERROR(device.usable());
  std::unique_ptr<VulkanAppendPlan> plan(new VulkanAppendPlan(device, problem));
  VKATTN_RETURN_IF_ERROR(plan->initialize());
  *out = std::move(plan);
  return Status();
}

}  // namespace vk
}  // namespace vkattn
