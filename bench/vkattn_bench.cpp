// vkattn-bench: a fixed suite of attention problems on every backend and
// device, each reported beside what the machine allows (FMA rate and memory
// bandwidth probed in the same run) and beside the straightforward
// materialised baseline (XNNPACK GEMMs + a softmax pass) on the same threads.
//
//   vkattn-bench [--backend all|cpu|vulkan] [--filter TEXT[,TEXT...]] [--json FILE]
//                [--plot FILE.svg] [--case-seconds S] [--threads N] [--quiet]
//
// --plot draws the run as a roofline per backend and device (roofline.h).
// On a terminal it shows its progress on stderr (step i of n, elapsed,
// estimate) unless --quiet.
// Times are medians and minima over repeated runs after a warm-up; on Vulkan
// they are GPU timestamps (dispatches only). A case whose single run would
// take longer than --case-seconds on a device is reported as skipped with
// that estimate, never silently left out.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "baseline.h"
#include "conformance.h"
#include "cpu_probes.h"
#include "f16.h"
#include "quant_blocks.h"
#include "json.h"
#include "progress.h"
#include "reference.h"
#include "roofline.h"
#include "shader_stats.h"
#include "args.h"
#include "suite.h"
#include "runtime/status.h"
#if defined(VKATTN_WITH_VULKAN)
#include "overhead.h"
#include "runtime/vulkan/probes.h"
#endif
#include "tolerance.h"
#include "vkattn.h"

using vkattn_bench::BenchCase;
using vkattn_test::CaseSpec;
using vkattn_test::HostInputs;

namespace {

using Clock = std::chrono::steady_clock;

struct Target {
  std::string label;   // "cpu", "vulkan:0"
  vkattn_backend backend;
  int32_t device;
  std::string name;
  double peak_gflops = 0.0;
  double peak_gbytes = 0.0;   // the highest read bandwidth probed so far in this run
  double best_gflops = 0.0;  // fastest seen so far: predicts the next case's time
  std::vector<double> bandwidth_probes;  // CPU: at the start, then before each decode case
  std::string peak_note;  // why the peaks are missing (a failed probe), or empty
};

struct Result {
  std::string case_name, target, kernel, why_not;
  bool ran = false;
  int runs = 0;
  double median_ms = 0, min_ms = 0, first_ms = 0;
  double gflops = 0, gbytes = 0, fraction_peak = 0, fraction_bandwidth = 0;
  double baseline_ms = 0, speedup = 0, max_error = 0, tolerance = 0;
  double flops_per_byte = 0;  // counted FLOPs over the least bytes moved (roofline.h)
  bool baseline_ran = false;
  std::string baseline_why;
  uint64_t extra_bytes = 0;
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// The baseline's view of a case: contiguous K/V, and Q already turned by
// RoPE (as a tutorial applies rope(q) before attention; not timed).
vkattn_test::HostInputs baseline_inputs(const vkattn_test::HostInputs& in) {
  vkattn_test::HostInputs out = in.desc.page_size > 0 ? vkattn_test::unpage_kv(in) : in;
  vkattn_attention_desc& d = out.desc;
  if (d.rope.style == VKATTN_ROPE_NONE) return out;
  std::vector<double> row(static_cast<size_t>(d.qk_dim));
  for (int64_t b = 0; b < d.batch; ++b) {
    for (int64_t h = 0; h < d.q_heads; ++h) {
      for (int64_t i = 0; i < d.q_len; ++i) {
        float* q = &out.q[d.q_layout.offset + b * d.q_layout.batch_stride + h * d.q_layout.head_stride +
                          i * d.q_layout.seq_stride];
        std::copy(q, q + d.qk_dim, row.begin());
        const int64_t L = d.has_kv_lens ? out.kv_lens[static_cast<size_t>(b)] : d.kv_len;
        vkattn_test::rotate_rope(d.rope, d.qk_dim, L - d.q_len + i, row.data());
        for (int64_t c = 0; c < d.qk_dim; ++c) q[c] = static_cast<float>(row[static_cast<size_t>(c)]);
      }
    }
  }
  d.rope = vkattn_rope{};
  return out;
}

bool check(vkattn_status status, const char* what, std::string* why) {
  if (status == VKATTN_SUCCESS) return true;
  *why = std::string(what) + ": " + vkattn_status_string(status) + ": " + vkattn_last_error();
  return false;
}

// Largest error on sampled rows, relative to their output scale.
double sampled_error(const HostInputs& in, const std::vector<uint8_t>& out_bytes, double* tolerance) {
  const vkattn_attention_desc& d = in.desc;
  std::vector<double> want;
  double lse = 0, scale = 0, error = 0;
  const int64_t heads[] = {0, d.q_heads - 1};
  for (int64_t h : heads) {
    for (int64_t i = 0; i < d.q_len; i += std::max<int64_t>(1, d.q_len / 6)) {
      vkattn_test::reference_row(in, 0, h, i, &want, &lse);
      for (int64_t c = 0; c < d.v_dim; ++c) {
        const size_t index = static_cast<size_t>((h * d.q_len + i) * d.v_dim + c);
        double got;
        if (d.dtype == VKATTN_DTYPE_F16) {
          uint16_t half;
          std::memcpy(&half, &out_bytes[2 * index], 2);
          got = vkattn_test::decode_f16(half);
        } else {
          float f;
          std::memcpy(&f, &out_bytes[4 * index], 4);
          got = f;
        }
        scale = std::max(scale, std::fabs(want[c]));
        error = std::max(error, std::isnan(got) ? INFINITY : std::fabs(got - want[c]));
      }
    }
  }
  *tolerance = vkattn_test::dtype_tolerance(d.dtype) * 10;  // sampled sanity check, not the conformance bound
  return scale > 0 ? error / scale : error;
}

// A context on one target. (Cases compared alternately share one: each
// CPU context has its own worker threads, which spin for a while after a
// run and would take the cores from the other context's run.)
class TargetContext {
 public:
  TargetContext() = default;
  TargetContext(const TargetContext&) = delete;
  TargetContext& operator=(const TargetContext&) = delete;
  ~TargetContext() { vkattn_context_destroy(context_); }

