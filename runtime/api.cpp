// The C entry points. Each one checks its handles and arguments, calls into
// the C++ runtime, and turns the resulting Status into a return code plus the
// thread-local message. No exception ever crosses this boundary.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "api_call.h"
#include "backend.h"
#include "bindings.h"
#include "checked_math.h"
#include "enum_value.h"
#include "block_masks.h"
#include "favor.h"
#include "objects.h"
#include "problem.h"
#include "quant.h"
#include "status.h"
#include "vkattn.h"

using vkattn::HandleKind;
using vkattn::Status;

namespace vkattn {
namespace api {

std::string& last_error() {
  thread_local std::string message;
  return message;
}

Status open_context(vkattn_context context, const char* what) {
  if (context == nullptr) return invalid_argument("%s is NULL", what);
  if (context->kind != HandleKind::kContext) return invalid_argument("%s is not a live vkattn_context handle", what);
  return Status();
}

Status open_buffer(vkattn_buffer buffer) {
  if (buffer == nullptr) return invalid_argument("buffer is NULL");
  if (buffer->kind != HandleKind::kBuffer) return invalid_argument("buffer is not a live vkattn_buffer handle");
  if (!buffer->context->open) {
    return failed_precondition("the buffer's context was destroyed; only vkattn_buffer_destroy is allowed");
  }
  return Status();
}

Status validate_options(const vkattn_context_options& options) {
  if (options.struct_size != sizeof(vkattn_context_options)) {
    return invalid_argument(
        "vkattn_context_options.struct_size is %zu but this library expects %zu; use vkattn_context_options_init()",
        options.struct_size, sizeof(vkattn_context_options));
  }
  if ((options.flags & ~VKATTN_CONTEXT_ENABLE_VALIDATION) != 0) {
    return invalid_argument("vkattn_context_options.flags has unknown bits 0x%x",
                            options.flags & ~VKATTN_CONTEXT_ENABLE_VALIDATION);
  }
  const int32_t backend = enum_value(options.backend);
  if (backend != VKATTN_BACKEND_AUTO && backend != VKATTN_BACKEND_CPU && backend != VKATTN_BACKEND_VULKAN) {
    return invalid_argument("vkattn_context_options.backend (%d) is not a vkattn_backend value", backend);
  }
  if (options.device_index < -1) {
    return invalid_argument("vkattn_context_options.device_index must be -1 (automatic) or >= 0 (got %d)",
                            options.device_index);
  }
  if (options.cpu_threads < 0) {
    return invalid_argument("vkattn_context_options.cpu_threads must be >= 0 (got %d)", options.cpu_threads);
  }
  const int32_t log_level = enum_value(options.log_level);
  if (log_level < VKATTN_LOG_ERROR || log_level > VKATTN_LOG_DEBUG) {
    return invalid_argument("vkattn_context_options.log_level (%d) is not a vkattn_log_level value", log_level);
  }
  return Status();
}

Status create_context(const vkattn_context_options* options, const DeviceFactory& make_device,
                      vkattn_context* out_context) {
  if (out_context == nullptr) return invalid_argument("out_context is NULL");
  vkattn_context_options defaults;
  vkattn_context_options_init(&defaults);
  const vkattn_context_options& opts = options != nullptr ? *options : defaults;
  VKATTN_RETURN_IF_ERROR(validate_options(opts));
  auto state = std::make_shared<ContextState>();
  state->log = Logger(opts.log_fn, opts.log_user_data, opts.log_level);
  VKATTN_RETURN_IF_ERROR(make_device(opts, state->log, &state->device));
  auto* context = new vkattn_context_t();
  context->state = std::move(state);
  *out_context = context;
  return Status();
}

Status wrap_buffer(vkattn_context context, std::unique_ptr<DeviceBuffer> impl, vkattn_buffer* out_buffer) {
  auto* buffer = new vkattn_buffer_t();
  buffer->context = context->state;
  buffer->impl = std::move(impl);
  *out_buffer = buffer;
  return Status();
}

}  // namespace api
}  // namespace vkattn

using vkattn::api::api_call;
using vkattn::api::open_buffer;
using vkattn::api::open_context;
using vkattn::api::validate_options;

