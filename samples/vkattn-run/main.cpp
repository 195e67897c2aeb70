// vkattn-run: attention over NumPy .npy files, for scripts and quick checks.
//
//   vkattn-run --q Q.npy --k K.npy --v V.npy --out O.npy
//              [--mask M.npy] [--causal[=bottom-right|top-left]] [--window L,R]
//              [--scale S] [--kv-lens L.npy] [--q-lens L.npy] [--lse LSE.npy] [--dtype f32|f16]
//              [--cu-seqlens-q C.npy]   (packed queries: Q [T, Hq, D], O [T, Hq, Dv])
//              [--backend auto|cpu|vulkan] [--device N] [--threads N]
//              [... see kUsage]
//   vkattn-run --list-devices
//
// Errors print one message naming the problem on stderr and exit non-zero
// (2: bad command line, 1: bad input or failed run); no output file is left.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include "args.h"
#include "json.h"
#include "npy.h"
#include "reference.h"
#include "runtime/half.h"
#include "vkattn.h"

using vkattn_samples::ArgCursor;
using vkattn_samples::check;
using vkattn_samples::Failure;
using vkattn_samples::input_error;
using vkattn_samples::NpyArray;
using vkattn_samples::NpyType;
using vkattn_samples::parse_int;
using vkattn_samples::usage_error;

