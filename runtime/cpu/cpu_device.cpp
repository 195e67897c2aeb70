// The CPU backend's Device: buffers are host memory, plans wrap a kernel
// (the exact AttentionKernel, the LinearKernel or the LinformerKernel, by
// the problem's mode), work runs on a pthreadpool owned by the context.
#include <cpuinfo.h>
#include <pthreadpool.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>

#include "append_kernel.h"
#include "attention_kernel.h"
#include "linear_kernel.h"
#include "linformer_kernel.h"
#include "runtime/append.h"
#include "runtime/backend.h"
#include "runtime/checked_math.h"
#include "xnn_gemm.h"

namespace vkattn {

namespace {

// Buffers from this size up are 2 MiB aligned and asked to be backed by
// transparent huge pages: a decode streams K/V far beyond what 4 KiB pages'
// TLB entries cover, and the hardware prefetchers stop at every page
// boundary (measured here, decode Sq=1 over 128 MiB of f16 K/V, 2 threads,
// alternating runs: 30.3 GB/s with 4 KiB pages, 33.5 GB/s with huge pages).
constexpr uint64_t kHugePageBytes = 2 * 1024 * 1024;

void* allocate_host_memory(uint64_t padded) {
  if (padded < kHugePageBytes) return std::aligned_alloc(64, (padded + 63) / 64 * 64);
  const uint64_t rounded = (padded + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  void* memory = std::aligned_alloc(kHugePageBytes, rounded);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // Advice only: where THP is off or no huge page is free, 4 KiB pages serve.
  if (memory != nullptr) madvise(memory, rounded, MADV_HUGEPAGE);
#endif
  return memory;
}

class CpuBuffer final : public DeviceBuffer {
 public:
  // Allocation is padded so XNNPACK may over-read the last row safely.
  static Status create(uint64_t size, std::unique_ptr<DeviceBuffer>* out) {
    uint64_t padded = 0;
    if (!checked_add(size, static_cast<uint64_t>(cpu::xnn_read_overrun_bytes() + 63), &padded) ||
        padded > static_cast<uint64_t>(PTRDIFF_MAX)) {
      return out_of_host_memory("a buffer of %llu bytes cannot be allocated on this host", (unsigned long long)size);
    }
    void* memory = allocate_host_memory(padded);
    if (memory == nullptr) {
      return out_of_host_memory("could not allocate %llu bytes of host memory for a buffer", (unsigned long long)size);
    }
    CpuBuffer* buffer = new (std::nothrow) CpuBuffer(static_cast<uint8_t*>(memory), size);
    if (buffer == nullptr) {
      std::free(memory);
      return out_of_host_memory("could not allocate a buffer object");
    }
    out->reset(buffer);
    return Status();
  }
  ~CpuBuffer() override { std::free(data_); }

  uint64_t size() const override { return size_; }
  bool host_visible() const override { return true; }
  Status write(uint64_t offset, const void* data, uint64_t size) override {
    std::memcpy(data_ + offset, data, size);
    return Status();
  }
  Status read(uint64_t offset, void* data, uint64_t size) override {
    std::memcpy(data, data_ + offset, size);
    return Status();
  }
  Status map(void** pointer) override {
    *pointer = data_;
    return Status();
  }
  Status unmap() override { return Status(); }
  Status settle() override { return Status(); }  // executions are synchronous
  uint8_t* data() const { return data_; }

 private:
  CpuBuffer(uint8_t* data, uint64_t size) : data_(data), size_(size) {}
  uint8_t* data_;
  uint64_t size_;
};

const uint8_t* bytes_of(DeviceBuffer* buffer) {
  return buffer != nullptr ? static_cast<CpuBuffer*>(buffer)->data() : nullptr;
}

class CpuPlan final : public DevicePlan {
 public:
  CpuPlan(pthreadpool_t pool, std::unique_ptr<cpu::Kernel> kernel)
      : pool_(pool), kernel_(std::move(kernel)) {}

  Status execute(const ExecArgs& args) override {
    // Every buffer of a plan's context is a CpuBuffer (checked by bindings).
    cpu::Tensors tensors;
    tensors.q = bytes_of(args.q);
    tensors.k = bytes_of(args.k);
    tensors.v = bytes_of(args.v);
    tensors.out = const_cast<uint8_t*>(bytes_of(args.out));
    tensors.additive_mask = reinterpret_cast<const float*>(bytes_of(args.additive_mask));
    tensors.bool_mask = bytes_of(args.bool_mask);
    tensors.lse = reinterpret_cast<float*>(const_cast<uint8_t*>(bytes_of(args.lse)));
    tensors.kv_lens = args.kv_lens.empty() ? nullptr : args.kv_lens.data();
    tensors.block_table = args.block_table.empty() ? nullptr : args.block_table.data();
    tensors.q_lens = args.q_lens.empty() ? nullptr : args.q_lens.data();
    tensors.q_starts = args.q_starts.empty() ? nullptr : args.q_starts.data();
    const auto start = std::chrono::steady_clock::now();
    const Status status = kernel_->run(pool_, tensors);
    last_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return status;
  }

  Status last_time(double* ms) override {
    if (last_ms_ < 0) return failed_precondition("the plan has not been executed yet");
    *ms = last_ms_;
    return Status();
  }
  Status settle() override { return Status(); }  // executions are synchronous

  PlanInfo info() const override { return kernel_->info(); }

 private:
  pthreadpool_t pool_;
  std::unique_ptr<cpu::Kernel> kernel_;
  double last_ms_ = -1.0;
};

class CpuAppendPlan final : public DeviceAppendPlan {
 public:
  CpuAppendPlan(pthreadpool_t pool, const AppendProblem& problem) : pool_(pool), problem_(problem) {}

  Status execute(const AppendArgs& args) override {
    cpu::AppendTensors tensors;
    tensors.k_src = bytes_of(args.k_src);
    tensors.v_src = bytes_of(args.v_src);
    tensors.k_cache = const_cast<uint8_t*>(bytes_of(args.k_cache));
    tensors.v_cache = const_cast<uint8_t*>(bytes_of(args.v_cache));
    tensors.positions = args.positions.data();
    tensors.block_table = args.block_table.empty() ? nullptr : args.block_table.data();
    const auto start = std::chrono::steady_clock::now();
    cpu::run_append(pool_, problem_, tensors);
    last_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return Status();
  }

  Status last_time(double* ms) override {
    if (last_ms_ < 0) return failed_precondition("the plan has not been executed yet");
    *ms = last_ms_;
    return Status();
  }
  Status settle() override { return Status(); }

  PlanInfo info() const override {
    PlanInfo info;
    info.kernel = "cpu.append";
    info.tasks = static_cast<uint32_t>(
        std::min<int64_t>(problem_.batch * problem_.kv_heads * problem_.new_tokens, UINT32_MAX));
    return info;
  }

 private:
  pthreadpool_t pool_;
  AppendProblem problem_;
  double last_ms_ = -1.0;
};

class CpuDevice final : public Device {
 public:
  explicit CpuDevice(pthreadpool_t pool) : pool_(pool) {
    vkattn_device_info_init(&info_);
    describe_cpu_device(static_cast<int32_t>(pthreadpool_get_threads_count(pool)), &info_);
  }
  ~CpuDevice() override { pthreadpool_destroy(pool_); }

  const vkattn_device_info& info() const override { return info_; }
  Status create_buffer(uint64_t size, uint32_t /*flags: all CPU memory is host-visible*/,
                       std::unique_ptr<DeviceBuffer>* out) override {
    return CpuBuffer::create(size, out);
  }
  // The CPU backend has one configuration per problem: VKATTN_PLAN_TUNE has nothing to choose from.
  Status create_plan(const Problem& problem, uint32_t /*flags*/, std::unique_ptr<DevicePlan>* out) override {
    std::unique_ptr<cpu::Kernel> kernel;
    const int threads = static_cast<int>(info_.compute_units);
    if (problem.linear()) {
      VKATTN_RETURN_IF_ERROR(cpu::LinearKernel::create(problem, threads, &kernel));
    } else if (problem.linformer()) {
      VKATTN_RETURN_IF_ERROR(cpu::LinformerKernel::create(problem, threads, &kernel));
    } else {
      VKATTN_RETURN_IF_ERROR(cpu::AttentionKernel::create(problem, threads, &kernel));
    }
    out->reset(new CpuPlan(pool_, std::move(kernel)));
    return Status();
  }
  Status create_append_plan(const AppendProblem& problem, std::unique_ptr<DeviceAppendPlan>* out) override {
    out->reset(new CpuAppendPlan(pool_, problem));
    return Status();
  }
  // Executions run in the calling thread's submit: every ticket is complete
  // when submit returns.
  Status submit(const std::vector<Work>& work, const vkattn_vulkan_sync* sync, uint64_t* ticket) override {
    if (sync != nullptr) return unsupported("semaphores need a Vulkan context; this one is on the CPU backend");
    for (const Work& item : work) {
      VKATTN_RETURN_IF_ERROR(item.plan != nullptr ? item.plan->execute(*item.args)
                                                  : item.append_plan->execute(*item.append_args));
    }
    *ticket = ++last_ticket_;
    return Status();
  }
  uint64_t last_ticket() const override { return last_ticket_; }
  Status wait(uint64_t /*ticket*/) override { return Status(); }
  Status poll(uint64_t /*ticket*/, bool* complete) override {
    *complete = true;
    return Status();
  }
  Status finish() override { return Status(); }
  Status drain() override { return Status(); }

  Status import_vulkan_buffer(const vkattn_vulkan_buffer&, std::unique_ptr<DeviceBuffer>*) override {
    return not_vulkan();
  }
  Status import_android_hardware_buffer(AHardwareBuffer*, std::unique_ptr<DeviceBuffer>*) override {
    return not_vulkan();
  }
  Status describe_vulkan_buffer(DeviceBuffer&, vkattn_vulkan_buffer*) override { return not_vulkan(); }
  Status describe_vulkan_device(vkattn_vulkan_device*) override { return not_vulkan(); }
  Status record_vulkan(const std::vector<Work>&, const vkattn_vulkan_recording&) override { return not_vulkan(); }

 private:
  static Status not_vulkan() { return unsupported("the context is on the CPU backend, which has no Vulkan objects"); }

  pthreadpool_t pool_;
  vkattn_device_info info_;
  uint64_t last_ticket_ = 0;
};

uint32_t available_cores() {
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  const unsigned hardware = std::thread::hardware_concurrency();
  return static_cast<uint32_t>(std::max<long>(1, online > 0 ? online : static_cast<long>(hardware)));
}

}  // namespace

// The instruction set this build targets, for naming a CPU cpuinfo cannot.
#if defined(__aarch64__)
constexpr const char* kArchitectureName = "arm64";
#elif defined(__arm__)
constexpr const char* kArchitectureName = "arm";
#elif defined(__x86_64__)
constexpr const char* kArchitectureName = "x86-64";
#elif defined(__i386__)
constexpr const char* kArchitectureName = "x86";
#elif defined(__riscv)
constexpr const char* kArchitectureName = "riscv";
#else
constexpr const char* kArchitectureName = "unknown-architecture";
#endif

void describe_cpu_device(int32_t threads, vkattn_device_info* info) {
  info->backend = VKATTN_BACKEND_CPU;
  info->index = 0;
  info->type = VKATTN_DEVICE_TYPE_CPU;
  const char* model = nullptr;
  uint32_t simd_floats = 4;
  if (cpuinfo_initialize()) {
    if (cpuinfo_get_packages_count() > 0) model = cpuinfo_get_package(0)->name;
#if defined(__x86_64__) || defined(__i386__)
    simd_floats = cpuinfo_has_x86_avx512f() ? 16 : (cpuinfo_has_x86_avx2() ? 8 : 4);
#endif
  }
  // cpuinfo names packages it cannot identify (an SoC it has no table for,
  // a CPU under emulation) "Unknown": say what is known instead.
  const bool named = model != nullptr && model[0] != '\0' && std::strncmp(model, "Unknown", 7) != 0;
  if (named) {
    std::snprintf(info->name, sizeof(info->name), "%s", model);
  } else {
    std::snprintf(info->name, sizeof(info->name), "%s CPU (model not identified)", kArchitectureName);
  }
  std::snprintf(info->driver, sizeof(info->driver), "XNNPACK + pthreadpool");
  info->compute_units = threads > 0 ? static_cast<uint32_t>(threads) : available_cores();
  info->subgroup_size = simd_floats;
  info->storage_16bit = 1;
  info->unified_memory = 1;
  info->max_binding_bytes = static_cast<uint64_t>(PTRDIFF_MAX);
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  info->memory_bytes = pages > 0 && page_size > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size) : 0;
  info->usable = 1;
}

Status create_cpu_device(const vkattn_context_options& options, const Logger& /*log*/,
                         std::unique_ptr<Device>* out) {
  VKATTN_RETURN_IF_ERROR(cpu::initialize_xnnpack());
  const size_t threads = options.cpu_threads > 0 ? static_cast<size_t>(options.cpu_threads) : available_cores();
  pthreadpool_t pool = pthreadpool_create(threads);
  if (pool == nullptr) return out_of_host_memory("could not create a pool of %zu CPU threads", threads);
  CpuDevice* device = new (std::nothrow) CpuDevice(pool);
  if (device == nullptr) {
    pthreadpool_destroy(pool);
    return out_of_host_memory("could not allocate the CPU device");
  }
  out->reset(device);
  return Status();
}

}  // namespace vkattn