namespace {

Status open_plan(vkattn_plan plan) {
  if (plan == nullptr) return vkattn::invalid_argument("plan is NULL");
  if (plan->kind != HandleKind::kPlan) return vkattn::invalid_argument("plan is not a live vkattn_plan handle");
  if (!plan->context->open) {
    return vkattn::failed_precondition("the plan's context was destroyed; only vkattn_plan_destroy is allowed");
  }
  return Status();
}

Status check_ticket(const vkattn_context_t& context, uint64_t ticket) {
  const uint64_t last = context.state->device->last_ticket();
  if (ticket > last) {
    return vkattn::invalid_argument("ticket %llu was never issued by this context (its last is %llu)",
                                    (unsigned long long)ticket, (unsigned long long)last);
  }
  return Status();
}

Status check_range(vkattn_buffer buffer, uint64_t offset, uint64_t size, const void* data) {
  uint64_t end = 0;
  const uint64_t capacity = buffer->impl->size();
  if (!vkattn::checked_add(offset, size, &end) || end > capacity) {
    return vkattn::invalid_argument("range [%llu, %llu + %llu) lies outside the %llu-byte buffer",
                                    (unsigned long long)offset, (unsigned long long)offset, (unsigned long long)size,
                                    (unsigned long long)capacity);
  }
  if (data == nullptr && size > 0) return vkattn::invalid_argument("data is NULL");
  if (buffer->mapped) return vkattn::failed_precondition("the buffer is mapped; unmap it first");
  return Status();
}

// AUTO: Vulkan on a GPU-type device (or the one the user named), else CPU.
Status create_device(const vkattn_context_options& options, const vkattn::Logger& log,
                     std::unique_ptr<vkattn::Device>* device) {
  if (options.backend == VKATTN_BACKEND_CPU) return vkattn::create_cpu_device(options, log, device);
  if (options.backend == VKATTN_BACKEND_VULKAN) return vkattn::create_vulkan_device(options, log, device);

  std::vector<vkattn_device_info> gpus;
  vkattn::describe_vulkan_devices(log, &gpus);
  const char* named = std::getenv("VKATTN_DEVICE");
  bool want_vulkan = options.device_index >= 0 || (named != nullptr && named[0] != '\0');
  for (const vkattn_device_info& info : gpus) {
    if (info.usable && info.type != VKATTN_DEVICE_TYPE_CPU && info.type != VKATTN_DEVICE_TYPE_OTHER) want_vulkan = true;
  }
  if (want_vulkan) {
    Status status = vkattn::create_vulkan_device(options, log, device);
    if (status.ok()) return status;
    log.warning("backend AUTO: Vulkan device unusable (" + status.message() + "); using the CPU backend");
  }
  return vkattn::create_cpu_device(options, log, device);
}

Status attention_on_host(vkattn_context context, const vkattn_attention_desc& desc,
                         const vkattn_host_tensors& tensors);

// Checks the arguments shared by the block helpers.
Status check_block_call(vkattn_dtype dtype, uint64_t count, const void* from, const void* to) {
  const int32_t value = vkattn::enum_value(dtype);  // raw bits: any int may arrive from C
  if (value != VKATTN_DTYPE_Q8_0 && value != VKATTN_DTYPE_Q4_0) {
    return vkattn::invalid_argument("dtype (%d) must be VKATTN_DTYPE_Q8_0 or VKATTN_DTYPE_Q4_0", value);
  }
  if (count % vkattn::kQuantBlock != 0) {
    return vkattn::invalid_argument("count (%llu) must be a multiple of VKATTN_QUANT_BLOCK (%lld)",
                                    (unsigned long long)count, (long long)vkattn::kQuantBlock);
  }
  if (count != 0 && (from == nullptr || to == nullptr)) return vkattn::invalid_argument("a data pointer is NULL");
  return Status();
}


}  // namespace