namespace {

const char kUsage[] =
    "usage: vkattn-run --q Q.npy --k K.npy --v V.npy --out O.npy\n"
    "                  [--mask M.npy] [--causal[=bottom-right|top-left]] [--window L,R]\n"
    "                  [--scale S] [--kv-lens L.npy] [--q-lens L.npy] [--lse LSE.npy] [--dtype f32|f16]\n"
    "                  [--cu-seqlens-q C.npy]  (packed queries: Q [T,Hq,D] -> O [T,Hq,Dv], LSE [T,Hq])\n"
    "                  [--backend auto|cpu|vulkan] [--device N] [--threads N]\n"
    "                  [--softcap C] [--alibi | --alibi-slopes S.npy] [--sinks S.npy]\n"
    "                  [--kv-dtype f32|f16|q8_0|q4_0] [--global-keys G] [--page-size P]\n"
    "                  [--rope neox|gptj [--rope-theta T] [--rope-dims R]]\n"
    "                  [--mode exact|linear|linformer|block-sparse|topk]\n"
    "                  [--feature-map elu|favor [--features W.npy | --features M --seed S]]  (linear)\n"
    "                  [--proj E.npy,F.npy]  (linformer: [P, Skv] each, or [Hkv, P, Skv] per kv head)\n"
    "                  [--block-mask M.npy --block-size BQ,BK]  (block-sparse: bool [[B|1,] [Hq|1,] Sq/BQ, Skv/BK])\n"
    "                  [--topk K]  (topk: the keys each query row keeps)\n"
    "                  [--repeat N] [--json] [--tune] [--tuning-cache FILE]\n"
    "       vkattn-run --list-devices\n";

struct Options {
  std::string q, k, v, out, mask, kv_lens, q_lens, lse;
  std::string cu_seqlens_q;   // packed queries: int [B + 1] row offsets into a [T, Hq, D] Q
  vkattn_causal causal = VKATTN_CAUSAL_NONE;
  int64_t window_left = -1, window_right = -1;
  int64_t global_keys = 0;
  int64_t page_size = 0;      // > 0: K and V laid into a shuffled page pool
  vkattn_rope rope{};         // RoPE: keys turned as they are appended to the cache, queries on the fly
  float scale = 0.0f;
  bool dtype_given = false;
  vkattn_dtype dtype = VKATTN_DTYPE_F32;
  bool kv_dtype_given = false;
  vkattn_dtype kv_dtype = VKATTN_DTYPE_F32;  // K and V storage; q8_0 / q4_0 quantized by vkattn
  vkattn_backend backend = VKATTN_BACKEND_AUTO;
  int32_t device = -1;
  int32_t threads = 0;
  int repeat = 1;
  bool json = false;
  bool list_devices = false;
  float softcap = 0.0f;
  bool alibi = false;         // the ALiBi paper's default slopes
  std::string alibi_slopes;   // or f32 [Hq] slopes from a file
  std::string sinks;          // f32 [Hq] sink logits
  bool tune = false;          // VKATTN_PLAN_TUNE
  std::string tuning_cache;   // vkattn_context_options.tuning_cache_path
  vkattn_attention_mode mode = VKATTN_MODE_EXACT;
  vkattn_feature_map feature_map = VKATTN_FEATURE_MAP_NONE;
  std::string features;       // FAVOR+ W: f32 [M, Dqk] from a file ...
  int64_t feature_count = 0;  // ... or M features drawn by vkattn_favor_features from --seed
  uint64_t seed = 0;
  bool seed_given = false;
  std::string proj_e, proj_f;  // Linformer's E and F (--proj E.npy,F.npy)
  std::string block_mask;      // block-sparse: the block mask (--block-mask M.npy)
  int64_t block_q = 0, block_k = 0;  // --block-size BQ,BK
  int64_t topk = 0;                  // --topk K
};

Options parse_args(int argc, char** argv) {
  Options o;
  bool have_q = false, have_k = false, have_v = false, have_out = false;
  ArgCursor args(argc, argv);
  while (args.next()) {
    const std::string& arg = args.name();
    const bool has_value = args.has_value();  // --name=value
    auto take = [&]() { return args.value(); };
    if (arg == "--q") { o.q = take(); have_q = true; }
    else if (arg == "--k") { o.k = take(); have_k = true; }
    else if (arg == "--v") { o.v = take(); have_v = true; }
    else if (arg == "--out") { o.out = take(); have_out = true; }
    else if (arg == "--mask") o.mask = take();
    else if (arg == "--kv-lens") o.kv_lens = take();
    else if (arg == "--q-lens") o.q_lens = take();
    else if (arg == "--cu-seqlens-q") o.cu_seqlens_q = take();
    else if (arg == "--lse") o.lse = take();
    else if (arg == "--causal") {
      o.causal = has_value ? vkattn_samples::parse_causal(take(), false) : VKATTN_CAUSAL_BOTTOM_RIGHT;
    } else if (arg == "--window") {
      vkattn_samples::parse_window(take(), &o.window_left, &o.window_right);
    } else if (arg == "--global-keys") {
      o.global_keys = args.int_value(0, INT64_MAX / 4, "an integer >= 0");
    } else if (arg == "--page-size") {
      o.page_size = args.int_value(1, 256, "an integer from 1 to 256");
    } else if (arg == "--rope") {
      const std::string text = take();
      if (text == "neox") o.rope.style = VKATTN_ROPE_NEOX;
      else if (text == "gptj") o.rope.style = VKATTN_ROPE_GPTJ;
      else throw usage_error("--rope must be neox or gptj, not '" + text + "'");
    } else if (arg == "--rope-theta") {
      o.rope.theta = args.float_value(true);
    } else if (arg == "--rope-dims") {
      const std::string text = take();
      if (!parse_int(text, 2, INT64_MAX / 4, &o.rope.dims) || o.rope.dims % 2 != 0) {
        throw usage_error("--rope-dims needs an even integer >= 2, not '" + text + "'");
      }
    } else if (arg == "--scale") {
      o.scale = args.float_value(false);
    } else if (arg == "--dtype") {
      const std::string text = take();
      if (text == "f32") o.dtype = VKATTN_DTYPE_F32;
      else if (text == "f16") o.dtype = VKATTN_DTYPE_F16;
      else throw usage_error("--dtype must be f32 or f16, not '" + text + "'");
      o.dtype_given = true;
    } else if (arg == "--kv-dtype") {
      const std::string text = take();
      if (text == "f32") o.kv_dtype = VKATTN_DTYPE_F32;
      else if (text == "f16") o.kv_dtype = VKATTN_DTYPE_F16;
      else if (text == "q8_0") o.kv_dtype = VKATTN_DTYPE_Q8_0;
      else if (text == "q4_0") o.kv_dtype = VKATTN_DTYPE_Q4_0;
      else throw usage_error("--kv-dtype must be f32, f16, q8_0 or q4_0, not '" + text + "'");
      o.kv_dtype_given = true;
    } else if (arg == "--backend") {
      o.backend = vkattn_samples::parse_backend(take());
    } else if (arg == "--device") {
      o.device = static_cast<int32_t>(args.int_value(0, 1 << 20, "an index >= 0"));
    } else if (arg == "--threads") {
      o.threads = static_cast<int32_t>(args.int_value(1, 4096, "a count from 1 to 4096"));
    } else if (arg == "--repeat") {
      o.repeat = static_cast<int>(args.int_value(1, 1000000, "a count from 1 to 1000000"));
    } else if (arg == "--json" && !has_value) {
      o.json = true;
    } else if (arg == "--softcap") {
      o.softcap = args.float_value(true);
    } else if (arg == "--alibi" && !has_value) {
      o.alibi = true;
    } else if (arg == "--alibi-slopes") {
      o.alibi_slopes = take();
    } else if (arg == "--sinks") {
      o.sinks = take();
    } else if (arg == "--mode") {
      const std::string text = take();
      if (text == "exact") o.mode = VKATTN_MODE_EXACT;
      else if (text == "linear") o.mode = VKATTN_MODE_LINEAR;
      else if (text == "linformer") o.mode = VKATTN_MODE_LINFORMER;
      else if (text == "block-sparse") o.mode = VKATTN_MODE_BLOCK_SPARSE;
      else if (text == "topk") o.mode = VKATTN_MODE_TOPK;
      else throw usage_error("--mode must be exact, linear, linformer, block-sparse or topk, not '" + text + "'");
    } else if (arg == "--block-mask") {
      o.block_mask = take();
      if (o.block_mask.empty()) throw usage_error("--block-mask needs a file name");
    } else if (arg == "--topk") {
      const std::string text = take();
      if (!vkattn_samples::parse_int(text, 1, VKATTN_MAX_TOPK, &o.topk)) {
        throw usage_error("--topk needs an integer from 1 to " + std::to_string(VKATTN_MAX_TOPK) + ", not '" + text + "'");
      }
    } else if (arg == "--block-size") {
      const std::string text = take();
      const size_t comma = text.find(',');
      auto block_size = [](const std::string& part, int64_t* out) {
        return vkattn_samples::parse_int(part, 16, 128, out) && (*out & (*out - 1)) == 0;
      };
      if (comma == std::string::npos || !block_size(text.substr(0, comma), &o.block_q) ||
          !block_size(text.substr(comma + 1), &o.block_k)) {
        throw usage_error("--block-size needs BQ,BK, each 16, 32, 64 or 128, not '" + text + "'");
      }
    } else if (arg == "--proj") {
      const std::string text = take();
      const size_t comma = text.find(',');
      if (comma == std::string::npos || comma == 0 || comma + 1 == text.size() ||
          text.find(',', comma + 1) != std::string::npos) {
        throw usage_error("--proj needs two files, E.npy,F.npy, not '" + text + "'");
      }
      o.proj_e = text.substr(0, comma);
      o.proj_f = text.substr(comma + 1);
    } else if (arg == "--feature-map") {
      const std::string text = take();
      if (text == "elu") o.feature_map = VKATTN_FEATURE_MAP_ELU;
      else if (text == "favor") o.feature_map = VKATTN_FEATURE_MAP_FAVOR;
      else throw usage_error("--feature-map must be elu or favor, not '" + text + "'");
    } else if (arg == "--features") {
      // A count of features to draw, or the file holding W.
      const std::string text = take();
      if (!parse_int(text, 1, VKATTN_MAX_FEATURES, &o.feature_count)) {
        if (text.empty() || (text[0] >= '0' && text[0] <= '9') || text[0] == '-') {
          throw usage_error("--features needs W.npy or a feature count from 1 to " + std::to_string(VKATTN_MAX_FEATURES) +
                            ", not '" + text + "'");
        }
        o.features = text;
      }
    } else if (arg == "--seed") {
      o.seed = static_cast<uint64_t>(args.int_value(0, INT64_MAX, "an integer >= 0"));
      o.seed_given = true;
    } else if (arg == "--tune" && !has_value) {
      o.tune = true;
    } else if (arg == "--tuning-cache") {
      o.tuning_cache = take();
      if (o.tuning_cache.empty()) throw usage_error("--tuning-cache needs a file name");
    } else if (arg == "--list-devices" && !has_value) {
      o.list_devices = true;
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else {
      throw usage_error("unknown argument '" + std::string(args.raw()) + "'");
    }
  }
  if (o.list_devices) return o;
  if (o.alibi && !o.alibi_slopes.empty()) throw usage_error("--alibi and --alibi-slopes exclude each other");
  if (o.mode != VKATTN_MODE_LINEAR && o.feature_map != VKATTN_FEATURE_MAP_NONE) {
    throw usage_error("--feature-map needs --mode linear");
  }
  if (o.mode == VKATTN_MODE_LINEAR && o.feature_map == VKATTN_FEATURE_MAP_NONE) {
    throw usage_error("--mode linear needs --feature-map elu|favor");
  }
  const bool features_given = !o.features.empty() || o.feature_count > 0;
  if (o.feature_map == VKATTN_FEATURE_MAP_FAVOR && !features_given) {
    throw usage_error("--feature-map favor needs --features W.npy or --features M --seed S");
  }
  if (o.feature_map != VKATTN_FEATURE_MAP_FAVOR && features_given) throw usage_error("--features needs --feature-map favor");
  if (o.seed_given && o.feature_count == 0) throw usage_error("--seed needs --features M (a count of features to draw)");
  if (o.mode == VKATTN_MODE_LINFORMER && o.proj_e.empty()) throw usage_error("--mode linformer needs --proj E.npy,F.npy");
  if (o.mode != VKATTN_MODE_LINFORMER && !o.proj_e.empty()) throw usage_error("--proj needs --mode linformer");
  if (o.mode == VKATTN_MODE_BLOCK_SPARSE && (o.block_mask.empty() || o.block_q == 0)) {
    throw usage_error("--mode block-sparse needs --block-mask M.npy and --block-size BQ,BK");
  }
  if (o.mode != VKATTN_MODE_BLOCK_SPARSE && (!o.block_mask.empty() || o.block_q != 0)) {
    throw usage_error("--block-mask and --block-size need --mode block-sparse");
  }
  if (o.mode == VKATTN_MODE_TOPK && o.topk == 0) throw usage_error("--mode topk needs --topk K");
  if (o.mode != VKATTN_MODE_TOPK && o.topk != 0) throw usage_error("--topk needs --mode topk");
  if (o.rope.style == VKATTN_ROPE_NONE && (o.rope.theta != 0.0f || o.rope.dims != 0)) {
    throw usage_error("--rope-theta and --rope-dims need --rope neox|gptj");
  }
  // Float K and V share Q's storage: --kv-dtype f32|f16 sets both, and a
  // different --dtype contradicts it.
  const bool float_kv = o.kv_dtype == VKATTN_DTYPE_F32 || o.kv_dtype == VKATTN_DTYPE_F16;
  if (o.kv_dtype_given && float_kv) {
    if (o.dtype_given && o.dtype != o.kv_dtype) {
      throw usage_error("--kv-dtype f32|f16 must match --dtype (float K and V are stored like Q); use q8_0 or q4_0 "
                        "for another K/V storage");
    }
    o.dtype = o.kv_dtype;
    o.dtype_given = true;
  }
  if (!have_q || !have_k || !have_v || !have_out) throw usage_error("--q, --k, --v and --out are required");
  return o;
}

const char* backend_name(vkattn_backend backend) {
  return backend == VKATTN_BACKEND_VULKAN ? "vulkan" : backend == VKATTN_BACKEND_CPU ? "cpu" : "auto";
}

const char* device_type_name(vkattn_device_type type) {
  switch (type) {
    case VKATTN_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VKATTN_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VKATTN_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VKATTN_DEVICE_TYPE_CPU: return "CPU";
    default: return "other";
  }
}

int list_devices() {
  uint32_t count = 0;
  check(vkattn_enumerate_devices(nullptr, 0, &count), "vkattn_enumerate_devices");
  std::vector<vkattn_device_info> infos(count);
  for (auto& info : infos) vkattn_device_info_init(&info);
  check(vkattn_enumerate_devices(infos.data(), count, &count), "vkattn_enumerate_devices");
  for (const vkattn_device_info& d : infos) {
    std::printf("%-6s %2u  %-40s %-14s %s%s%s\n", backend_name(d.backend), d.index, d.name, device_type_name(d.type),
                d.driver, d.usable ? "" : "  [unusable: ", d.usable ? "" : (std::string(d.unusable_reason) + "]").c_str());
  }
  return 0;
}

// Pads a shape with leading 1s to four dimensions.
std::vector<int64_t> as_4d(const NpyArray& array, const char* name) {
  if (array.shape.empty() || array.shape.size() > 4) {
    throw input_error(std::string(name) + " must have 1 to 4 dimensions, not " + std::to_string(array.shape.size()));
  }
  std::vector<int64_t> shape(4 - array.shape.size(), 1);
  shape.insert(shape.end(), array.shape.begin(), array.shape.end());
  for (int64_t d : shape) {
    if (d == 0) throw input_error(std::string(name) + " has an empty dimension");
  }
  return shape;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? "," : "") + std::to_string(shape[i]);
  return text + "]";
}

NpyArray load(const std::string& path, const char* flag) {
  NpyArray array;
  std::string error;
  if (!vkattn_samples::read_npy(path, &array, &error)) throw input_error(std::string(flag) + ": " + error);
  return array;
}

// Tensor values as the device dtype's bytes (f32 copies, f16 rounds).
std::vector<uint8_t> to_device(const NpyArray& array, const char* name, vkattn_dtype dtype) {
  const int64_t n = array.count();
  std::vector<uint8_t> bytes(static_cast<size_t>(n) * (dtype == VKATTN_DTYPE_F16 ? 2 : 4));
  for (int64_t i = 0; i < n; ++i) {
    float value;
    if (array.type == NpyType::kFloat32) {
      std::memcpy(&value, &array.data[4 * i], 4);
    } else if (array.type == NpyType::kFloat16) {
      uint16_t h;
      std::memcpy(&h, &array.data[2 * i], 2);
      value = vkattn::half_to_float(h);
    } else {
      throw input_error(std::string(name) + " has dtype " + vkattn_samples::npy_type_name(array.type) +
                        "; expected float32 or float16");
    }
    if (dtype == VKATTN_DTYPE_F16) {
      const uint16_t h = vkattn::float_to_half(value);
      std::memcpy(&bytes[2 * i], &h, 2);
    } else {
      std::memcpy(&bytes[4 * i], &value, 4);
    }
  }
  return bytes;
}

// Writes a file through a temporary name, so a failure leaves nothing behind.
class PendingFile {
 public:
  explicit PendingFile(std::string path) : path_(std::move(path)), temp_(path_ + ".tmp" + std::to_string(getpid())) {}
  ~PendingFile() {
    if (!committed_) std::remove(temp_.c_str());
  }
  void write(const std::vector<uint8_t>& bytes) {
    FILE* file = std::fopen(temp_.c_str(), "wb");
    if (file == nullptr) throw input_error("cannot write " + path_ + ": " + std::strerror(errno));
    const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size();
    if (std::fclose(file) != 0 || !ok) throw input_error("cannot write " + path_ + ": " + std::strerror(errno));
  }
  void commit() {
    if (std::rename(temp_.c_str(), path_.c_str()) != 0) {
      throw input_error("cannot create " + path_ + ": " + std::strerror(errno));
    }
    committed_ = true;
  }