  bool create(const Target& target, int threads, std::string* why) {
    vkattn_context_options options;
    vkattn_context_options_init(&options);
    options.backend = target.backend;
    options.device_index = target.device;
    options.cpu_threads = threads;
    return check(vkattn_context_create(&options, &context_), "context", why);
  }
  vkattn_context get() const { return context_; }

 private:
  vkattn_context context_ = nullptr;
};

// One case set up in a context, ready to run again and again: its plan,
// buffers (Q, K and V uploaded) and bindings. (Destroyed before the context.)
class TimedPlan {
 public:
  TimedPlan() = default;
  TimedPlan(const TimedPlan&) = delete;
  TimedPlan& operator=(const TimedPlan&) = delete;
  ~TimedPlan() {
    for (vkattn_buffer b : buffers_) vkattn_buffer_destroy(b);
    vkattn_plan_destroy(plan_);
  }

  bool prepare(const HostInputs& in, vkattn_context context, std::string* why) {
    context_ = context;
    if (!check(vkattn_plan_create(context_, &in.desc, 0, &plan_), "plan", why)) return false;
    vkattn_plan_info info;
    vkattn_plan_info_init(&info);
    vkattn_plan_get_info(plan_, &info);
    kernel_ = info.kernel;
    workspace_bytes_ = info.workspace_bytes;
    const size_t element = in.desc.dtype == VKATTN_DTYPE_F16 ? 2 : 4;
    out_bytes_ = static_cast<size_t>(in.desc.q_heads * in.desc.q_len * in.desc.v_dim) * element;
    vkattn_bindings_init(&bindings_);
    // K and V as stored: float like Q, or the q8_0 / q4_0 blocks.
    const std::vector<uint8_t> q = vkattn_test::encode_tensor(in.q, in.desc.dtype);
    const std::vector<uint8_t> k = vkattn_test::is_block_type(in.desc.k_dtype)
                                       ? in.k_blocks
                                       : vkattn_test::encode_tensor(in.k, in.desc.dtype);
    const std::vector<uint8_t> v = vkattn_test::is_block_type(in.desc.v_dtype)
                                       ? in.v_blocks
                                       : vkattn_test::encode_tensor(in.v, in.desc.dtype);
    if (in.desc.has_kv_lens) bindings_.kv_lens = in.kv_lens.data();
    if (in.desc.page_size > 0) bindings_.block_table = in.block_table.data();
    return upload(q, why, &bindings_.q) && upload(k, why, &bindings_.k) && upload(v, why, &bindings_.v) &&
           upload(std::vector<uint8_t>(out_bytes_), why, &bindings_.out);
  }