extern "C" {

uint32_t vkattn_version(void) { return VKATTN_VERSION; }

const char* vkattn_version_string(void) {
#define VKATTN_STR2(x) #x
#define VKATTN_STR(x) VKATTN_STR2(x)
  return VKATTN_STR(VKATTN_VERSION_MAJOR) "." VKATTN_STR(VKATTN_VERSION_MINOR) "." VKATTN_STR(VKATTN_VERSION_PATCH);
}

vkattn_status vkattn_alibi_slopes(int64_t heads, float* slopes) {
  return api_call([&]() -> Status {
    if (heads < 1 || heads > vkattn::kMaxDimension) {
      return vkattn::invalid_argument("heads must be from 1 to %lld (got %lld)", (long long)vkattn::kMaxDimension,
                                      (long long)heads);
    }
    if (slopes == nullptr) return vkattn::invalid_argument("slopes is NULL");
    vkattn::alibi_default_slopes(heads, slopes);
    return Status();
  });
}

vkattn_status vkattn_favor_features(int64_t num_features, int64_t qk_dim, uint64_t seed, float* features) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(vkattn::check_size("vkattn_favor_features", "num_features", num_features, VKATTN_MAX_FEATURES));
    VKATTN_RETURN_IF_ERROR(vkattn::check_size("vkattn_favor_features", "qk_dim", qk_dim, VKATTN_MAX_HEAD_DIM));
    if (features == nullptr) return vkattn::invalid_argument("features is NULL");
    vkattn::favor_orthogonal_features(num_features, qk_dim, seed, features);
    return Status();
  });
}

namespace {

// The block-mask helpers' shared checks and fill.
vkattn_status block_mask(const char* function, int64_t q_blocks, int64_t k_blocks, int64_t window_blocks,
                         int64_t global_blocks, int64_t random_blocks, uint64_t seed, uint8_t* mask) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(vkattn::check_size(function, "q_blocks", q_blocks, vkattn::kMaxDimension));
    VKATTN_RETURN_IF_ERROR(vkattn::check_size(function, "k_blocks", k_blocks, vkattn::kMaxDimension));
    const struct {
      const char* name;
      int64_t value;
    } counts[] = {{"window_blocks", window_blocks}, {"global_blocks", global_blocks}, {"random_blocks", random_blocks}};
    for (const auto& count : counts) {
      if (count.value < 0 || count.value > vkattn::kMaxDimension) {
        return vkattn::invalid_argument("%s: %s must be from 0 to %lld (got %lld)", function, count.name,
                                        (long long)vkattn::kMaxDimension, (long long)count.value);
      }
    }
    if (q_blocks * k_blocks > VKATTN_MAX_BLOCK_MASK_BYTES) {  // both < 2^31: no overflow
      return vkattn::invalid_argument("%s: q_blocks x k_blocks (%lld x %lld) exceeds VKATTN_MAX_BLOCK_MASK_BYTES",
                                      function, (long long)q_blocks, (long long)k_blocks);
    }
    if (mask == nullptr) return vkattn::invalid_argument("%s: mask is NULL", function);
    vkattn::fill_block_mask(q_blocks, k_blocks, window_blocks, global_blocks, random_blocks, seed, mask);
    return Status();
  });
}

}  // namespace

vkattn_status vkattn_block_mask_longformer(int64_t q_blocks, int64_t k_blocks, int64_t window_blocks,
                                           int64_t global_blocks, uint8_t* mask) {
  return block_mask("vkattn_block_mask_longformer", q_blocks, k_blocks, window_blocks, global_blocks, 0, 0, mask);
}

vkattn_status vkattn_block_mask_bigbird(int64_t q_blocks, int64_t k_blocks, int64_t window_blocks, int64_t global_blocks,
                                        int64_t random_blocks, uint64_t seed, uint8_t* mask) {
  return block_mask("vkattn_block_mask_bigbird", q_blocks, k_blocks, window_blocks, global_blocks, random_blocks, seed,
                    mask);
}

vkattn_status vkattn_dtype_bytes(vkattn_dtype dtype, uint64_t count, uint64_t* out_bytes) {
  return api_call([&]() -> Status {
    if (out_bytes == nullptr) return vkattn::invalid_argument("out_bytes is NULL");
    const int32_t value = vkattn::enum_value(dtype);
    uint64_t bytes = 0;
    if (value == VKATTN_DTYPE_F32 || value == VKATTN_DTYPE_F16) {
      if (!vkattn::checked_mul(count, uint64_t{vkattn::dtype_size(dtype)}, &bytes)) {
        return vkattn::invalid_argument("count (%llu) values take more than 2^64 bytes", (unsigned long long)count);
      }
    } else {
      VKATTN_RETURN_IF_ERROR(check_block_call(dtype, count, out_bytes, out_bytes));
      bytes = count / vkattn::kQuantBlock * vkattn::block_bytes(dtype);
    }
    *out_bytes = bytes;
    return Status();
  });
}