 private:
  std::string path_, temp_;
  bool committed_ = false;
};


// RAII for the handles of one run.
struct Handles {
  vkattn_context context = nullptr;
  vkattn_plan plan = nullptr;
  vkattn_plan append = nullptr;
  std::vector<vkattn_buffer> buffers;
  ~Handles() {
    for (vkattn_buffer b : buffers) vkattn_buffer_destroy(b);
    vkattn_plan_destroy(plan);
    vkattn_plan_destroy(append);
    vkattn_context_destroy(context);
  }
  vkattn_buffer upload(const void* data, size_t bytes) {
    vkattn_buffer buffer = nullptr;
    check(vkattn_buffer_create(context, bytes, 0, &buffer), "vkattn_buffer_create");
    buffers.push_back(buffer);
    if (data != nullptr) check(vkattn_buffer_write(buffer, 0, data, bytes), "vkattn_buffer_write");
    return buffer;
  }
};

int run(const Options& o) {
  const NpyArray q = load(o.q, "--q");
  const NpyArray k = load(o.k, "--k");
  const NpyArray v = load(o.v, "--v");
  const std::vector<int64_t> ks = as_4d(k, "K"), vs = as_4d(v, "V");
  // Packed queries: Q is [T, Hq, D] and the batch is K's; the descriptor's
  // q_len is the longest sequence (set once the offsets are read).
  const bool packed = !o.cu_seqlens_q.empty();
  if (packed && !o.q_lens.empty()) throw usage_error("--cu-seqlens-q and --q-lens exclude each other");
  if (packed && q.shape.size() != 3) {
    throw input_error("with --cu-seqlens-q, Q must be [T, Hq, D] (packed rows), not " + shape_text(q.shape));
  }
  std::vector<int64_t> qs = packed ? std::vector<int64_t>{ks[0], q.shape[1], 1, q.shape[2]} : as_4d(q, "Q");
  if (packed && (q.shape[0] == 0 || q.shape[1] == 0 || q.shape[2] == 0)) throw input_error("Q has an empty dimension");
  if (ks[3] != qs[3]) {
    throw input_error("K's last dimension (" + std::to_string(ks[3]) + ") must equal Q's (" + std::to_string(qs[3]) + ")");
  }
  if (ks[0] != qs[0] || vs[0] != qs[0]) {
    throw input_error("batch sizes differ: Q " + shape_text(qs) + ", K " + shape_text(ks) + ", V " + shape_text(vs));
  }
  if (vs[1] != ks[1] || vs[2] != ks[2]) {
    throw input_error("V " + shape_text(vs) + " must match K " + shape_text(ks) + " in heads and length");
  }
  if (qs[1] % ks[1] != 0) {
    throw input_error("Q's head count (" + std::to_string(qs[1]) + ") is not a multiple of K's (" +
                      std::to_string(ks[1]) + ")");
  }

  vkattn_test::HostInputs pairs;  // masks and lengths, for counting visible pairs
  vkattn_attention_desc& desc = pairs.desc;
  vkattn_attention_desc_init(&desc);
  // Per-sequence lengths: int32 or int64 [B] (offsets: [B + 1]), each in [0, limit].
  auto load_lengths = [&](const std::string& path, const char* flag, int64_t limit, int64_t count) {
    const std::string name = std::string(flag).substr(2);  // "kv-lens", "q-lens", "cu-seqlens-q"
    const NpyArray lens = load(path, flag);
    if (lens.shape.size() != 1 || lens.shape[0] != count) {
      throw input_error(name + " must have shape [" + std::to_string(count) + "], not " + shape_text(lens.shape));
    }
    std::vector<int32_t> values;
    for (int64_t b = 0; b < count; ++b) {
      int64_t value;
      if (lens.type == NpyType::kInt32) {
        int32_t v32;
        std::memcpy(&v32, &lens.data[4 * b], 4);
        value = v32;
      } else if (lens.type == NpyType::kInt64) {
        std::memcpy(&value, &lens.data[8 * b], 8);
      } else {
        throw input_error(name + " has dtype " + vkattn_samples::npy_type_name(lens.type) + "; expected int32 or int64");
      }
      if (value < 0 || value > limit) {
        throw input_error(name + "[" + std::to_string(b) + "] = " + std::to_string(value) + " is outside [0, " +
                          std::to_string(limit) + "]");
      }
      values.push_back(static_cast<int32_t>(value));
    }
    return values;
  };
  if (packed) {  // sequence b's queries are rows cu[b] .. cu[b+1]-1 of Q; vkattn checks the order
    pairs.cu_seqlens_q = load_lengths(o.cu_seqlens_q, "--cu-seqlens-q", q.shape[0], ks[0] + 1);
    for (int64_t b = 0; b < ks[0]; ++b) qs[2] = std::max<int64_t>(qs[2], pairs.cu_seqlens_q[b + 1] - pairs.cu_seqlens_q[b]);
  }
  desc.batch = qs[0];
  desc.q_heads = qs[1];
  desc.q_len = qs[2];
  desc.qk_dim = qs[3];
  desc.kv_heads = ks[1];
  desc.kv_len = ks[2];
  desc.v_dim = vs[3];
  desc.dtype = o.dtype_given ? o.dtype : (q.type == NpyType::kFloat16 ? VKATTN_DTYPE_F16 : VKATTN_DTYPE_F32);
  desc.scale = o.scale;
  desc.causal = o.causal;
  desc.window_left = o.window_left;
  desc.window_right = o.window_right;
  desc.global_keys = o.global_keys;
  desc.has_lse = o.lse.empty() ? 0 : 1;
  desc.softcap = o.softcap;
  desc.rope = o.rope;
  const bool quantized_kv = o.kv_dtype == VKATTN_DTYPE_Q8_0 || o.kv_dtype == VKATTN_DTYPE_Q4_0;
  if (quantized_kv) desc.k_dtype = desc.v_dtype = o.kv_dtype;
  // Per-head f32 arrays: [Hq] float32 (or float16) files.
  auto load_heads = [&](const std::string& path, const char* flag) {
    const NpyArray array = load(path, flag);
    if (array.shape.size() != 1 || array.shape[0] != desc.q_heads ||
        (array.type != NpyType::kFloat32 && array.type != NpyType::kFloat16)) {
      throw input_error(std::string(flag) + " must be a float32 array of shape [" + std::to_string(desc.q_heads) +
                        "], not " + vkattn_samples::npy_type_name(array.type) + " " + shape_text(array.shape));
    }
    const std::vector<uint8_t> bytes = to_device(array, flag, VKATTN_DTYPE_F32);
    std::vector<float> values(static_cast<size_t>(desc.q_heads));
    std::memcpy(values.data(), bytes.data(), bytes.size());
    return values;
  };
  if (o.alibi) {
    pairs.alibi_slopes.resize(static_cast<size_t>(desc.q_heads));
    check(vkattn_alibi_slopes(desc.q_heads, pairs.alibi_slopes.data()), "vkattn_alibi_slopes");
  } else if (!o.alibi_slopes.empty()) {
    pairs.alibi_slopes = load_heads(o.alibi_slopes, "--alibi-slopes");
  }
  if (!o.sinks.empty()) pairs.sinks = load_heads(o.sinks, "--sinks");
  desc.mode = o.mode;
  desc.topk.k = o.topk;
  desc.linear.feature_map = o.feature_map;
  if (o.feature_count > 0) {
    pairs.features.resize(static_cast<size_t>(o.feature_count * desc.qk_dim));
    check(vkattn_favor_features(o.feature_count, desc.qk_dim, o.seed, pairs.features.data()), "vkattn_favor_features");
    desc.linear.num_features = o.feature_count;
  } else if (!o.features.empty()) {
    const NpyArray w = load(o.features, "--features");
    if (w.shape.size() != 2 || w.shape[1] != desc.qk_dim || w.shape[0] < 1 ||
        (w.type != NpyType::kFloat32 && w.type != NpyType::kFloat16)) {
      throw input_error("--features must be a float32 array of shape [M, " + std::to_string(desc.qk_dim) + "], not " +
                        vkattn_samples::npy_type_name(w.type) + " " + shape_text(w.shape));
    }
    const std::vector<uint8_t> bytes = to_device(w, "--features", VKATTN_DTYPE_F32);
    pairs.features.resize(static_cast<size_t>(w.count()));
    std::memcpy(pairs.features.data(), bytes.data(), bytes.size());
    desc.linear.num_features = w.shape[0];
  }
  if (!o.proj_e.empty()) {
    // [P, Skv] shared by every kv head, or [Hkv, P, Skv]; F as E.
    auto load_projection = [&](const std::string& path, const char* name, std::vector<float>* out) {
      const NpyArray m = load(path, "--proj");
      const bool shared = m.shape.size() == 2 && m.shape[1] == desc.kv_len;
      const bool per_head = m.shape.size() == 3 && m.shape[0] == desc.kv_heads && m.shape[2] == desc.kv_len;
      if ((!shared && !per_head) || m.shape[m.shape.size() - 2] < 1 ||
          (m.type != NpyType::kFloat32 && m.type != NpyType::kFloat16)) {
        throw input_error(std::string("--proj: ") + name + " must be a float32 array of shape [P, " +
                          std::to_string(desc.kv_len) + "] or [" + std::to_string(desc.kv_heads) + ", P, " +
                          std::to_string(desc.kv_len) + "], not " + vkattn_samples::npy_type_name(m.type) + " " +
                          shape_text(m.shape));
      }
      const std::vector<uint8_t> bytes = to_device(m, "--proj", VKATTN_DTYPE_F32);
      out->resize(static_cast<size_t>(m.count()));
      std::memcpy(out->data(), bytes.data(), bytes.size());
      return m.shape;
    };
    const std::vector<int64_t> e_shape = load_projection(o.proj_e, "E", &pairs.proj_e);
    const std::vector<int64_t> f_shape = load_projection(o.proj_f, "F", &pairs.proj_f);
    if (e_shape != f_shape) {
      throw input_error("--proj: E " + shape_text(e_shape) + " and F " + shape_text(f_shape) + " must have one shape");
    }
    desc.linformer.proj_len = e_shape[e_shape.size() - 2];
    desc.linformer.per_head = e_shape.size() == 3 ? 1u : 0u;
  }
  if (!o.block_mask.empty()) {
    // [QB, KB] shared, [H, QB, KB] or [B, H, QB, KB] with H 1 or Hq and B 1 or batch.
    const NpyArray m = load(o.block_mask, "--block-mask");
    const int64_t q_blocks = (desc.q_len + o.block_q - 1) / o.block_q, k_blocks = (desc.kv_len + o.block_k - 1) / o.block_k;
    std::vector<int64_t> shape = m.shape;
    while (shape.size() < 4) shape.insert(shape.begin(), 1);
    const bool fits = m.shape.size() >= 2 && m.shape.size() <= 4 && (shape[0] == 1 || shape[0] == desc.batch) &&
                      (shape[1] == 1 || shape[1] == desc.q_heads) && shape[2] == q_blocks && shape[3] == k_blocks;
    if (!fits || (m.type != NpyType::kBool && m.type != NpyType::kUint8)) {
      throw input_error("--block-mask must be a bool or uint8 array of shape [[" + std::to_string(desc.batch) + "|1,] [" +
                        std::to_string(desc.q_heads) + "|1,] " + std::to_string(q_blocks) + ", " +
                        std::to_string(k_blocks) + "] (blocks of " + std::to_string(o.block_q) + " x " +
                        std::to_string(o.block_k) + "), not " + vkattn_samples::npy_type_name(m.type) + " " +
                        shape_text(m.shape));
    }
    pairs.block_mask.assign(m.data.begin(), m.data.end());
    desc.block_sparse.block_q = o.block_q;
    desc.block_sparse.block_k = o.block_k;
    desc.block_sparse.mask_batch = shape[0];
    desc.block_sparse.mask_heads = shape[1];
  }
  pairs.point_desc();
  vkattn_attention_desc_set_dense_layouts(&desc);
  if (packed) {
    desc.packed_q_rows = q.shape[0];
    desc.q_layout = vkattn_layout_thd(desc.q_heads, desc.qk_dim);
    desc.out_layout = vkattn_layout_thd(desc.q_heads, desc.v_dim);
    desc.lse_layout = vkattn_layout_thd(desc.q_heads, 1);
  }

  NpyArray mask;
  if (!o.mask.empty()) {
    mask = load(o.mask, "--mask");
    if (mask.shape.size() > 4) throw input_error("the mask has more than 4 dimensions");
    std::vector<int64_t> ms(4 - mask.shape.size(), 1);
    ms.insert(ms.end(), mask.shape.begin(), mask.shape.end());
    const int64_t target[4] = {desc.batch, desc.q_heads, desc.q_len, desc.kv_len};
    vkattn_mask_layout layout{};
    int64_t stride = 1;
    for (int axis = 3; axis >= 0; --axis) {
      if (ms[axis] != 1 && ms[axis] != target[axis]) {
        throw input_error("mask shape " + shape_text(mask.shape) + " does not broadcast to [B,Hq,Sq,Skv] = " +
                          shape_text({target[0], target[1], target[2], target[3]}));
      }
      const int64_t axis_stride = ms[axis] == 1 ? 0 : stride;
      if (axis == 3) layout.col_stride = axis_stride;
      if (axis == 2) layout.row_stride = axis_stride;
      if (axis == 1) layout.head_stride = axis_stride;
      if (axis == 0) layout.batch_stride = axis_stride;
      stride *= ms[axis];
    }
    if (mask.type == NpyType::kFloat32) {
      desc.has_additive_mask = 1;
      desc.additive_mask_layout = layout;
      pairs.additive_mask.resize(static_cast<size_t>(mask.count()));
      std::memcpy(pairs.additive_mask.data(), mask.data.data(), mask.data.size());
    } else if (mask.type == NpyType::kBool || mask.type == NpyType::kUint8) {
      desc.has_bool_mask = 1;
      desc.bool_mask_layout = layout;
      pairs.bool_mask = mask.data;
    } else {
      throw input_error(std::string("the mask has dtype ") + vkattn_samples::npy_type_name(mask.type) +
                        "; expected float32 (additive) or bool/uint8 (true = may attend)");
    }
  }
  if (!o.kv_lens.empty()) {
    pairs.kv_lens = load_lengths(o.kv_lens, "--kv-lens", desc.kv_len, desc.batch);
    desc.has_kv_lens = 1;
  }
  if (!o.q_lens.empty()) {  // ragged queries: rows past a sequence's count stay zero in the output
    pairs.q_lens = load_lengths(o.q_lens, "--q-lens", desc.q_len, desc.batch);
    desc.has_q_lens = 1;
  }

  // --page-size: K and V go into a pool of pages in shuffled order, with a
  // block table naming each sequence's pages (and key lengths, which paged
  // K/V need: the whole kv_len unless --kv-lens says otherwise).
  std::vector<int32_t> block_table;
  if (o.page_size > 0) {
    const int64_t pages = (desc.kv_len + o.page_size - 1) / o.page_size;
    if (!desc.has_kv_lens) {
      pairs.kv_lens.assign(static_cast<size_t>(desc.batch), static_cast<int32_t>(desc.kv_len));
      desc.has_kv_lens = 1;
    }
    desc.page_size = o.page_size;
    desc.max_pages = pages;
    desc.num_pages = desc.batch * pages;
    desc.k_layout = vkattn_layout_pages(desc.kv_heads, o.page_size, desc.qk_dim);
    desc.v_layout = vkattn_layout_pages(desc.kv_heads, o.page_size, desc.v_dim);
    block_table.resize(static_cast<size_t>(desc.num_pages));
    for (size_t i = 0; i < block_table.size(); ++i) block_table[i] = static_cast<int32_t>(i);
    std::mt19937 shuffle(20261130);
    std::shuffle(block_table.begin(), block_table.end(), shuffle);
  }

  PendingFile out_file(o.out);
  PendingFile lse_file(o.lse.empty() ? o.out + ".lse" : o.lse);

  Handles h;
  vkattn_context_options options;
  vkattn_context_options_init(&options);
  options.backend = o.backend;
  options.device_index = o.device;
  options.cpu_threads = o.threads;
  options.tuning_cache_path = o.tuning_cache.empty() ? nullptr : o.tuning_cache.c_str();
  check(vkattn_context_create(&options, &h.context), "creating the context");
  check(vkattn_plan_create(h.context, &desc, o.tune ? VKATTN_PLAN_TUNE : 0, &h.plan), "creating the plan");

  vkattn_bindings bindings;
  vkattn_bindings_init(&bindings);
  {
    const std::vector<uint8_t> qb = to_device(q, "Q", desc.dtype);
    bindings.q = h.upload(qb.data(), qb.size());
  }
  // K and V reach their storage the way an application's cache does: an
  // append plan writes every key and value (as f32) at positions 0..kv_len-1
  // of each sequence into the plan's K/V (dense, or the shuffled page pool),
  // converting or quantizing on the device and turning the keys by RoPE.
  {
    vkattn_append_desc append;
    vkattn_append_desc_init(&append);
    append.batch = desc.batch;
    append.kv_heads = desc.kv_heads;
    append.new_tokens = desc.kv_len;
    append.kv_len = desc.kv_len;
    append.qk_dim = desc.qk_dim;
    append.v_dim = desc.v_dim;
    append.src_dtype = VKATTN_DTYPE_F32;
    append.k_dtype = quantized_kv ? o.kv_dtype : desc.dtype;
    append.v_dtype = append.k_dtype;
    append.k_src_layout = vkattn_layout_bhsd(desc.kv_heads, desc.kv_len, desc.qk_dim);
    append.v_src_layout = vkattn_layout_bhsd(desc.kv_heads, desc.kv_len, desc.v_dim);
    append.k_layout = desc.k_layout;
    append.v_layout = desc.v_layout;
    append.page_size = desc.page_size;
    append.num_pages = desc.num_pages;
    append.max_pages = desc.max_pages;
    append.rope = desc.rope;
    check(vkattn_append_plan_create(h.context, &append, 0, &h.append), "creating the append plan");
    // A cache holds its extent in its storage type (pages: the whole pool).
    auto cache = [&](const vkattn_tensor_layout& layout, int64_t dim) {
      const int64_t outer = desc.page_size > 0 ? desc.num_pages : desc.batch;
      const int64_t rows = desc.page_size > 0 ? desc.page_size : desc.kv_len;
      const uint64_t values = static_cast<uint64_t>(layout.offset + (outer - 1) * layout.batch_stride +
                                                    (desc.kv_heads - 1) * layout.head_stride +
                                                    (rows - 1) * layout.seq_stride + dim);
      uint64_t bytes = 0;
      check(vkattn_dtype_bytes(append.k_dtype, values, &bytes), "vkattn_dtype_bytes");
      return h.upload(nullptr, bytes);
    };
    const std::vector<uint8_t> k_bytes = to_device(k, "K", VKATTN_DTYPE_F32);
    const std::vector<uint8_t> v_bytes = to_device(v, "V", VKATTN_DTYPE_F32);
    vkattn_append_bindings fill;
    vkattn_append_bindings_init(&fill);
    fill.k_src = h.upload(k_bytes.data(), k_bytes.size());
    fill.v_src = h.upload(v_bytes.data(), v_bytes.size());
    fill.k_cache = bindings.k = cache(desc.k_layout, desc.qk_dim);
    fill.v_cache = bindings.v = cache(desc.v_layout, desc.v_dim);
    const std::vector<int32_t> positions(static_cast<size_t>(desc.batch), 0);
    fill.positions = positions.data();
    if (o.page_size > 0) fill.block_table = block_table.data();
    check(vkattn_append_execute(h.append, &fill), "appending K and V to the cache");
  }
  if (o.page_size > 0) bindings.block_table = block_table.data();
  if (desc.has_additive_mask) bindings.additive_mask = h.upload(mask.data.data(), mask.data.size());
  if (desc.has_bool_mask) bindings.bool_mask = h.upload(mask.data.data(), mask.data.size());
  if (desc.has_kv_lens) bindings.kv_lens = pairs.kv_lens.data();
  if (desc.has_q_lens) bindings.q_lens = pairs.q_lens.data();
  if (packed) bindings.cu_seqlens_q = pairs.cu_seqlens_q.data();
  const size_t element = desc.dtype == VKATTN_DTYPE_F16 ? 2 : 4;
  // O [B, Hq, Sq, Dv] and LSE [B, Hq, Sq], or packed [T, Hq, Dv] and [T, Hq].
  const std::vector<int64_t> out_shape = packed ? std::vector<int64_t>{desc.packed_q_rows, desc.q_heads, desc.v_dim}
                                                : std::vector<int64_t>{desc.batch, desc.q_heads, desc.q_len, desc.v_dim};
  const std::vector<int64_t> lse_shape(out_shape.begin(), out_shape.end() - 1);
  size_t out_count = 1;
  for (int64_t extent : out_shape) out_count *= static_cast<size_t>(extent);
  const size_t lse_count = out_count / static_cast<size_t>(desc.v_dim);
  // Zero-filled: with --q-lens, rows past a sequence's queries are never
  // written (with --cu-seqlens-q, rows no sequence covers).
  const std::vector<uint8_t> zeros(std::max(out_count * element, lse_count * 4), 0);
  bindings.out = h.upload(zeros.data(), out_count * element);
  if (desc.has_lse) bindings.lse = h.upload(zeros.data(), lse_count * 4);

  std::vector<double> times;
  for (int r = 0; r < o.repeat; ++r) {
    const auto start = std::chrono::steady_clock::now();
    check(vkattn_plan_execute(h.plan, &bindings), "executing the plan");
    check(vkattn_context_finish(h.context), "waiting for the device");
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }

  std::vector<uint8_t> out_bytes(out_count * element);
  check(vkattn_buffer_read(bindings.out, 0, out_bytes.data(), out_bytes.size()), "reading the output");
  std::vector<float> out(out_count);
  for (size_t i = 0; i < out_count; ++i) {
    if (element == 2) {
      uint16_t half;
      std::memcpy(&half, &out_bytes[2 * i], 2);
      out[i] = vkattn::half_to_float(half);
    } else {
      std::memcpy(&out[i], &out_bytes[4 * i], 4);
    }
  }
  out_file.write(vkattn_samples::encode_npy_f32(out_shape, out.data()));
  if (desc.has_lse) {
    std::vector<float> lse(lse_count);
    check(vkattn_buffer_read(bindings.lse, 0, lse.data(), lse_count * 4), "reading the LSE");
    lse_file.write(vkattn_samples::encode_npy_f32(lse_shape, lse.data()));
  }
  out_file.commit();
  if (desc.has_lse) lse_file.commit();

  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted.size() % 2 ? sorted[sorted.size() / 2]
                                          : 0.5 * (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]);
  const uint64_t visible = vkattn_test::count_visible_pairs(pairs);
  // Linear attention, Linformer and top-k: their own algorithms' FLOPs
  // (not q_len x kv_len pairs).
  const double flops = desc.mode == VKATTN_MODE_LINEAR      ? vkattn_test::linear_attention_flops(pairs)
                       : desc.mode == VKATTN_MODE_LINFORMER ? vkattn_test::linformer_flops(pairs)
                       : desc.mode == VKATTN_MODE_TOPK      ? vkattn_test::topk_flops(pairs)
                                                            : 2.0 * static_cast<double>(desc.qk_dim + desc.v_dim) *
                                                                  static_cast<double>(visible);
  const double gflops = flops / (median * 1e-3) / 1e9;
  vkattn_device_info info;
  vkattn_device_info_init(&info);
  check(vkattn_context_get_info(h.context, &info), "vkattn_context_get_info");
  vkattn_plan_info plan_info;
  vkattn_plan_info_init(&plan_info);
  check(vkattn_plan_get_info(h.plan, &plan_info), "vkattn_plan_get_info");
  const char* kv_dtype_name = o.kv_dtype == VKATTN_DTYPE_Q8_0   ? "q8_0"
                              : o.kv_dtype == VKATTN_DTYPE_Q4_0 ? "q4_0"
                              : desc.dtype == VKATTN_DTYPE_F16  ? "f16"
                                                                : "f32";
  if (o.json) {
    std::printf(
        "{\"backend\": \"%s\", \"device\": \"%s\", \"kernel\": \"%s\", \"dtype\": \"%s\", \"kv_dtype\": \"%s\", "
        "\"batch\": %lld, "
        "\"q_heads\": %lld, \"kv_heads\": %lld, \"q_len\": %lld, \"kv_len\": %lld, \"qk_dim\": %lld, \"v_dim\": %lld, "
        "\"repeat\": %d, \"ms\": %.6f, \"min_ms\": %.6f, \"visible_pairs\": %llu, \"gflops\": %.4f, \"tuned\": %s}\n",
        backend_name(info.backend), vkattn_samples::json_escape(info.name).c_str(), vkattn_samples::json_escape(plan_info.kernel).c_str(),
        desc.dtype == VKATTN_DTYPE_F16 ? "f16" : "f32", kv_dtype_name, (long long)desc.batch, (long long)desc.q_heads,
        (long long)desc.kv_heads, (long long)desc.q_len, (long long)desc.kv_len, (long long)desc.qk_dim,
        (long long)desc.v_dim, o.repeat, median, sorted.front(), (unsigned long long)visible, gflops,
        plan_info.tuned ? "true" : "false");
  } else {
    std::printf("%s on %s (%s%s): %.3f ms median of %d, %.2f GFLOP/s; wrote %s%s%s\n", backend_name(info.backend),
                info.name, plan_info.kernel, plan_info.tuned ? ", tuned" : "", median, o.repeat, gflops, o.out.c_str(), desc.has_lse ? " and " : "",
                desc.has_lse ? o.lse.c_str() : "");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return vkattn_samples::run_main("vkattn-run", kUsage, [&] {
    const Options options = parse_args(argc, argv);
    return options.list_devices ? list_devices() : run(options);
  });
}