  // One execution's time: the GPU timestamps where the plan has them, else
  // the host's clock around execute and finish.
  bool run_once(double* ms, std::string* why) {
    const auto start = Clock::now();
    if (!check(vkattn_plan_execute(plan_, &bindings_), "execute", why) ||
        !check(vkattn_context_finish(context_), "finish", why)) {
      return false;
    }
    *ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    double device_ms = 0;
    if (vkattn_plan_get_last_time(plan_, &device_ms) == VKATTN_SUCCESS) *ms = device_ms;
    return true;
  }

  bool read_output(std::vector<uint8_t>* out, std::string* why) const {
    out->resize(out_bytes_);
    return check(vkattn_buffer_read(bindings_.out, 0, out->data(), out->size()), "read", why);
  }

  const std::string& kernel() const { return kernel_; }
  uint64_t workspace_bytes() const { return workspace_bytes_; }

 private:
  bool upload(const std::vector<uint8_t>& bytes, std::string* why, vkattn_buffer* out) {
    if (!check(vkattn_buffer_create(context_, bytes.size(), 0, out), "buffer", why)) return false;
    buffers_.push_back(*out);
    return check(vkattn_buffer_write(*out, 0, bytes.data(), bytes.size()), "upload", why);
  }

  vkattn_context context_ = nullptr;
  vkattn_plan plan_ = nullptr;
  std::vector<vkattn_buffer> buffers_;
  vkattn_bindings bindings_{};
  std::string kernel_;
  uint64_t workspace_bytes_ = 0;
  size_t out_bytes_ = 0;
};

Result measure(const BenchCase& bc, const HostInputs& in, double flops, uint64_t kv_bytes, Target& target,
               int threads, double case_seconds) {
  Result r;
  r.case_name = bc.name;
  r.target = target.label;
  if (target.best_gflops > 0 && flops / (target.best_gflops * 1e9) > case_seconds) {
    char why[128];
    std::snprintf(why, sizeof(why), "skipped: one run would take ~%.0f s here (budget %.0f s)",
                  flops / (target.best_gflops * 1e9), case_seconds);
    r.why_not = why;
    return r;
  }
  TargetContext context;
  if (!context.create(target, threads, &r.why_not)) return r;
  TimedPlan plan;
  if (!plan.prepare(in, context.get(), &r.why_not)) return r;
  r.kernel = plan.kernel();
  r.extra_bytes = plan.workspace_bytes();
  // Warm-up (first execution), then as many runs as fit about two seconds.
  if (!plan.run_once(&r.first_ms, &r.why_not)) return r;
  // A slow first run may be a one-off (a driver compiling lazily, a page
  // cache warming): one more run decides whether the case fits the budget.
  if (r.first_ms > case_seconds * 1000 && !plan.run_once(&r.first_ms, &r.why_not)) return r;
  const int runs = r.first_ms > case_seconds * 1000 ? 0 : std::clamp(static_cast<int>(2000 / r.first_ms), 3, 15);
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    double ms = 0;
    if (!plan.run_once(&ms, &r.why_not)) return r;
    times.push_back(ms);
  }
  if (times.empty()) times.push_back(r.first_ms);
  r.runs = static_cast<int>(times.size());
  r.median_ms = median(times);
  r.min_ms = *std::min_element(times.begin(), times.end());
  std::vector<uint8_t> out;
  if (plan.read_output(&out, &r.why_not)) r.max_error = sampled_error(in, out, &r.tolerance);
  r.ran = true;
  r.gflops = flops / (r.median_ms * 1e-3) / 1e9;
  r.fraction_peak = target.peak_gflops > 0 ? r.gflops / target.peak_gflops : 0;
  if (bc.decode) {
    r.gbytes = kv_bytes / (r.median_ms * 1e-3) / 1e9;
    r.fraction_bandwidth = target.peak_gbytes > 0 ? r.gbytes / target.peak_gbytes : 0;
  }
  target.best_gflops = std::max(target.best_gflops, r.gflops);
  return r;
}

// A case's time against another's, the two run alternately on one target
// (a run of each per round, rounds until about `seconds` have passed, 5 to
// 401 of them): the median of the rounds' ratios. Drift of a shared
// machine (its memory bandwidth can halve for minutes) moves both runs of
// a round alike, where two medians measured minutes apart would carry it.
struct Comparison {
  std::string case_name, compare_to, target, why_not;
  bool ran = false;
  int rounds = 0;
  double ratio = 0, low = 0, high = 0;  // median, and the middle half's ends
};

Comparison compare_alternating(const BenchCase& bc, const HostInputs& in, const BenchCase& other,
                               const HostInputs& other_in, const Target& target, int threads, double seconds) {
  Comparison c;
  c.case_name = bc.name;
  c.compare_to = other.name;
  c.target = target.label;
  TargetContext context;
  if (!context.create(target, threads, &c.why_not)) return c;
  TimedPlan plan, other_plan;
  if (!plan.prepare(in, context.get(), &c.why_not) || !other_plan.prepare(other_in, context.get(), &c.why_not)) {
    return c;
  }
  double ms = 0, other_ms = 0;
  if (!plan.run_once(&ms, &c.why_not) || !other_plan.run_once(&other_ms, &c.why_not)) return c;  // warm-up
  std::vector<double> ratios;
  const auto start = Clock::now();
  while (ratios.size() < 401 &&
         (ratios.size() < 5 || std::chrono::duration<double>(Clock::now() - start).count() < seconds)) {
    if (!plan.run_once(&ms, &c.why_not) || !other_plan.run_once(&other_ms, &c.why_not)) return c;
    ratios.push_back(ms / other_ms);
  }
  std::sort(ratios.begin(), ratios.end());
  c.ran = true;
  c.rounds = static_cast<int>(ratios.size());
  c.ratio = ratios[ratios.size() / 2];
  c.low = ratios[ratios.size() / 4];
  c.high = ratios[ratios.size() * 3 / 4];
  return c;
}

int usage() {
  std::fprintf(stderr,
               "usage: vkattn-bench [--backend all|cpu|vulkan] [--filter TEXT[,TEXT...]] [--json FILE] "
               "[--plot FILE.svg]\n"
               "                    [--case-seconds S] [--threads N] [--quiet]\n"
               "       vkattn-bench --shader-stats [--device N] [--filter TEXT[,TEXT...]] [--json FILE] [--ir DIR]\n"
               "--filter: the cases whose names contain any of the comma-separated texts.\n"
               "--plot: after the run, an SVG roofline per backend and device: the FMA peak and read bandwidth\n"
               "        measured in the run as roofs, each case as a point (GFLOP/s against FLOP per byte).\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string backend = "all", filter, json_path, ir_dir, plot_path;
  double case_seconds = 8.0;  // keeps the whole suite under 10 minutes on a 2-core machine with lavapipe
  int threads = 0;
  int device = -1;
  bool shader_stats = false, quiet = false;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    const char* value = a + 1 < argc ? argv[a + 1] : nullptr;
    if (arg == "--shader-stats") shader_stats = true;
    else if (arg == "--quiet") quiet = true;
    else if (arg == "--device" && value) device = std::atoi(argv[++a]);
    else if (arg == "--ir" && value) ir_dir = argv[++a];
    else if (arg == "--backend" && value) backend = argv[++a];
    else if (arg == "--filter" && value) filter = argv[++a];
    else if (arg == "--json" && value) json_path = argv[++a];
    else if (arg == "--plot" && value) plot_path = argv[++a];
    else if (arg == "--case-seconds" && value) case_seconds = std::atof(argv[++a]);
    else if (arg == "--threads" && value) threads = std::atoi(argv[++a]);
    else return usage();
  }
  if ((backend != "all" && backend != "cpu" && backend != "vulkan") || case_seconds <= 0 || threads < 0) return usage();
  if (shader_stats && !plot_path.empty()) return usage();  // a plot needs timings
  {
    std::vector<std::string> names;
    for (const vkattn_bench::BenchCase& bc : vkattn_bench::suite()) names.push_back(bc.name);
#if defined(VKATTN_WITH_VULKAN)
    if (!shader_stats) {
      for (const std::string& name : vkattn_bench::overhead_cases()) names.push_back(name);
    }
#endif
    const std::string unmatched = vkattn_samples::unmatched_filter_part(filter, names);
    if (!unmatched.empty()) {
      std::fprintf(stderr, "vkattn-bench: --filter: no case name contains '%s'\n", unmatched.c_str());
      return usage();
    }
  }
  if (shader_stats) return vkattn_bench::run_shader_stats(device, filter, json_path, ir_dir);
  if (device != -1 || !ir_dir.empty()) return usage();  // shader-report options
  const auto bench_start = Clock::now();

  // The machine's limits, measured now.
  std::vector<Target> targets;
  uint32_t count = 0;
  vkattn_enumerate_devices(nullptr, 0, &count);
  std::vector<vkattn_device_info> devices(count);
  for (auto& d : devices) vkattn_device_info_init(&d);
  vkattn_enumerate_devices(devices.data(), count, &count);
  const int cpu_threads = threads > 0 ? threads : static_cast<int>(devices[0].compute_units);
  if (backend != "vulkan") {
    const vkattn_bench::CpuPeaks peaks = vkattn_bench::measure_cpu_peaks(cpu_threads);
    Target cpu{"cpu", VKATTN_BACKEND_CPU, -1, devices[0].name, peaks.fma_gflops, peaks.read_gbytes_per_s};
    cpu.bandwidth_probes.push_back(peaks.read_gbytes_per_s);
    std::printf("cpu       %s, %d threads: FMA peak %.1f GFLOP/s (%s), read bandwidth %.1f GB/s\n", cpu.name.c_str(),
                cpu_threads, peaks.fma_gflops, peaks.isa, peaks.read_gbytes_per_s);
    targets.push_back(cpu);
  }
  if (backend != "cpu") {
    for (const auto& d : devices) {
      if (d.backend != VKATTN_BACKEND_VULKAN || !d.usable) continue;
#if defined(VKATTN_WITH_VULKAN)
      vkattn::vk::DevicePeaks peaks;
      const vkattn::Status status = vkattn::vk::measure_device_peaks(static_cast<int32_t>(d.index), &peaks);
#else
      struct {
        double fma_gflops = 0, read_gbytes_per_s = 0;
      } peaks;
      const vkattn::Status status = vkattn::unsupported("this build has no Vulkan probes");
#endif
      Target t{"vulkan:" + std::to_string(d.index), VKATTN_BACKEND_VULKAN, static_cast<int32_t>(d.index), d.name,
               peaks.fma_gflops, peaks.read_gbytes_per_s};
      if (!status.ok()) t.peak_note = "probe failed: " + status.message();
      std::printf("%-9s %s: FMA peak %.1f GFLOP/s, read bandwidth %.1f GB/s%s%s\n", t.label.c_str(), d.name,
                  peaks.fma_gflops, peaks.read_gbytes_per_s, status.ok() ? "" : "  (probe failed: ",
                  status.ok() ? "" : (status.message() + ")").c_str());
      targets.push_back(t);
    }
  }

  std::vector<Result> results;
  std::printf("\n%-34s %-9s %10s %10s %9s %6s %7s %5s %11s %8s %9s %8s\n", "case", "backend", "median ms", "min ms",
              "GFLOP/s", "%peak", "GB/s", "%bw", "baseline ms", "speedup", "extra MiB", "error");
  // Progress on a terminal (stderr): one step per case and backend.
  vkattn_samples::Progress progress(!quiet);
  size_t steps = 0, step = 0;
  for (const BenchCase& bc : vkattn_bench::suite()) {
    if (vkattn_samples::filter_matches(filter, bc.name)) steps += targets.size();
  }
  progress.start("vkattn-bench", steps);
  for (const BenchCase& bc : vkattn_bench::suite()) {
    if (!vkattn_samples::filter_matches(filter, bc.name)) continue;
    const HostInputs in = vkattn_test::make_inputs(bc.spec);
    // Linear attention, Linformer and top-k: their own algorithms' FLOPs,
    // not q_len x kv_len pairs.
    const double flops = bc.spec.mode == VKATTN_MODE_LINEAR      ? vkattn_test::linear_attention_flops(in)
                         : bc.spec.mode == VKATTN_MODE_LINFORMER ? vkattn_test::linformer_flops(in)
                         : bc.spec.mode == VKATTN_MODE_TOPK      ? vkattn_test::topk_flops(in)
                             : 2.0 * (bc.spec.qk_dim + bc.spec.v_dim) * double(vkattn_test::count_visible_pairs(in));
    const double flops_per_byte = flops / vkattn_bench::min_traffic_bytes(in);
    // Bytes of K and V as stored (q8_0: 34 per 32 values, q4_0: 18).
    const vkattn_dtype k_type = vkattn_test::is_block_type(bc.spec.k_dtype) ? bc.spec.k_dtype : bc.spec.dtype;
    const vkattn_dtype v_type = vkattn_test::is_block_type(bc.spec.v_dtype) ? bc.spec.v_dtype : bc.spec.dtype;
    // Rows of K and V read: every key, or with a block mask (one batch, a
    // mask shared by the heads) the keys of the blocks some query sees.
    uint64_t rows = uint64_t(bc.spec.kv_heads) * bc.spec.kv_len;
    if (bc.spec.mode == VKATTN_MODE_BLOCK_SPARSE) {
      const int64_t k_blocks = (bc.spec.kv_len + bc.spec.block_k - 1) / bc.spec.block_k;
      std::vector<uint8_t> seen(static_cast<size_t>(k_blocks), 0);
      for (size_t e = 0; e < in.block_mask.size(); ++e) seen[e % static_cast<size_t>(k_blocks)] |= in.block_mask[e];
      uint64_t keys = 0;
      for (int64_t c = 0; c < k_blocks; ++c) {
        if (seen[static_cast<size_t>(c)] != 0) keys += std::min(bc.spec.block_k, bc.spec.kv_len - c * bc.spec.block_k);
      }
      rows = uint64_t(bc.spec.kv_heads) * keys;
    }
    // Top-k reads V only for the kept keys: at most k per query row.
    const uint64_t v_rows = bc.spec.mode == VKATTN_MODE_TOPK
                                ? std::min<uint64_t>(rows, uint64_t(bc.spec.q_heads) * bc.spec.q_len * bc.spec.topk)
                                : rows;
    const uint64_t kv_bytes =
        vkattn_test::values_bytes(k_type, rows * bc.spec.qk_dim) + vkattn_test::values_bytes(v_type, v_rows * bc.spec.v_dim);
    vkattn_bench::BaselineResult baseline;
    bool baseline_done = false;
    for (Target& target : targets) {
      progress.step(step++, bc.name + " on " + target.label);
      if (bc.decode && target.backend == VKATTN_BACKEND_CPU) {
        // %bw is judged against the best bandwidth probed up to now, this
        // probe included: never against a dip that would flatter the case.
        const double probe = vkattn_bench::measure_read_bandwidth(cpu_threads, size_t{256} << 20, 5);
        target.bandwidth_probes.push_back(probe);
        target.peak_gbytes = std::max(target.peak_gbytes, probe);
      }
      Result r = measure(bc, in, flops, kv_bytes, target, cpu_threads, case_seconds);
      r.flops_per_byte = flops_per_byte;
      if (r.ran && !baseline_done) {
        // The baseline once per case, on the CPU threads, same time budget.
        const double estimate_s = flops / 40e9;  // tutorials reach a few tens of GFLOP/s here
        // (The approximate modes have no naive baseline: their compare_to
        // is the exact kernel.)
        const bool approximate = bc.spec.mode != VKATTN_MODE_EXACT;
        baseline = estimate_s > case_seconds || approximate
                       ? vkattn_bench::BaselineResult{}
                       : vkattn_bench::run_baseline(baseline_inputs(in), cpu_threads, estimate_s > 2 ? 1 : 3);
        if (estimate_s > case_seconds) baseline.why_not = "skipped: over the time budget";
        if (approximate) baseline.why_not = "none: an approximate mode is compared with the exact kernel";
        baseline_done = true;
      }
      r.baseline_ran = baseline.ran;
      r.baseline_why = baseline.why_not;
      if (baseline.ran) {
        r.baseline_ms = baseline.median_ms;
        r.speedup = r.ran ? baseline.median_ms / r.median_ms : 0;
      }
      char gbytes[16] = "-", bw[16] = "-", base[24] = "-", speed[16] = "-";
      if (bc.decode && r.ran) {
        std::snprintf(gbytes, sizeof(gbytes), "%.1f", r.gbytes);
        std::snprintf(bw, sizeof(bw), "%.0f%%", 100 * r.fraction_bandwidth);
      }
      if (baseline.ran) {
        std::snprintf(base, sizeof(base), "%.2f", baseline.median_ms);
        if (r.ran) std::snprintf(speed, sizeof(speed), "%.1fx", r.speedup);
      } else if (baseline.why_not.rfind("out of memory", 0) == 0) {
        std::snprintf(base, sizeof(base), "OOM");
      }
      progress.clear();
      if (r.ran) {
        std::printf("%-34s %-9s %10.2f %10.2f %9.1f %5.0f%% %7s %5s %11s %8s %9.1f %8.1e%s\n", bc.name.c_str(),
                    r.target.c_str(), r.median_ms, r.min_ms, r.gflops, 100 * r.fraction_peak, gbytes, bw, base, speed,
                    r.extra_bytes / 1048576.0, r.max_error, r.max_error <= r.tolerance ? "" : "  WRONG");
      } else {
        std::printf("%-34s %-9s %s\n", bc.name.c_str(), r.target.c_str(), r.why_not.c_str());
      }
      std::fflush(stdout);
      results.push_back(r);
    }
  }
  const double total_s = std::chrono::duration<double>(Clock::now() - bench_start).count();
  std::printf("\nbaseline: the [B,H,Sq,Skv] score matrix materialised, XNNPACK GEMMs + softmax on %d CPU threads; "
              "OOM: score matrix over %.0f GiB.\n%%peak: GFLOP/s over the probed FMA peak; %%bw: K+V bytes/s over the "
              "probed read bandwidth. Vulkan times are GPU timestamps. Total %.0f s.\n",
              cpu_threads, vkattn_bench::kBaselineMemoryLimit / double(1 << 30), total_s);
  // Cases measured against another case of the same run (quantized KV
  // caches against f16, paged against contiguous): both run again,
  // alternately, on every target where both ran.
  std::vector<Comparison> comparisons;
  const std::vector<BenchCase> cases = vkattn_bench::suite();
  for (const BenchCase& bc : cases) {
    if (bc.compare_to.empty()) continue;
    const BenchCase* other = nullptr;
    for (const BenchCase& o : cases) {
      if (o.name == bc.compare_to) other = &o;
    }
    std::vector<const Target*> both_ran;
    for (const Target& target : targets) {
      bool both = other != nullptr;
      for (const std::string& name : {bc.name, bc.compare_to}) {
        bool ran = false;
        for (const Result& r : results) ran = ran || (r.case_name == name && r.target == target.label && r.ran);
        both = both && ran;
      }
      if (both) both_ran.push_back(&target);
    }
    if (both_ran.empty()) continue;
    // The inputs once for every target (at 32768 keys they take seconds).
    const HostInputs in = vkattn_test::make_inputs(bc.spec);
    const HostInputs other_in = vkattn_test::make_inputs(other->spec);
    for (const Target* target : both_ran) {
      if (comparisons.empty()) {
        std::printf("\ntime against another case of this run (the two run alternately; median of the rounds' "
                    "ratios, middle half in brackets):\n");
      }
      const Comparison c = compare_alternating(bc, in, *other, other_in, *target, cpu_threads, case_seconds);
      if (c.ran) {
        std::printf("  %-34s %-9s %.2fx [%.2f-%.2f] the time of %s (%d rounds)\n", c.case_name.c_str(),
                    c.target.c_str(), c.ratio, c.low, c.high, c.compare_to.c_str(), c.rounds);
      } else {
        std::printf("  %-34s %-9s not compared: %s\n", c.case_name.c_str(), c.target.c_str(), c.why_not.c_str());
      }
      std::fflush(stdout);
      comparisons.push_back(c);
    }
  }
  for (const Target& target : targets) {
    if (target.bandwidth_probes.size() < 2) continue;
    std::printf("%s read bandwidth probes (start, then before each decode case), GB/s:", target.label.c_str());
    for (double probe : target.bandwidth_probes) std::printf(" %.1f", probe);
    std::printf("; %%bw uses the highest probed before the case.\n");
  }
  if (backend != "vulkan") vkattn_bench::print_row_kernel_levels();
#if defined(VKATTN_WITH_VULKAN)
  // What each way of running a plan costs beyond the device's work.
  std::vector<vkattn_bench::OverheadRow> overhead;
  bool overhead_failed = false;
  for (const Target& target : targets) {
    if (target.backend != VKATTN_BACKEND_VULKAN) continue;
    const size_t first = overhead.size();
    overhead_failed |= !vkattn_bench::run_overhead(target.device, target.label, filter, std::min(case_seconds, 2.0),
                                                   &overhead);
    for (size_t r = first; r < overhead.size(); ++r) overhead[r].target = target.label;
  }
#endif

  bool wrong = false;
  for (const Result& r : results) wrong = wrong || (r.ran && !(r.max_error <= r.tolerance));
  if (!json_path.empty()) {
    FILE* f = std::fopen(json_path.c_str(), "w");
    if (f == nullptr) {
      std::fprintf(stderr, "vkattn-bench: cannot write %s\n", json_path.c_str());
      return 1;
    }
    std::fprintf(f, "{\"targets\": [");
    for (size_t t = 0; t < targets.size(); ++t) {
      std::fprintf(f, "%s{\"label\": \"%s\", \"device\": \"%s\", \"fma_peak_gflops\": %.2f, \"read_gbytes_per_s\": %.2f, "
                   "\"read_bandwidth_probes\": [",
                   t ? ", " : "", targets[t].label.c_str(), vkattn_samples::json_escape(targets[t].name).c_str(),
                   targets[t].peak_gflops, targets[t].peak_gbytes);
      for (size_t i = 0; i < targets[t].bandwidth_probes.size(); ++i) {
        std::fprintf(f, "%s%.2f", i ? ", " : "", targets[t].bandwidth_probes[i]);
      }
      std::fprintf(f, "]}");
    }
    std::fprintf(f, "],\n \"results\": [\n");
    for (size_t i = 0; i < results.size(); ++i) {
      const Result& r = results[i];
      std::fprintf(f,
                   "  {\"case\": \"%s\", \"target\": \"%s\", \"ran\": %s, \"why_not\": \"%s\", \"kernel\": \"%s\", "
                   "\"runs\": %d, \"median_ms\": %.4f, \"min_ms\": %.4f, \"first_ms\": %.4f, \"gflops\": %.3f, "
                   "\"fraction_of_peak\": %.4f, \"gbytes_per_s\": %.3f, \"fraction_of_bandwidth\": %.4f, "
                   "\"flops_per_byte\": %.4g, "
                   "\"baseline_ran\": %s, \"baseline_ms\": %.4f, \"baseline_note\": \"%s\", \"speedup\": %.3f, "
                   "\"extra_bytes\": %llu, \"max_error\": %.3g}%s\n",
                   r.case_name.c_str(), r.target.c_str(), r.ran ? "true" : "false",
                   vkattn_samples::json_escape(r.why_not).c_str(), r.kernel.c_str(), r.runs, r.median_ms, r.min_ms,
                   r.first_ms, r.gflops, r.fraction_peak, r.gbytes, r.fraction_bandwidth, r.flops_per_byte,
                   r.baseline_ran ? "true" : "false", r.baseline_ms, vkattn_samples::json_escape(r.baseline_why).c_str(),
                   r.speedup, (unsigned long long)r.extra_bytes, r.max_error, i + 1 < results.size() ? "," : "");
    }
    std::fprintf(f, "],\n \"overhead\": [");
#if defined(VKATTN_WITH_VULKAN)
    for (size_t i = 0; i < overhead.size(); ++i) {
      const vkattn_bench::OverheadRow& row = overhead[i];
      std::fprintf(f, "%s\n  {\"case\": \"%s\", \"target\": \"%s\", \"mode\": \"%s\", \"us_per_execution\": %.2f, "
                   "\"gpu_us\": %.2f}", i ? "," : "", row.case_name.c_str(), row.target.c_str(), row.mode.c_str(),
                   row.us_per_execution, row.gpu_us);
    }
#endif
    std::fprintf(f, "],\n \"comparisons\": [");
    for (size_t i = 0; i < comparisons.size(); ++i) {
      const Comparison& c = comparisons[i];
      std::fprintf(f, "%s\n  {\"case\": \"%s\", \"compare_to\": \"%s\", \"target\": \"%s\", \"ran\": %s, "
                   "\"why_not\": \"%s\", \"rounds\": %d, \"time_ratio\": %.4f, \"ratio_low\": %.4f, "
                   "\"ratio_high\": %.4f}",
                   i ? "," : "", c.case_name.c_str(), c.compare_to.c_str(), c.target.c_str(), c.ran ? "true" : "false",
                   vkattn_samples::json_escape(c.why_not).c_str(), c.rounds, c.ratio, c.low, c.high);
    }
    std::fprintf(f, "], \"total_seconds\": %.1f}\n", total_s);
    std::fclose(f);
  }
  if (!plot_path.empty()) {
    std::vector<vkattn_bench::RooflineTarget> roof_targets;
    for (const Target& t : targets) roof_targets.push_back({t.label, t.name, t.peak_gflops, t.peak_gbytes, t.peak_note});
    std::vector<vkattn_bench::RooflinePoint> points;
    for (const Result& r : results) {
      points.push_back({r.case_name, r.target, r.flops_per_byte, r.ran ? r.gflops : 0.0, r.ran ? "" : r.why_not,
                        r.ran && !(r.max_error <= r.tolerance)});
    }
    const std::string subtitle = (filter.empty() ? std::string("The whole suite") : "Cases: --filter " + filter) +
                                 "; " + std::to_string(cpu_threads) + " CPU threads; vkattn " +
                                 vkattn_version_string() + ".";
    std::string error;
    if (!vkattn_bench::write_roofline_svg(plot_path, "vkattn-bench roofline", subtitle, roof_targets, points, &error)) {
      std::fprintf(stderr, "vkattn-bench: %s\n", error.c_str());
      return 1;
    }
    std::printf("roofline: %s\n", plot_path.c_str());
  }
#if defined(VKATTN_WITH_VULKAN)
  if (overhead_failed) return 1;
#endif
  return wrong ? 1 : 0;
}