vkattn_status vkattn_quantize(vkattn_dtype dtype, const float* values, uint64_t count, void* blocks) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(check_block_call(dtype, count, values, blocks));
    for (uint64_t e = 0; e < count; ++e) {
      if (!std::isfinite(values[e])) {
        return vkattn::invalid_argument("values[%llu] (%g) is not finite", (unsigned long long)e,
                                        static_cast<double>(values[e]));
      }
    }
    uint8_t* out = static_cast<uint8_t*>(blocks);
    const uint64_t stride = vkattn::block_bytes(dtype);
    for (uint64_t block = 0; block < count / vkattn::kQuantBlock; ++block) {
      const float* x = values + block * vkattn::kQuantBlock;
      if (dtype == VKATTN_DTYPE_Q8_0) {
        vkattn::quantize_block_q8_0(x, out + block * stride);
      } else {
        vkattn::quantize_block_q4_0(x, out + block * stride);
      }
    }
    return Status();
  });
}

vkattn_status vkattn_dequantize(vkattn_dtype dtype, const void* blocks, uint64_t count, float* values) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(check_block_call(dtype, count, blocks, values));
    const uint8_t* in = static_cast<const uint8_t*>(blocks);
    const uint64_t stride = vkattn::block_bytes(dtype);
    for (uint64_t block = 0; block < count / vkattn::kQuantBlock; ++block) {
      vkattn::dequantize_block(dtype, in + block * stride, 1.0f, values + block * vkattn::kQuantBlock);
    }
    return Status();
  });
}

const char* vkattn_status_string(vkattn_status status) {
  switch (vkattn::enum_value(status)) {
    case VKATTN_SUCCESS: return "success";
    case VKATTN_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case VKATTN_ERROR_FAILED_PRECONDITION: return "failed precondition";
    case VKATTN_ERROR_UNSUPPORTED: return "unsupported on this device";
    case VKATTN_ERROR_BACKEND_UNAVAILABLE: return "backend unavailable";
    case VKATTN_ERROR_OUT_OF_HOST_MEMORY: return "out of host memory";
    case VKATTN_ERROR_OUT_OF_DEVICE_MEMORY: return "out of device memory";
    case VKATTN_ERROR_DEVICE_LOST: return "device lost";
    case VKATTN_ERROR_INTERNAL: return "internal error";
  }
  return "unknown status code";
}

const char* vkattn_last_error(void) { return vkattn::api::last_error().c_str(); }

vkattn_status vkattn_enumerate_devices(vkattn_device_info* infos, uint32_t capacity, uint32_t* out_count) {
  return api_call([&]() -> Status {
    if (out_count == nullptr) return vkattn::invalid_argument("out_count is NULL");
    if (infos != nullptr) {
      for (uint32_t i = 0; i < capacity; ++i) {
        if (infos[i].struct_size != sizeof(vkattn_device_info)) {
          return vkattn::invalid_argument(
              "infos[%u].struct_size is %zu but this library expects %zu; use vkattn_device_info_init()", i,
              infos[i].struct_size, sizeof(vkattn_device_info));
        }
      }
    } else if (capacity != 0) {
      return vkattn::invalid_argument("infos is NULL but capacity is %u", capacity);
    }
    std::vector<vkattn_device_info> all(1);
    vkattn_device_info_init(&all[0]);
    vkattn::describe_cpu_device(0, &all[0]);
    vkattn::describe_vulkan_devices(vkattn::Logger(nullptr, nullptr, VKATTN_LOG_WARNING), &all);
    for (uint32_t i = 0; infos != nullptr && i < capacity && i < all.size(); ++i) infos[i] = all[i];
    *out_count = static_cast<uint32_t>(all.size());
    return Status();
  });
}

vkattn_status vkattn_context_create(const vkattn_context_options* options, vkattn_context* out_context) {
  return api_call([&]() -> Status {
    return vkattn::api::create_context(options, &create_device, out_context);
  });
}

vkattn_status vkattn_context_destroy(vkattn_context context) {
  return api_call([&]() -> Status {
    if (context == nullptr) return Status();
    VKATTN_RETURN_IF_ERROR(open_context(context, "context"));
    Status finished = context->state->device->drain();
    context->state->open = false;
    context->kind = HandleKind::kDestroyed;
    delete context;
    return finished;
  });
}

vkattn_status vkattn_context_get_info(vkattn_context context, vkattn_device_info* info) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(open_context(context, "context"));
    if (info == nullptr) return vkattn::invalid_argument("info is NULL");
    if (info->struct_size != sizeof(vkattn_device_info)) {
      return vkattn::invalid_argument(
          "vkattn_device_info.struct_size is %zu but this library expects %zu; use vkattn_device_info_init()",
          info->struct_size, sizeof(vkattn_device_info));
    }
    *info = context->state->device->info();
    return Status();
  });
}

vkattn_status vkattn_context_finish(vkattn_context context) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(open_context(context, "context"));
    return context->state->device->finish();
  });
}

vkattn_status vkattn_buffer_create(vkattn_context context, uint64_t size_bytes, uint32_t flags,
                                   vkattn_buffer* out_buffer) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(open_context(context, "context"));
    if (out_buffer == nullptr) return vkattn::invalid_argument("out_buffer is NULL");
    if (size_bytes == 0) return vkattn::invalid_argument("size_bytes must be > 0");
    if ((flags & ~VKATTN_BUFFER_HOST_VISIBLE) != 0) {
      return vkattn::invalid_argument("buffer flags have unknown bits 0x%x", flags & ~VKATTN_BUFFER_HOST_VISIBLE);
    }
    std::unique_ptr<vkattn::DeviceBuffer> impl;
    VKATTN_RETURN_IF_ERROR(context->state->device->create_buffer(size_bytes, flags, &impl));
    return vkattn::api::wrap_buffer(context, std::move(impl), out_buffer);
  });
}

vkattn_status vkattn_buffer_destroy(vkattn_buffer buffer) {
  return api_call([&]() -> Status {
    if (buffer == nullptr) return Status();
    if (buffer->kind != HandleKind::kBuffer) return vkattn::invalid_argument("buffer is not a live vkattn_buffer handle");
    Status finished;
    if (buffer->context->open) finished = buffer->impl->settle();
    buffer->kind = HandleKind::kDestroyed;
    delete buffer;
    return finished;
  });
}

vkattn_status vkattn_buffer_get_size(vkattn_buffer buffer, uint64_t* out_size_bytes) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(open_buffer(buffer));
    if (out_size_bytes == nullptr) return vkattn::invalid_argument("out_size_bytes is NULL");
    *out_size_bytes = buffer->impl->size();
    return Status();
  });
}

vkattn_status vkattn_buffer_write(vkattn_buffer buffer, uint64_t offset_bytes, const void* data, uint64_t size_bytes) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(open_buffer(buffer));
    VKATTN_RETURN_IF_ERROR(check_range(buffer, offset_bytes, size_bytes, data));
    if (size_bytes == 0) return Status();
    return buffer->impl->write(offset_bytes, data, size_bytes);
  });
}

vkattn_status vkattn_buffer_read(vkattn_buffer buffer, uint64_t offset_bytes, void* data, uint64_t size_bytes) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(open_buffer(buffer));
    VKATTN_RETURN_IF_ERROR(check_range(buffer, offset_bytes, size_bytes, data));
    if (size_bytes == 0) return Status();
    return buffer->impl->read(offset_bytes, data, size_bytes);
  });
}

vkattn_status vkattn_buffer_map(vkattn_buffer buffer, void** out_pointer) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(open_buffer(buffer));
    if (out_pointer == nullptr) return vkattn::invalid_argument("out_pointer is NULL");
    if (buffer->mapped) return vkattn::failed_precondition("the buffer is already mapped");
    if (!buffer->impl->host_visible()) {
      return vkattn::unsupported(
          "this buffer's memory is not host-visible on this device; create it with VKATTN_BUFFER_HOST_VISIBLE or use "
          "vkattn_buffer_read/write");
    }
    void* pointer = nullptr;
    VKATTN_RETURN_IF_ERROR(buffer->impl->map(&pointer));
    buffer->mapped = true;
    *out_pointer = pointer;
    return Status();
  });
}

vkattn_status vkattn_buffer_unmap(vkattn_buffer buffer) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(open_buffer(buffer));
    if (!buffer->mapped) return vkattn::failed_precondition("the buffer is not mapped");
    VKATTN_RETURN_IF_ERROR(buffer->impl->unmap());
    buffer->mapped = false;
    return Status();
  });
}

vkattn_status vkattn_plan_create(vkattn_context context, const vkattn_attention_desc* desc, uint32_t flags,
                                 vkattn_plan* out_plan) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(open_context(context, "context"));
    if (desc == nullptr) return vkattn::invalid_argument("desc is NULL");
    if (out_plan == nullptr) return vkattn::invalid_argument("out_plan is NULL");
    if ((flags & ~VKATTN_PLAN_TUNE) != 0) {
      return vkattn::invalid_argument("vkattn_plan_create flags have unknown bits 0x%x", flags & ~VKATTN_PLAN_TUNE);
    }
    vkattn::Problem problem;
    VKATTN_RETURN_IF_ERROR(vkattn::make_problem(*desc, &problem));
    std::unique_ptr<vkattn::DevicePlan> impl;
    VKATTN_RETURN_IF_ERROR(context->state->device->create_plan(problem, flags, &impl));
    auto* plan = new vkattn_plan_t();
    plan->context = context->state;
    plan->problem = problem;
    plan->impl = std::move(impl);
    *out_plan = plan;
    return Status();
  });
}

vkattn_status vkattn_plan_destroy(vkattn_plan plan) {
  return api_call([&]() -> Status {
    if (plan == nullptr) return Status();
    if (plan->kind != HandleKind::kPlan) return vkattn::invalid_argument("plan is not a live vkattn_plan handle");
    Status finished;
    if (plan->context->open) finished = plan->impl ? plan->impl->settle() : plan->append_impl->settle();
    plan->kind = HandleKind::kDestroyed;
    delete plan;
    return finished;
  });
}

vkattn_status vkattn_plan_get_info(vkattn_plan plan, vkattn_plan_info* info) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(open_plan(plan));
    if (info == nullptr) return vkattn::invalid_argument("info is NULL");
    if (info->struct_size != sizeof(vkattn_plan_info)) {
      return vkattn::invalid_argument(
          "vkattn_plan_info.struct_size is %zu but this library expects %zu; use vkattn_plan_info_init()",
          info->struct_size, sizeof(vkattn_plan_info));
    }
    const vkattn::PlanInfo chosen = plan->impl ? plan->impl->info() : plan->append_impl->info();
    vkattn_plan_info_init(info);
    std::snprintf(info->kernel, sizeof(info->kernel), "%s", chosen.kernel.c_str());
    info->block_q = chosen.block_q;
    info->block_kv = chosen.block_kv;
    info->kv_splits = chosen.kv_splits;
    info->tasks = chosen.tasks;
    info->dispatches = chosen.dispatches;
    info->workspace_bytes = chosen.workspace_bytes;
    info->tuned = chosen.tuned ? 1 : 0;
    return Status();
  });
}

vkattn_status vkattn_plan_execute(vkattn_plan plan, const vkattn_bindings* bindings) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(open_plan(plan));
    if (bindings == nullptr) return vkattn::invalid_argument("bindings is NULL");
    if (plan->impl == nullptr) return vkattn::invalid_argument("plan is an append plan; run it with vkattn_append_execute");
    vkattn::ExecArgs args;
    VKATTN_RETURN_IF_ERROR(vkattn::check_bindings(*plan, *bindings, &args));
    vkattn::Work work;
    work.plan = plan->impl.get();
    work.args = &args;
    uint64_t ticket = 0;
    return plan->context->device->submit({work}, nullptr, &ticket);
  });
}

vkattn_status vkattn_plan_get_last_time(vkattn_plan plan, double* out_ms) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(open_plan(plan));
    if (out_ms == nullptr) return vkattn::invalid_argument("out_ms is NULL");
    return plan->impl ? plan->impl->last_time(out_ms) : plan->append_impl->last_time(out_ms);
  });
}

vkattn_status vkattn_append_plan_create(vkattn_context context, const vkattn_append_desc* desc, uint32_t flags,
                                        vkattn_plan* out_plan) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(open_context(context, "context"));
    if (desc == nullptr) return vkattn::invalid_argument("desc is NULL");
    if (out_plan == nullptr) return vkattn::invalid_argument("out_plan is NULL");
    if (flags != 0) return vkattn::invalid_argument("vkattn_append_plan_create flags (0x%x) must be 0", flags);
    vkattn::AppendProblem problem;
    VKATTN_RETURN_IF_ERROR(vkattn::make_append_problem(*desc, &problem));
    std::unique_ptr<vkattn::DeviceAppendPlan> impl;
    VKATTN_RETURN_IF_ERROR(context->state->device->create_append_plan(problem, &impl));
    auto* plan = new vkattn_plan_t();
    plan->context = context->state;
    plan->append_problem = std::move(problem);
    plan->append_impl = std::move(impl);
    *out_plan = plan;
    return Status();
  });
}

vkattn_status vkattn_append_execute(vkattn_plan plan, const vkattn_append_bindings* bindings) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(open_plan(plan));
    if (bindings == nullptr) return vkattn::invalid_argument("bindings is NULL");
    if (plan->append_impl == nullptr) {
      return vkattn::invalid_argument("plan is an attention plan; run it with vkattn_plan_execute");
    }
    vkattn::AppendArgs args;
    VKATTN_RETURN_IF_ERROR(vkattn::check_append_bindings(*plan, plan->append_problem, *bindings, &args));
    vkattn::Work work;
    work.append_plan = plan->append_impl.get();
    work.append_args = &args;
    uint64_t ticket = 0;
    return plan->context->device->submit({work}, nullptr, &ticket);
  });
}

vkattn_status vkattn_submit(vkattn_context context, const vkattn_execution* executions, uint32_t count,
                            uint64_t* out_ticket) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(open_context(context, "context"));
    vkattn::CheckedBatch batch;
    VKATTN_RETURN_IF_ERROR(vkattn::check_executions(context->state, executions, count, &batch));
    uint64_t ticket = 0;
    VKATTN_RETURN_IF_ERROR(context->state->device->submit(batch.work, nullptr, &ticket));
    if (out_ticket != nullptr) *out_ticket = ticket;
    return Status();
  });
}

vkattn_status vkattn_context_wait(vkattn_context context, uint64_t ticket) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(open_context(context, "context"));
    VKATTN_RETURN_IF_ERROR(check_ticket(*context, ticket));
    return context->state->device->wait(ticket);
  });
}

vkattn_status vkattn_context_poll(vkattn_context context, uint64_t ticket, uint32_t* out_complete) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(open_context(context, "context"));
    if (out_complete == nullptr) return vkattn::invalid_argument("out_complete is NULL");
    VKATTN_RETURN_IF_ERROR(check_ticket(*context, ticket));
    bool complete = false;
    VKATTN_RETURN_IF_ERROR(context->state->device->poll(ticket, &complete));
    *out_complete = complete ? 1 : 0;
    return Status();
  });
}

vkattn_status vkattn_attention(vkattn_context context, const vkattn_attention_desc* desc,
                               const vkattn_host_tensors* tensors) {
  return api_call([&]() -> Status {
    VKATTN_RETURN_IF_ERROR(open_context(context, "context"));
    if (desc == nullptr) return vkattn::invalid_argument("desc is NULL");
    if (tensors == nullptr) return vkattn::invalid_argument("tensors is NULL");
    return attention_on_host(context, *desc, *tensors);
  });
}

}  // extern "C"

namespace {

// Owns the temporary buffers and plan of one vkattn_attention call.
struct HostCall {
  std::shared_ptr<vkattn::ContextState> context;
  std::vector<std::unique_ptr<vkattn_buffer_t>> buffers;

  Status upload(const char* name, const void* data, uint64_t bytes, vkattn_buffer* out) {
    if (data == nullptr) return vkattn::invalid_argument("vkattn_host_tensors.%s is NULL but the problem needs it", name);
    std::unique_ptr<vkattn::DeviceBuffer> impl;
    VKATTN_RETURN_IF_ERROR(context->device->create_buffer(bytes, 0, &impl));
    if (data != nullptr) VKATTN_RETURN_IF_ERROR(impl->write(0, data, bytes));
    auto buffer = std::make_unique<vkattn_buffer_t>();
    buffer->context = context;
    buffer->impl = std::move(impl);
    *out = buffer.get();
    buffers.push_back(std::move(buffer));
    return Status();
  }
};

Status attention_on_host(vkattn_context context, const vkattn_attention_desc& desc,
                         const vkattn_host_tensors& tensors) {
  if (tensors.struct_size != sizeof(vkattn_host_tensors)) {
    return vkattn::invalid_argument(
        "vkattn_host_tensors.struct_size is %zu but this library expects %zu; use vkattn_host_tensors_init()",
        tensors.struct_size, sizeof(vkattn_host_tensors));
  }
  vkattn_plan_t plan;
  plan.context = context->state;
  VKATTN_RETURN_IF_ERROR(vkattn::make_problem(desc, &plan.problem));
  const vkattn::Problem& p = plan.problem;
  VKATTN_RETURN_IF_ERROR(context->state->device->create_plan(p, 0, &plan.impl));

  const vkattn::TensorBytes bytes = vkattn::tensor_bytes(p);
  HostCall call{context->state, {}};
  vkattn_bindings bindings;
  vkattn_bindings_init(&bindings);
  VKATTN_RETURN_IF_ERROR(call.upload("q", tensors.q, bytes.q, &bindings.q));
  VKATTN_RETURN_IF_ERROR(call.upload("k", tensors.k, bytes.k, &bindings.k));
  VKATTN_RETURN_IF_ERROR(call.upload("v", tensors.v, bytes.v, &bindings.v));
  // Outputs are uploaded too: elements of the host array that the layout
  // skips over must come back unchanged.
  VKATTN_RETURN_IF_ERROR(call.upload("out", tensors.out, bytes.out, &bindings.out));
  if (p.has_additive_mask) {
    VKATTN_RETURN_IF_ERROR(
        call.upload("additive_mask", tensors.additive_mask, bytes.additive_mask, &bindings.additive_mask));
  } else if (tensors.additive_mask != nullptr) {
    return vkattn::invalid_argument("vkattn_host_tensors.additive_mask is set but desc.has_additive_mask is 0");
  }
  if (p.has_bool_mask) {
    VKATTN_RETURN_IF_ERROR(call.upload("bool_mask", tensors.bool_mask, bytes.bool_mask, &bindings.bool_mask));
  } else if (tensors.bool_mask != nullptr) {
    return vkattn::invalid_argument("vkattn_host_tensors.bool_mask is set but desc.has_bool_mask is 0");
  }
  if (p.has_lse) {
    VKATTN_RETURN_IF_ERROR(call.upload("lse", tensors.lse, bytes.lse, &bindings.lse));
  } else if (tensors.lse != nullptr) {
    return vkattn::invalid_argument("vkattn_host_tensors.lse is set but desc.has_lse is 0");
  }
  bindings.kv_lens = tensors.kv_lens;
  bindings.q_lens = tensors.q_lens;
  bindings.cu_seqlens_q = tensors.cu_seqlens_q;
  bindings.block_table = tensors.block_table;

  vkattn::ExecArgs args;
  VKATTN_RETURN_IF_ERROR(vkattn::check_bindings(plan, bindings, &args));
  VKATTN_RETURN_IF_ERROR(plan.impl->execute(args));
  VKATTN_RETURN_IF_ERROR(args.out->read(0, tensors.out, bytes.out));
  if (p.has_lse) VKATTN_RETURN_IF_ERROR(args.lse->read(0, tensors.lse, bytes.lse));
  return Status();
}

}  // namespace
