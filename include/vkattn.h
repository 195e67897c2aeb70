/*
 * vkattn: memory-bounded scaled dot-product attention for phones, integrated
 * GPUs and embedded boards, on Vulkan compute or on the CPU (XNNPACK).
 *
 *     O = softmax(Q . K^T * scale + mask) . V
 *
 * This is the library's main public header. It is plain C99, identical in
 * every build configuration: a feature a device or build cannot provide
 * answers VKATTN_ERROR_UNSUPPORTED at run time, it never disappears from here.
 * Engines that own a Vulkan device also include vkattn_vulkan.h (which needs
 * <vulkan/vulkan.h>) to share it, its buffers and its command buffers.
 *
 * ---------------------------------------------------------------------------
 * Error model
 *   Every fallible function returns a vkattn_status; 0 (VKATTN_SUCCESS) means
 *   success. Results come back through trailing out_ pointers, which are left
 *   untouched on failure. vkattn_last_error() returns a message describing the
 *   most recent failure on the calling thread (naming the offending field or
 *   limit). No function aborts, exits or throws.
 *
 * Objects and ownership
 *   vkattn_context  a backend and device (CPU or one Vulkan device). Owns a
 *                   thread pool (CPU) or a VkDevice, queue, command pool and
 *                   pipeline cache (Vulkan; or uses the app's VkDevice and
 *                   queue, vkattn_vulkan.h).
 *   vkattn_buffer   memory belonging to one context.
 *   vkattn_plan     a validated attention problem with its kernel and tiling
 *                   chosen once; executed any number of times.
 *   Every create has a destroy that accepts NULL. Buffers and plans keep their
 *   context's internals alive: destroying a context while some of its buffers
 *   or plans still exist is allowed; those objects then answer
 *   VKATTN_ERROR_FAILED_PRECONDITION to everything but their destroy.
 *   A handle of the wrong kind, or one already destroyed and not yet reused by
 *   the allocator, is rejected with VKATTN_ERROR_INVALID_ARGUMENT.
 *
 * Thread safety
 *   - vkattn_status_string, vkattn_last_error, vkattn_version*,
 *     vkattn_enumerate_devices: callable from any thread at any time.
 *   - A context and every buffer and plan created from it form one unit that
 *     must be used by one thread at a time (external synchronisation).
 *     Different contexts may be used concurrently from different threads; the
 *     library has no mutable global state of its own.
 *
 * Options structs
 *   Every options/descriptor struct starts with struct_size. Initialise it with
 *   the matching *_init() function below (they are static inline, so
 *   struct_size is the size your code was compiled with). A struct_size the
 *   library does not know is rejected with VKATTN_ERROR_INVALID_ARGUMENT.
 *   Every create takes flags; unknown flag bits are rejected.
 *
 * Determinism
 *   The same plan executed on the same inputs produces bitwise identical
 *   outputs. No reduction uses atomics.
 * ---------------------------------------------------------------------------
 */
#ifndef VKATTN_H_
#define VKATTN_H_

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(_WIN32) && defined(VKATTN_BUILDING_SHARED)
#define VKATTN_API __declspec(dllexport)
#elif defined(_WIN32) && defined(VKATTN_SHARED)
#define VKATTN_API __declspec(dllimport)
#elif defined(__GNUC__) || defined(__clang__)
#define VKATTN_API __attribute__((visibility("default")))
#else
#define VKATTN_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                   */
/* ------------------------------------------------------------------------ */

#define VKATTN_VERSION_MAJOR 0
#define VKATTN_VERSION_MINOR 1
#define VKATTN_VERSION_PATCH 0
#define VKATTN_MAKE_VERSION(major, minor, patch) \
  (((uint32_t)(major) << 22) | ((uint32_t)(minor) << 12) | (uint32_t)(patch))
#define VKATTN_VERSION \
  VKATTN_MAKE_VERSION(VKATTN_VERSION_MAJOR, VKATTN_VERSION_MINOR, VKATTN_VERSION_PATCH)

/* The version of the library actually loaded, as VKATTN_MAKE_VERSION packs it.
 * Compare with VKATTN_VERSION to detect a header/library mismatch. */
VKATTN_API uint32_t vkattn_version(void);
/* The same as "major.minor.patch"; a static string. */
VKATTN_API const char* vkattn_version_string(void);

/* ------------------------------------------------------------------------ */
/* Status codes and messages                                                 */
/* ------------------------------------------------------------------------ */

typedef enum vkattn_status {
  VKATTN_SUCCESS = 0,
  /* The caller passed something invalid: a NULL or wrong-kind handle, a bad
   * struct_size, a size, stride, flag or value out of range, a buffer that is
   * too small or belongs to another context. Fix the call. */
  VKATTN_ERROR_INVALID_ARGUMENT = 1,
  /* The call is valid but the object is in the wrong state (its context was
   * destroyed, the buffer is not mapped, the context was lost earlier). */
  VKATTN_ERROR_FAILED_PRECONDITION = 2,
  /* Valid, but this device or build cannot do it (a head dimension beyond
   * what fits the device's shared memory, a tensor beyond a binding range,
   * mapping memory that is not host-visible). */
  VKATTN_ERROR_UNSUPPORTED = 3,
  /* The requested backend cannot be used here: no Vulkan loader, no Vulkan
   * device, or the device lacks a required feature. */
  VKATTN_ERROR_BACKEND_UNAVAILABLE = 4,
  /* A host allocation failed. Everything taken by the call was released. */
  VKATTN_ERROR_OUT_OF_HOST_MEMORY = 5,
  /* A device allocation failed or would exceed the device heap. Everything
   * taken by the call was released; the context remains usable. */
  VKATTN_ERROR_OUT_OF_DEVICE_MEMORY = 6,
  /* The device was lost. The context and its objects answer
   * VKATTN_ERROR_FAILED_PRECONDITION from now on; create a new context. */
  VKATTN_ERROR_DEVICE_LOST = 7,
  /* A driver or library failure that is not the caller's fault. */
  VKATTN_ERROR_INTERNAL = 8
} vkattn_status;

/* A static, human-readable name of a status code ("invalid argument", ...). */
VKATTN_API const char* vkattn_status_string(vkattn_status status);

/* The detailed message of the most recent failing vkattn call on the calling
 * thread, or "" when the most recent call succeeded. Every call clears it on
 * entry. The pointer stays valid until the next vkattn call on this thread. */
VKATTN_API const char* vkattn_last_error(void);

/* ------------------------------------------------------------------------ */
/* Devices                                                                   */
/* ------------------------------------------------------------------------ */

typedef enum vkattn_backend {
  /* Vulkan if a GPU-type device (discrete, integrated or virtual) exists,
   * otherwise the CPU backend. A CPU-type Vulkan device such as lavapipe is
   * never chosen by AUTO: XNNPACK on the same cores is faster. */
  VKATTN_BACKEND_AUTO = 0,
  VKATTN_BACKEND_CPU = 1,
  VKATTN_BACKEND_VULKAN = 2
} vkattn_backend;

typedef enum vkattn_device_type {
  VKATTN_DEVICE_TYPE_OTHER = 0,
  VKATTN_DEVICE_TYPE_INTEGRATED_GPU = 1,
  VKATTN_DEVICE_TYPE_DISCRETE_GPU = 2,
  VKATTN_DEVICE_TYPE_VIRTUAL_GPU = 3,
  VKATTN_DEVICE_TYPE_CPU = 4
} vkattn_device_type;

/* What a device is and can do. Filled by vkattn_enumerate_devices and
 * vkattn_context_get_info. Strings are NUL-terminated and truncated to fit. */
typedef struct vkattn_device_info {
  size_t struct_size;
  vkattn_backend backend;     /* VKATTN_BACKEND_CPU or VKATTN_BACKEND_VULKAN */
  uint32_t index;             /* Vulkan physical-device index; 0 for the CPU */
  vkattn_device_type type;
  char name[256];             /* "llvmpipe (LLVM 15.0.6, 256 bits)", CPU model */
  char driver[256];           /* driver name and version text; "XNNPACK" on CPU */
  uint32_t vendor_id;         /* PCI vendor id (0 for the CPU backend) */
  uint32_t device_id;
  uint32_t driver_version;    /* as reported by the driver */
  uint32_t api_version;       /* Vulkan API version; 0 for the CPU backend */
  uint32_t compute_units;     /* CPU: worker threads; Vulkan: CUs / SMs / shader cores where a
                                 vendor extension reports them (AMD, NVIDIA, Arm), else 0 */
  uint32_t subgroup_size;     /* Vulkan subgroup size; CPU: SIMD width in floats */
  uint32_t shared_memory_bytes;  /* Vulkan maxComputeSharedMemorySize; CPU: 0 */
  uint32_t fp16_arithmetic;   /* 1 if the device has shaderFloat16: the GPU kernel then multiplies
                                 f16 Q, K, V as f16 operands (sums stay f32) */
  uint32_t storage_16bit;     /* 1 if the device has 16-bit storage buffers (always 1 on
                                 CPU); f16 tensors work on every device either way */
  uint32_t unified_memory;    /* 1 if device memory is host-visible (no staging) */
  uint64_t max_binding_bytes; /* largest range one shader binding may address */
  uint64_t memory_bytes;      /* device-local heap size; host memory on CPU */
  uint32_t usable;            /* 1 if vkattn can run on this device */
  char unusable_reason[256];  /* why not, when usable == 0 */
} vkattn_device_info;

static inline void vkattn_device_info_init(vkattn_device_info* info) {
  memset(info, 0, sizeof(*info));
  info->struct_size = sizeof(*info);
}

/* Lists every device vkattn could run on, without creating a context: the CPU
 * first, then each Vulkan physical device in the loader's order (absent when
 * no Vulkan loader or device exists; that is not an error).
 * Call with infos == NULL to get the count; otherwise infos[0..capacity) must
 * each be initialised with vkattn_device_info_init and *out_count receives the
 * total number of devices (which may exceed capacity; only capacity entries
 * are written). */
VKATTN_API vkattn_status vkattn_enumerate_devices(vkattn_device_info* infos, uint32_t capacity,
                                                  uint32_t* out_count);

/* ------------------------------------------------------------------------ */
/* Context                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct vkattn_context_t* vkattn_context;
typedef struct vkattn_buffer_t* vkattn_buffer;
typedef struct vkattn_plan_t* vkattn_plan;

typedef enum vkattn_log_level {
  VKATTN_LOG_ERROR = 0,
  VKATTN_LOG_WARNING = 1,
  VKATTN_LOG_INFO = 2,
  VKATTN_LOG_DEBUG = 3
} vkattn_log_level;

typedef void (*vkattn_log_fn)(void* user_data, vkattn_log_level level, const char* message);

/* Enable VK_LAYER_KHRONOS_validation (also enabled by VKATTN_VALIDATION=1);
 * validation messages go to the log. No effect on the CPU backend. */
#define VKATTN_CONTEXT_ENABLE_VALIDATION 0x1u

typedef struct vkattn_context_options {
  size_t struct_size;
  uint32_t flags;              /* VKATTN_CONTEXT_* */
  vkattn_backend backend;      /* default VKATTN_BACKEND_AUTO */
  /* Vulkan physical-device index as listed by vkattn_enumerate_devices'
   * VKATTN_BACKEND_VULKAN entries, or -1 (default) for automatic choice:
   * the VKATTN_DEVICE environment variable if set, else discrete > integrated
   * > virtual > CPU-type. */
  int32_t device_index;
  /* CPU backend worker threads; 0 (default) = one per available core. */
  int32_t cpu_threads;
  /* File to load the Vulkan pipeline cache from and save it to; NULL (default)
   * keeps the cache in memory only. A cache file from another device or
   * driver, or a corrupt one, is ignored with a warning. */
  const char* pipeline_cache_path;
  /* Log sink; NULL (default) writes warnings and errors to stderr (on
   * Android to logcat, tag "vkattn"). The
   * environment variable VKATTN_LOG_LEVEL (0-3), when set, replaces
   * log_level. */
  vkattn_log_fn log_fn;
  void* log_user_data;
  vkattn_log_level log_level;  /* default VKATTN_LOG_WARNING */
  /* File to load tuned kernel configurations from and save them to (see
   * VKATTN_PLAN_TUNE); NULL (default) keeps them for this context only. A
   * file from another device or driver, from another vkattn build's
   * kernels, or a corrupt one, is ignored with a warning and replaced at
   * the next save. No effect on the CPU backend. */
  const char* tuning_cache_path;
} vkattn_context_options;

static inline void vkattn_context_options_init(vkattn_context_options* options) {
  memset(options, 0, sizeof(*options));
  options->struct_size = sizeof(*options);
  options->backend = VKATTN_BACKEND_AUTO;
  options->device_index = -1;
  options->log_level = VKATTN_LOG_WARNING;
}

/* Creates a context. options may be NULL for all defaults.
 * VKATTN_ERROR_BACKEND_UNAVAILABLE: VULKAN was requested and no usable Vulkan
 * device exists (the message says why: no loader, no device, missing
 * feature). AUTO never fails for that reason; it falls back to the CPU. */
VKATTN_API vkattn_status vkattn_context_create(const vkattn_context_options* options,
                                               vkattn_context* out_context);

/* Waits for outstanding work, then releases the context. Buffers and plans
 * still alive keep the device alive until they are destroyed. NULL is fine. */
VKATTN_API vkattn_status vkattn_context_destroy(vkattn_context context);

/* Describes the context's backend and device. info must be initialised with
 * vkattn_device_info_init. */
VKATTN_API vkattn_status vkattn_context_get_info(vkattn_context context, vkattn_device_info* info);

/* Blocks (without spinning) until every execution submitted on the context
 * has completed. The CPU backend executes synchronously, so this returns at
 * once there. */
VKATTN_API vkattn_status vkattn_context_finish(vkattn_context context);

/* ------------------------------------------------------------------------ */
/* Buffers                                                                   */
/* ------------------------------------------------------------------------ */

/* Ask for host-visible memory so vkattn_buffer_map always works (on devices
 * without host-visible device-local memory this may be slower for kernels).
 * Without the flag, memory is device-local, and host-visible too where the
 * device has unified memory. */
#define VKATTN_BUFFER_HOST_VISIBLE 0x1u

/* Creates a buffer of size_bytes (> 0) in the context's memory. Contents are
 * undefined until written. VKATTN_ERROR_OUT_OF_DEVICE_MEMORY /
 * VKATTN_ERROR_OUT_OF_HOST_MEMORY when it does not fit. */
VKATTN_API vkattn_status vkattn_buffer_create(vkattn_context context, uint64_t size_bytes,
                                              uint32_t flags, vkattn_buffer* out_buffer);

/* Releases the buffer (waiting for the submitted executions that use it, not
 * for others). An imported buffer (vkattn_vulkan.h) releases only vkattn's
 * view; the VkBuffer stays the app's. NULL is fine. */
VKATTN_API vkattn_status vkattn_buffer_destroy(vkattn_buffer buffer);

VKATTN_API vkattn_status vkattn_buffer_get_size(vkattn_buffer buffer, uint64_t* out_size_bytes);

/* Copy size_bytes between host memory and the buffer at offset_bytes. Both
 * first wait for the submitted executions that use this buffer (only
 * those), so a read after an execute returns its results. Work the app
 * recorded into its own command buffers (vkattn_record_vulkan) is the app's
 * to wait for. The range must lie inside the buffer. */
VKATTN_API vkattn_status vkattn_buffer_write(vkattn_buffer buffer, uint64_t offset_bytes,
                                             const void* data, uint64_t size_bytes);
VKATTN_API vkattn_status vkattn_buffer_read(vkattn_buffer buffer, uint64_t offset_bytes, void* data,
                                            uint64_t size_bytes);

/* Maps the whole buffer into host memory: no copy at all on the CPU backend
 * and on unified-memory GPUs. Waits for the executions that use it first. While
 * mapped, the buffer must not be used by an execution. VKATTN_ERROR_UNSUPPORTED
 * if its memory is not host-visible (create it with VKATTN_BUFFER_HOST_VISIBLE);
 * VKATTN_ERROR_FAILED_PRECONDITION if already mapped. */
VKATTN_API vkattn_status vkattn_buffer_map(vkattn_buffer buffer, void** out_pointer);
/* Ends a mapping, making host writes visible to the device.
 * VKATTN_ERROR_FAILED_PRECONDITION if not mapped. */
VKATTN_API vkattn_status vkattn_buffer_unmap(vkattn_buffer buffer);

/* ------------------------------------------------------------------------ */
/* The attention problem                                                     */
/* ------------------------------------------------------------------------ */

typedef enum vkattn_dtype {
  VKATTN_DTYPE_F32 = 1,
  VKATTN_DTYPE_F16 = 2, /* IEEE binary16 */
  /* llama.cpp's block formats, bit-identical to its q8_0 and q4_0, for K
   * and V only (vkattn_attention_desc.k_dtype, v_dtype). A block holds 32
   * consecutive values of a row's head dimension:
   *   Q8_0: f16 scale d, then 32 int8 codes q; value = q * d (34 bytes).
   *   Q4_0: f16 scale d, then 16 bytes of 4-bit codes, byte i holding value
   *         i in its low nibble and value i + 16 in its high nibble;
   *         value = (code - 8) * d (18 bytes).
   * vkattn_quantize() writes them as llama.cpp's reference quantizer does. */
  VKATTN_DTYPE_Q8_0 = 3,
  VKATTN_DTYPE_Q4_0 = 4
} vkattn_dtype;

/* Values per block of VKATTN_DTYPE_Q8_0 and VKATTN_DTYPE_Q4_0. */
#define VKATTN_QUANT_BLOCK 32

/* Bytes that `count` values of `dtype` occupy (count a multiple of
 * VKATTN_QUANT_BLOCK for the block types). */
VKATTN_API vkattn_status vkattn_dtype_bytes(vkattn_dtype dtype, uint64_t count, uint64_t* out_bytes);

/* Quantizes count values (a multiple of VKATTN_QUANT_BLOCK) into
 * count / 32 blocks of dtype (Q8_0 or Q4_0), exactly as llama.cpp's
 * quantize_row_q8_0_ref / quantize_row_q4_0_ref do:
 *   Q8_0: d = max|x| / 127, codes roundf(x * (1/d)) (0 when d = 0);
 *   Q4_0: x_m the value of largest magnitude (the first of equals),
 *         d = x_m / -8, codes min(15, (int8_t)(x * (1/d) + 8.5)) (8 when d = 0).
 * The scale is stored as f16 (round to nearest even). Values must be finite
 * (INVALID_ARGUMENT names the first that is not). */
VKATTN_API vkattn_status vkattn_quantize(vkattn_dtype dtype, const float* values, uint64_t count, void* blocks);

/* The inverse: count values (a multiple of VKATTN_QUANT_BLOCK) from blocks
 * of dtype (Q8_0 or Q4_0) into values, as f32 (value = code * d, exact). */
VKATTN_API vkattn_status vkattn_dequantize(vkattn_dtype dtype, const void* blocks, uint64_t count, float* values);

/* Causal masking. With L = the batch's key length (kv_lens[b] when given,
 * else kv_len) and Sq = its query count (q_lens[b] when given, or
 * cu_seqlens_q[b + 1] - cu_seqlens_q[b] with packed queries, else q_len):
 *   BOTTOM_RIGHT  query i sees keys j <= i + (L - Sq): the last query sees
 *                 every key (KV-cache, FlashAttention-2 convention).
 *   TOP_LEFT      query i sees keys j <= i (PyTorch's is_causal=True). */
typedef enum vkattn_causal {
  VKATTN_CAUSAL_NONE = 0,
  VKATTN_CAUSAL_BOTTOM_RIGHT = 1,
  VKATTN_CAUSAL_TOP_LEFT = 2
} vkattn_causal;

/* Rotary position embedding (RoPE, Su et al.) over the first R = dims
 * dimensions of every head: pair p (0 <= p < R / 2) is turned by the angle
 * a = pos * theta^(-2p / R),
 *   (x, y) -> (x cos a - y sin a, x sin a + y cos a),
 * where the pair (x, y) is
 *   VKATTN_ROPE_NEOX  (e[p], e[p + R/2])   rotate halves: GPT-NeoX, Llama, Qwen, Gemma
 *   VKATTN_ROPE_GPTJ  (e[2p], e[2p + 1])   rotate pairs: GPT-J, ChatGLM
 * Dimensions R and above are left as they are (partial rotary). Angles
 * are reduced exactly (in fixed point) before the sine and cosine, so
 * positions of any size keep f32 accuracy. */
typedef enum vkattn_rope_style {
  VKATTN_ROPE_NONE = 0,
  VKATTN_ROPE_NEOX = 1,
  VKATTN_ROPE_GPTJ = 2
} vkattn_rope_style;

typedef struct vkattn_rope {
  vkattn_rope_style style; /* NONE (default): no rotation */
  float theta;             /* base; 0 (default) = 10000; else finite and > 0 */
  int64_t dims;            /* R: 0 (default) = the head dimension; else even, 2..head dimension */
} vkattn_rope;

/* What a plan computes (vkattn_attention_desc.mode). */
typedef enum vkattn_attention_mode {
  /* Softmax attention, exactly as the descriptor describes it (default). */
  VKATTN_MODE_EXACT = 0,
  /* Kernelized linear attention (Katharopoulos et al., "Transformers are
   * RNNs"; Performer's FAVOR+): with a feature map phi applied to
   * sqrt(scale) q and sqrt(scale) k,
   *   O_i = phi(q_i)^T (sum_j phi(k_j) v_j^T) / phi(q_i)^T (sum_j phi(k_j))
   * where j runs over the keys row i sees: j < L_b, and with causal masking
   * j <= d (d = the aligned position, as for windows). Costs
   * O(L (m + qk_dim) v_dim) per kv head, never q_len x kv_len. No softmax,
   * so no LSE: has_lse must be 0. Rows that see no key get zeros. See
   * vkattn_linear_attention for the feature maps and what the mode rejects. */
  VKATTN_MODE_LINEAR = 1,
  /* Linformer (Wang et al., "Linformer: Self-Attention with Linear
   * Complexity"): keys and values are projected along the sequence by
   * caller-given E and F [proj_len, kv_len],
   *   K' = E K,  V' = F V   (per batch and kv head; K'[p] = sum_j E[p, j] K[j]),
   * over the keys j < L_b only (key lengths zero E's and F's columns from
   * L_b on), then every query attends all proj_len rows of K' and V' with
   * softmax attention as in EXACT mode. Costs O(proj_len x kv_len x (qk_dim
   * + v_dim)) per kv head for the projections plus O(q_len x proj_len x
   * (qk_dim + v_dim)) per query head, never q_len x kv_len; the projected
   * K', V' live in the plan's workspace. See vkattn_linformer for what the
   * mode rejects. */
  VKATTN_MODE_LINFORMER = 2,
  /* Block-sparse attention (Longformer, BigBird): softmax attention as in
   * EXACT mode in which query i of a sequence sees key j only where the
   * block mask (vkattn_block_sparse) holds a nonzero entry for block
   * (i / block_q, j / block_k); every other visibility rule (key lengths,
   * causal masking, windows, global keys, additive and boolean masks)
   * applies too, and everything EXACT mode admits is admitted. Key blocks
   * that the mask hides from every query row a kernel tile holds are
   * skipped, never loaded: the cost scales with the visible blocks. Rows
   * that see no key give zeros (LSE -inf, or the sink), as in EXACT mode. */
  VKATTN_MODE_BLOCK_SPARSE = 3,
  /* Top-k attention: softmax attention as in EXACT mode over only the
   * topk.k keys with the largest logits among those row i sees (every
   * visibility rule and the whole logit pipeline apply first; of equal
   * logits the lower key index is kept). A row that sees k keys or fewer
   * is EXACT mode's. O and LSE (with the sink, if any) are those of the
   * softmax over the kept keys. See vkattn_topk. */
  VKATTN_MODE_TOPK = 4
} vkattn_attention_mode;

typedef enum vkattn_feature_map {
  VKATTN_FEATURE_MAP_NONE = 0, /* not set: rejected in linear mode */
  /* phi(x) = elu(x) + 1 elementwise (x + 1 for x > 0, exp(x) otherwise):
   * qk_dim features. */
  VKATTN_FEATURE_MAP_ELU = 1,
  /* FAVOR+ positive random features: phi(x) = exp(W x - |x|^2 / 2) / sqrt(m)
   * with W = features [m, qk_dim], so that phi(q)^T phi(k) estimates
   * exp(scale q.k) (unbiased for Gaussian W; vkattn_favor_features draws
   * orthogonal ones). Computed stably: each query's features are divided by
   * their largest exp term, and the keys' by a running maximum over the
   * keys, factors that cancel in O. */
  VKATTN_FEATURE_MAP_FAVOR = 2
} vkattn_feature_map;

/* Linear attention's parameters (mode VKATTN_MODE_LINEAR; ignored
 * otherwise). The mode admits GQA/MQA, strides and packed QKV, f32 and f16
 * Q/K/V/O, q8_0 / q4_0 and paged K/V, key lengths, ragged and packed
 * queries and both causal alignments. It rejects, with
 * VKATTN_ERROR_UNSUPPORTED naming the field: sliding windows and global
 * keys, additive and boolean masks, LSE, softcap, ALiBi, sinks and RoPE
 * (all defined in terms of softmax logits). */
typedef struct vkattn_linear_attention {
  vkattn_feature_map feature_map;
  /* FAVOR: m, the rows of `features`, 1..VKATTN_MAX_FEATURES; ELU: 0. */
  int64_t num_features;
  /* FAVOR: W, f32 [num_features, qk_dim] row-major, finite; copied at plan
   * creation. ELU: NULL. */
  const float* features;
} vkattn_linear_attention;

/* The most FAVOR+ features a plan accepts. A Vulkan device may support
 * fewer (its shared memory holds the per-workgroup state) and then answers
 * VKATTN_ERROR_UNSUPPORTED naming num_features. */
#define VKATTN_MAX_FEATURES 4096

/* Linformer's parameters (mode VKATTN_MODE_LINFORMER; ignored otherwise).
 * The mode admits GQA/MQA, strides and packed QKV, f32 and f16 Q/K/V/O,
 * q8_0 / q4_0 and paged K/V, key lengths, ragged and packed queries,
 * softcap, sinks and LSE (all as in EXACT mode, over the proj_len projected
 * keys). It rejects, with VKATTN_ERROR_UNSUPPORTED naming the field:
 * causal masking, sliding windows and global keys, additive and boolean
 * masks, ALiBi and RoPE (each needs a key's position, which a projected key
 * does not have). f16 plans hold K' and V' in f16 on Vulkan (rounded once,
 * as f16 K and V are) and in f32 on the CPU. */
typedef struct vkattn_linformer {
  /* k: the rows of E and F, 1..VKATTN_MAX_PROJECTION. */
  int64_t proj_len;
  /* 0: E and F are [proj_len, kv_len], shared by every kv head; 1: they
   * are [kv_heads, proj_len, kv_len], one per kv head. */
  uint32_t per_head;
  /* E and F: f32, row-major as above, finite; copied at plan creation
   * (each at most VKATTN_MAX_PROJECTION_ELEMENTS values; a Vulkan device
   * binds each, and the projected K' and V', as one storage buffer and
   * answers VKATTN_ERROR_UNSUPPORTED, naming the limit, beyond its
   * maxStorageBufferRange). */
  const float* e;
  const float* f;
} vkattn_linformer;

/* The most projected keys a Linformer plan accepts, and the most values E
 * (or F) may hold. */
#define VKATTN_MAX_PROJECTION 4096
#define VKATTN_MAX_PROJECTION_ELEMENTS (INT64_C(1) << 28)

/* Block-sparse attention's block mask (mode VKATTN_MODE_BLOCK_SPARSE;
 * ignored otherwise). */
typedef struct vkattn_block_sparse {
  /* Queries and keys per block: 16, 32, 64 or 128 each. */
  int64_t block_q, block_k;
  /* The mask's batch and head extents: 1 (shared) or batch; 1 (shared)
   * or q_heads. */
  int64_t mask_batch, mask_heads;
  /* uint8 [mask_batch, mask_heads, ceil(q_len / block_q),
   * ceil(kv_len / block_k)], row-major; nonzero = the block is visible.
   * Copied at plan creation (at most VKATTN_MAX_BLOCK_MASK_BYTES bytes).
   * With ragged or packed queries, i counts each sequence's own rows. */
  const uint8_t* mask;
} vkattn_block_sparse;

#define VKATTN_MAX_BLOCK_MASK_BYTES (INT64_C(1) << 28)

/* Top-k attention's parameters (mode VKATTN_MODE_TOPK; ignored otherwise).
 * The mode admits everything EXACT mode admits. Keys are chosen by the
 * f32 logits the kernel computes: two logits closer than f32 rounding may
 * be ordered differently than an exact computation would order them. A
 * NaN logit among a row's visible keys makes the row NaN, as in EXACT mode.
 * Memory stays O(rows x k): a first pass keeps each row's k best keys in a
 * bounded candidate list (the CPU backend at most 2k candidates per row of
 * a task; the Vulkan backend k + max(k, 512) per row of a row batch whose
 * lists take at most 64 MiB), a second attends them; nothing
 * q_len x kv_len is allocated. Both backends run it; on Vulkan head
 * dimensions above 256 are VKATTN_ERROR_UNSUPPORTED (naming qk_dim or
 * v_dim). */
typedef struct vkattn_topk {
  /* The keys each query row keeps: 1..VKATTN_MAX_TOPK. */
  int64_t k;
} vkattn_topk;

#define VKATTN_MAX_TOPK 4096

/* Where a [batch, heads, seq, dim] tensor lives in its buffer, in elements of
 * its dtype. The dim axis is contiguous (stride 1). For the block types
 * (Q8_0, Q4_0) an element is one value, the offset and every stride must be
 * multiples of VKATTN_QUANT_BLOCK (32), and value e lives in block e / 32
 * at byte (e / 32) * (34 or 18), so the dense layouts below work unchanged. All strides >= 0 and the
 * view must not overlap itself (a stride of 0 over an axis of extent > 1, or
 * rows that share elements, are rejected). Strides make BHSD (PyTorch), BSHD
 * (FlashAttention) and packed QKV layouts all work without copies. */
typedef struct vkattn_tensor_layout {
  uint64_t offset;
  int64_t batch_stride;
  int64_t head_stride;
  int64_t seq_stride;
} vkattn_tensor_layout;

/* Where a mask [batch, q_heads, q_len, kv_len] lives, in elements (f32 for the
 * additive mask, u8 for the boolean mask). A stride of 0 broadcasts that axis
 * (a [1, 1, q_len, kv_len] mask has batch_stride = head_stride = 0). */
typedef struct vkattn_mask_layout {
  uint64_t offset;
  int64_t batch_stride;
  int64_t head_stride;
  int64_t row_stride;
  int64_t col_stride;
} vkattn_mask_layout;

/* The problem a plan solves:
 *   Q   [batch, q_heads,  q_len,  qk_dim]   dtype
 *   K   [batch, kv_heads, kv_len, qk_dim]   k_dtype (default: dtype)
 *   V   [batch, kv_heads, kv_len, v_dim]    v_dtype (default: dtype)
 *   O   [batch, q_heads,  q_len,  v_dim]    dtype
 *   LSE [batch, q_heads,  q_len]            f32, natural-log log-sum-exp
 * Query head h reads KV head h / (q_heads / kv_heads) (MHA, GQA, MQA).
 *
 * A key j is visible to query i of batch b and head h when all of these hold:
 *   - j < L_b (kv_lens[b] if has_kv_lens, else kv_len);
 *   - the causal mode allows it (see vkattn_causal);
 *   - the sliding window allows it: with d = i + (L_b - q_len) (bottom-right
 *     alignment, used when causal is NONE or BOTTOM_RIGHT) or d = i
 *     (TOP_LEFT): j >= d - window_left when window_left >= 0 and
 *     j <= d + window_right when window_right >= 0 (-1 = unbounded);
 *     keys j < global_keys are exempt from the window (global tokens,
 *     StreamingLLM's attention-sink tokens);
 *   - the boolean mask, if present, is nonzero at [b, h, i, j];
 *   - the additive mask, if present, is not -inf at [b, h, i, j].
 * Logits, in this order: s = scale * q.k (f32 accumulation); when softcap
 * > 0, s = softcap * tanh(s / softcap); with ALiBi slopes,
 * s += -alibi_slopes[h] * |d - j| (d as for the window); then
 * s += additive_mask[b, h, i, j] if present. With sinks, each row's softmax
 * denominator gains exp(sinks[h] - m), m the maximum over the row's visible
 * logits and the sink: the sink carries no value, so outputs shrink, and the
 * LSE includes it. A query that sees no key gets an output row of zeros and
 * LSE -inf, or LSE = sinks[h] with sinks (never NaN). Values under keys a query does not see never reach its output, even
 * when they are NaN or Inf. NaN or Inf in visible inputs propagate as IEEE
 * arithmetic would (a NaN logit or value makes that row NaN).
 */
typedef struct vkattn_attention_desc {
  size_t struct_size;
  uint32_t flags;             /* reserved, must be 0 */
  int64_t batch;              /* >= 1 */
  int64_t q_heads;            /* >= 1 */
  int64_t kv_heads;           /* >= 1, divides q_heads */
  int64_t q_len;              /* >= 1 */
  int64_t kv_len;             /* >= 1 */
  int64_t qk_dim;             /* 1..VKATTN_MAX_HEAD_DIM */
  int64_t v_dim;              /* 1..VKATTN_MAX_HEAD_DIM */
  vkattn_dtype dtype;         /* storage of Q and O (and of K, V by default): F32 or F16; default F32 */
  float scale;                /* 0 (default) = 1 / sqrt(qk_dim); finite */
  vkattn_causal causal;       /* default NONE */
  int64_t window_left;        /* -1 (default) = unbounded */
  int64_t window_right;       /* -1 (default) = unbounded */
  uint32_t has_additive_mask; /* bind an f32 mask at execution */
  uint32_t has_bool_mask;     /* bind a u8 mask at execution (nonzero = may attend) */
  uint32_t has_kv_lens;       /* pass int32 kv_lens[batch] at execution */
  uint32_t has_lse;           /* bind an f32 LSE output at execution */
  vkattn_tensor_layout q_layout, k_layout, v_layout, out_layout;
  vkattn_tensor_layout lse_layout; /* seq_stride in f32 elements; dim unused */
  vkattn_mask_layout additive_mask_layout, bool_mask_layout;
  /* Logit soft-capping (Gemma 2): 0 (default) = off; else finite and > 0. */
  float softcap;
  /* ALiBi slopes, f32 [q_heads], or NULL (default): no position bias.
   * Copied at plan creation; finite. vkattn_alibi_slopes() gives the ALiBi
   * paper's defaults. */
  const float* alibi_slopes;
  /* Attention-sink logits (gpt-oss), f32 [q_heads], or NULL (default): no
   * sink. Copied at plan creation; finite. */
  const float* sinks;
  /* Storage of K and of V: 0 (default) = dtype; dtype itself; or a block
   * type (VKATTN_DTYPE_Q8_0, VKATTN_DTYPE_Q4_0), which needs the head
   * dimension (qk_dim for K, v_dim for V) to be a multiple of 32
   * (UNSUPPORTED otherwise, naming the field). K and V may differ (q8_0 K
   * with f16 V). A float type other than dtype is UNSUPPORTED. Values are
   * dequantized exactly (code * d in f32) and attended like f32 values. */
  vkattn_dtype k_dtype;
  vkattn_dtype v_dtype;
  /* Keys [0, global_keys) are visible through any sliding window (causal
   * masking, key lengths and masks still apply); 0 (default) = none. With
   * a window this is StreamingLLM's cache policy: the keys between the
   * global ones and each row's window are skipped, not computed. >= 0;
   * values beyond the keys simply cover them all. */
  int64_t global_keys;
  /* Paged K and V (vLLM / FlashInfer page tables). page_size 0 (default):
   * K and V are the [batch, kv_heads, kv_len, dim] tensors their layouts
   * describe. page_size P in 1..256: K and V each live in a pool of
   * num_pages pages of P keys of every kv head, and k_layout / v_layout
   * describe the pool as a [num_pages, kv_heads, P, dim] tensor
   * (batch_stride = from one page to the next; vkattn_layout_pages gives
   * vLLM's [num_pages, P, kv_heads, dim]). Key j of sequence b is key
   * j % P of page block_table[b * max_pages + j / P]
   * (vkattn_bindings.block_table). Needs has_kv_lens, and kv_len <=
   * max_pages * P. Pages may come in any order and serve several
   * sequences (a shared prompt prefix); results are bitwise those of the
   * same keys stored contiguously. Powers of two are the fastest P. */
  int64_t page_size;
  int64_t num_pages;
  int64_t max_pages;  /* pages per sequence: the block table's row length */
  /* RoPE applied to Q as it is loaded (K is stored rotated: see
   * vkattn_append_plan_create, which rotates keys at their cache
   * positions). Query i of batch b is at position L_b - q_len + i (L_b as
   * for causal masking), so a query and its own key turn alike. Over
   * qk_dim; style NONE (default) = off. */
  vkattn_rope rope;
  /* Ragged batches (several prompts of different lengths in one call): 1 =
   * pass int32 q_lens[batch] at execution, each in [0, q_len]. Sequence b
   * then has q_lens[b] query rows, rows 0 .. q_lens[b] - 1 of its Q and O
   * (and LSE) views; rows from q_lens[b] on are neither read, computed nor
   * written. Everything that refers to the query count uses the sequence's
   * own: bottom-right alignment d = i + (L_b - q_lens[b]) (causal, windows,
   * ALiBi distances) and RoPE positions L_b - q_lens[b] + i. */
  uint32_t has_q_lens;
  /* Packed queries (FlashAttention's varlen layout): 0 (default) = Q, O and
   * LSE are the padded [batch, q_heads, q_len, dim] views above. > 0: they
   * are one [packed_q_rows, ...] view each, in which the sequences' query
   * rows follow one another: their layouts describe a [1, q_heads,
   * packed_q_rows, dim] tensor (batch_stride unused: it must be 0;
   * vkattn_layout_thd gives [packed_q_rows, q_heads, dim]), and int32
   * cu_seqlens_q[batch + 1] is passed at execution (vkattn_bindings):
   * sequence b's query i is packed row cu_seqlens_q[b] + i, for i <
   * cu_seqlens_q[b + 1] - cu_seqlens_q[b], its query count, which enters
   * alignment and RoPE as q_lens[b] does. q_len is then the longest
   * sequence's count (the work per sequence is sized by it); masks keep
   * their [batch, q_heads, q_len, kv_len] shape, indexed by the sequence's
   * own row i. Rows no sequence covers are neither read nor written.
   * Excludes has_q_lens (the counts come from cu_seqlens_q). */
  int64_t packed_q_rows;
  /* What to compute: EXACT (default), LINEAR (linear attention, with
   * `linear`'s feature map), LINFORMER (with `linformer`'s projections),
   * BLOCK_SPARSE (with `block_sparse`'s block mask) or TOPK (with `topk`).
   * These fields came after the ones above: a descriptor compiled against
   * a header without them (struct_size ending before `mode`) is accepted
   * and means EXACT; one ending before `linformer`, before `block_sparse`
   * or before `topk` is accepted too. */
  vkattn_attention_mode mode;
  vkattn_linear_attention linear;
  vkattn_linformer linformer;
  vkattn_block_sparse block_sparse;
  vkattn_topk topk;
} vkattn_attention_desc;

/* Fills slopes[0..heads) with the ALiBi paper's slopes for `heads` heads:
 * 2^(-8k/n) for k = 1..n when n is a power of two; otherwise those of the
 * largest power of two below n, followed by every other slope of twice that
 * power (Press et al., the reference implementation). heads >= 1. */
VKATTN_API vkattn_status vkattn_alibi_slopes(int64_t heads, float* slopes);

/* Block masks [q_blocks, k_blocks] (uint8, row-major) for self-attention
 * whose query block a and key block a cover the same positions
 * (block_q == block_k, q_len == kv_len). Longformer: query block a sees key
 * blocks a - window_blocks .. a + window_blocks (a sliding window), the
 * first global_blocks key blocks (global keys) and, for a < global_blocks,
 * every key block (global queries). BigBird: the same, plus random_blocks
 * key blocks per query row of blocks (outside the window and the global
 * blocks where that many remain), drawn from `seed` (the same seed gives the
 * same mask on every platform). Block counts >= 1, the others >= 0. */
VKATTN_API vkattn_status vkattn_block_mask_longformer(int64_t q_blocks, int64_t k_blocks, int64_t window_blocks,
                                                      int64_t global_blocks, uint8_t* mask);
VKATTN_API vkattn_status vkattn_block_mask_bigbird(int64_t q_blocks, int64_t k_blocks, int64_t window_blocks,
                                                   int64_t global_blocks, int64_t random_blocks, uint64_t seed,
                                                   uint8_t* mask);

/* Fills features[0 .. num_features * qk_dim) with FAVOR+ orthogonal random
 * features (Choromanski et al., "Rethinking Attention with Performers"):
 * blocks of qk_dim rows are orthonormalised standard Gaussian draws, each
 * row then scaled to the norm of an independent Gaussian vector of qk_dim
 * entries (so rows are distributed like Gaussian rows but orthogonal within
 * a block). Deterministic: the same seed gives the same bits on every
 * platform. num_features in 1..VKATTN_MAX_FEATURES, qk_dim in
 * 1..VKATTN_MAX_HEAD_DIM. */
VKATTN_API vkattn_status vkattn_favor_features(int64_t num_features, int64_t qk_dim, uint64_t seed, float* features);

/* The largest head dimension (qk_dim, v_dim) the descriptor accepts. A backend
 * may support less on a given device and then answers
 * VKATTN_ERROR_UNSUPPORTED at plan creation. */
#define VKATTN_MAX_HEAD_DIM 4096

/* Sets struct_size and the defaults documented above; sizes and layouts 0. */
static inline void vkattn_attention_desc_init(vkattn_attention_desc* desc) {
  memset(desc, 0, sizeof(*desc));
  desc->struct_size = sizeof(*desc);
  desc->dtype = VKATTN_DTYPE_F32;
  desc->causal = VKATTN_CAUSAL_NONE;
  desc->window_left = -1;
  desc->window_right = -1;
}

/* Contiguous [batch, heads, seq, dim] strides (PyTorch's default layout). */
static inline vkattn_tensor_layout vkattn_layout_bhsd(int64_t heads, int64_t seq, int64_t dim) {
  vkattn_tensor_layout layout;
  layout.offset = 0;
  layout.seq_stride = dim;
  layout.head_stride = seq * dim;
  layout.batch_stride = heads * seq * dim;
  return layout;
}

/* Packed query rows [rows, heads, dim] (FlashAttention's varlen layout),
 * for Q, O and LSE with vkattn_attention_desc.packed_q_rows. */
static inline vkattn_tensor_layout vkattn_layout_thd(int64_t heads, int64_t dim) {
  vkattn_tensor_layout layout;
  layout.offset = 0;
  layout.batch_stride = 0;
  layout.head_stride = dim;
  layout.seq_stride = heads * dim;
  return layout;
}

/* Contiguous [batch, seq, heads, dim] strides (FlashAttention's layout). */
static inline vkattn_tensor_layout vkattn_layout_bshd(int64_t heads, int64_t seq, int64_t dim) {
  vkattn_tensor_layout layout;
  layout.offset = 0;
  layout.head_stride = dim;
  layout.seq_stride = heads * dim;
  layout.batch_stride = seq * heads * dim;
  return layout;
}

/* A page pool [num_pages, page_size, heads, dim] (vLLM's K/V cache layout),
 * for paged K and V: batch_stride is the page stride. */
static inline vkattn_tensor_layout vkattn_layout_pages(int64_t heads, int64_t page_size, int64_t dim) {
  vkattn_tensor_layout layout;
  layout.offset = 0;
  layout.head_stride = dim;
  layout.seq_stride = heads * dim;
  layout.batch_stride = page_size * heads * dim;
  return layout;
}

/* Fills q/k/v/out/lse layouts as contiguous BHSD and both mask layouts as
 * dense [batch, q_heads, q_len, kv_len], from the sizes already set. */
static inline void vkattn_attention_desc_set_dense_layouts(vkattn_attention_desc* desc) {
  vkattn_mask_layout mask;
  desc->q_layout = vkattn_layout_bhsd(desc->q_heads, desc->q_len, desc->qk_dim);
  desc->k_layout = vkattn_layout_bhsd(desc->kv_heads, desc->kv_len, desc->qk_dim);
  desc->v_layout = vkattn_layout_bhsd(desc->kv_heads, desc->kv_len, desc->v_dim);
  desc->out_layout = vkattn_layout_bhsd(desc->q_heads, desc->q_len, desc->v_dim);
  desc->lse_layout = vkattn_layout_bhsd(desc->q_heads, desc->q_len, 1);
  mask.offset = 0;
  mask.col_stride = 1;
  mask.row_stride = desc->kv_len;
  mask.head_stride = desc->q_len * desc->kv_len;
  mask.batch_stride = desc->q_heads * desc->q_len * desc->kv_len;
  desc->additive_mask_layout = mask;
  desc->bool_mask_layout = mask;
}

/* ------------------------------------------------------------------------ */
/* Plans                                                                     */
/* ------------------------------------------------------------------------ */

/* Tune on this device: on the Vulkan backend, when the context's tuning
 * table (loaded from vkattn_context_options.tuning_cache_path) has no entry
 * for the problem's class, plan creation times the kernel configurations the
 * device can run for this problem (GPU timestamps, on synthetic inputs of
 * the problem's shape and layouts, which it allocates for the duration),
 * checks each output against the untuned configuration's, keeps the fastest
 * and saves it to the tuning cache. This takes a few candidates' pipeline
 * compilations and runs (seconds on a CPU driver). Every plan of that class
 * then uses the entry, with or without this flag, in this context and in
 * later ones sharing the file. A problem class is: storage types, head
 * dimensions, GQA group, q_len, kv_len and batch x kv_heads rounded up to
 * powers of two, causal alignment, window, which masks, key lengths, LSE,
 * and whether rows are 16-byte aligned. Tuning problems fail with a warning
 * and an untuned plan; VKATTN_VULKAN_KERNEL disables tuning. The CPU backend
 * has one configuration per problem and ignores the flag. */
#define VKATTN_PLAN_TUNE 0x1u

/* Validates the whole problem once and chooses the kernel and tiling.
 * VKATTN_ERROR_INVALID_ARGUMENT names the offending field;
 * VKATTN_ERROR_UNSUPPORTED names the device limit a valid problem exceeds.
 * flags: VKATTN_PLAN_* (unknown bits are INVALID_ARGUMENT). */
VKATTN_API vkattn_status vkattn_plan_create(vkattn_context context, const vkattn_attention_desc* desc,
                                            uint32_t flags, vkattn_plan* out_plan);

VKATTN_API vkattn_status vkattn_plan_destroy(vkattn_plan plan);

/* What a plan chose, for logs, tests and benchmarks. */
typedef struct vkattn_plan_info {
  size_t struct_size;
  char kernel[64];            /* e.g. "cpu.xnnpack_tiles", "cpu.direct",
                                 "vulkan.tiled.f16.subgroup.fp16.staged.split", "vulkan.lanes.f32.whole" */
  uint32_t block_q;           /* query rows per tile */
  uint32_t block_kv;          /* keys per tile */
  uint32_t kv_splits;         /* >1: the key range is split and merged */
  uint32_t tasks;             /* parallel work items per execution */
  uint32_t dispatches;        /* device dispatches per execution (1 on the CPU) */
  uint64_t workspace_bytes;   /* memory the plan holds besides its tensors */
  uint32_t tuned;             /* 1: the configuration is a tuned entry (VKATTN_PLAN_TUNE) */
} vkattn_plan_info;

static inline void vkattn_plan_info_init(vkattn_plan_info* info) {
  memset(info, 0, sizeof(*info));
  info->struct_size = sizeof(*info);
}

VKATTN_API vkattn_status vkattn_plan_get_info(vkattn_plan plan, vkattn_plan_info* info);

/* The buffers one execution reads and writes. Each tensor is found in its
 * buffer through the plan's layouts. A buffer must belong to the plan's
 * context and be large enough for its layout. The output (and LSE) must not
 * overlap any input in the same buffer. */
typedef struct vkattn_bindings {
  size_t struct_size;
  vkattn_buffer q, k, v, out;
  vkattn_buffer additive_mask; /* iff desc.has_additive_mask */
  vkattn_buffer bool_mask;     /* iff desc.has_bool_mask */
  vkattn_buffer lse;           /* iff desc.has_lse */
  /* iff desc.has_kv_lens: host array of batch values, each in [0, kv_len],
   * read during the call (the array need not outlive it). */
  const int32_t* kv_lens;
  /* iff desc.page_size > 0: host array int32 [batch, max_pages], read
   * during the call. Entries for the pages holding keys [0, kv_lens[b])
   * must be in [0, num_pages); the others are ignored. */
  const int32_t* block_table;
  /* iff desc.has_q_lens: host array of batch values, each in [0, q_len],
   * read during the call. */
  const int32_t* q_lens;
  /* iff desc.packed_q_rows > 0: host array of batch + 1 offsets, read
   * during the call: cu_seqlens_q[0] >= 0, non-decreasing, each difference
   * at most q_len, cu_seqlens_q[batch] <= packed_q_rows. */
  const int32_t* cu_seqlens_q;
} vkattn_bindings;

static inline void vkattn_bindings_init(vkattn_bindings* bindings) {
  memset(bindings, 0, sizeof(*bindings));
  bindings->struct_size = sizeof(*bindings);
}

/* Runs the plan. On the CPU backend the work is done when this returns; on
 * Vulkan it is recorded and submitted, and vkattn_context_finish (or a
 * read, write, map or destroy of a buffer it uses) waits for it. The same
 * as vkattn_submit of this one execution. */
/* INVALID_ARGUMENT for an append plan (see vkattn_append_execute). */
VKATTN_API vkattn_status vkattn_plan_execute(vkattn_plan plan, const vkattn_bindings* bindings);

/* The duration of the plan's most recent execution, in milliseconds: device
 * time from GPU timestamp queries on Vulkan (the dispatches only, no host or
 * submission overhead), wall time of the parallel region on the CPU backend.
 * Waits for that execution to finish. VKATTN_ERROR_FAILED_PRECONDITION if
 * the plan was never executed; VKATTN_ERROR_UNSUPPORTED if the Vulkan queue
 * has no timestamps. */
VKATTN_API vkattn_status vkattn_plan_get_last_time(vkattn_plan plan, double* out_ms);

/* ------------------------------------------------------------------------ */
/* Appending to a KV cache                                                   */
/* ------------------------------------------------------------------------ */

/* Writes new_tokens new keys and values of every sequence into a K/V cache
 * (the K and V an attention plan with the same cache fields reads), at
 * per-sequence positions given at execution, optionally rotating the keys
 * (RoPE at their cache positions) and quantizing as it goes, on the
 * plan's device: decoding a token is one append and one attention call,
 * with no host copy of the cache.
 *   new K [batch, kv_heads, new_tokens, qk_dim]  src_dtype  (k_src_layout)
 *   new V [batch, kv_heads, new_tokens, v_dim]   src_dtype  (v_src_layout)
 *   K cache, V cache: as vkattn_attention_desc describes them (k_dtype,
 *   v_dtype, k_layout, v_layout, page_size, num_pages, max_pages, kv_len).
 * Token t of sequence b lands at cache position positions[b] + t.
 * Conversions: f32 -> f16 rounds to nearest even; q8_0 / q4_0 blocks are
 * vkattn_quantize's (the same formulas; on Vulkan the divisions for d and
 * 1/d are the device's f32 division, which Vulkan lets be off by 2.5 ulp,
 * so a code can differ from the host quantizer's by one where x/d falls
 * within a few ulps of a rounding boundary, and rarely the scale by its
 * last bit; lavapipe and SwiftShader divide exactly); a block holding NaN or Inf gets a NaN scale (all its values
 * read NaN). The cache rows written are whole: nothing else changes. */
typedef struct vkattn_append_desc {
  size_t struct_size;
  uint32_t flags;        /* reserved, must be 0 */
  int64_t batch;         /* sequences, >= 1 */
  int64_t kv_heads;      /* >= 1 */
  int64_t new_tokens;    /* tokens appended to every sequence per execution, >= 1 */
  int64_t kv_len;        /* keys each sequence's cache holds (paged: <= max_pages * page_size) */
  int64_t qk_dim;        /* 1..VKATTN_MAX_HEAD_DIM */
  int64_t v_dim;         /* 1..VKATTN_MAX_HEAD_DIM */
  vkattn_dtype src_dtype; /* of the new K and V: F32 or F16; default F32 */
  /* Cache storage: F32, F16, Q8_0 or Q4_0 (the block types need the head
   * dimension to be a multiple of 32, UNSUPPORTED otherwise); 0 (default)
   * = src_dtype. */
  vkattn_dtype k_dtype;
  vkattn_dtype v_dtype;
  vkattn_tensor_layout k_src_layout, v_src_layout; /* in src_dtype elements */
  vkattn_tensor_layout k_layout, v_layout;         /* the caches, as in vkattn_attention_desc */
  int64_t page_size;     /* 0: contiguous caches; 1..256: page pools, as in vkattn_attention_desc */
  int64_t num_pages;
  int64_t max_pages;
  vkattn_rope rope;      /* applied to the new keys at their cache positions, over qk_dim */
} vkattn_append_desc;

/* Sets struct_size and the defaults documented above; sizes and layouts 0. */
static inline void vkattn_append_desc_init(vkattn_append_desc* desc) {
  memset(desc, 0, sizeof(*desc));
  desc->struct_size = sizeof(*desc);
  desc->src_dtype = VKATTN_DTYPE_F32;
}

/* Validates the append problem (INVALID_ARGUMENT / UNSUPPORTED name the
 * field or the device limit) and prepares it. The plan runs with
 * vkattn_append_execute; vkattn_plan_get_info, vkattn_plan_get_last_time
 * and vkattn_plan_destroy work as for attention plans. flags: 0. */
VKATTN_API vkattn_status vkattn_append_plan_create(vkattn_context context, const vkattn_append_desc* desc,
                                                   uint32_t flags, vkattn_plan* out_plan);

typedef struct vkattn_append_bindings {
  size_t struct_size;
  vkattn_buffer k_src, v_src;     /* the new keys and values */
  vkattn_buffer k_cache, v_cache; /* written; may share a buffer if the views do not overlap */
  /* Host int32 [batch], read during the call: sequence b's tokens go to
   * positions[b] .. positions[b] + new_tokens - 1, each in [0, kv_len). */
  const int32_t* positions;
  /* iff page_size > 0: host int32 [batch, max_pages], read during the
   * call. Entries of the pages written must be in [0, num_pages), and no
   * two sequences may write the same key slot of a page. */
  const int32_t* block_table;
} vkattn_append_bindings;

static inline void vkattn_append_bindings_init(vkattn_append_bindings* bindings) {
  memset(bindings, 0, sizeof(*bindings));
  bindings->struct_size = sizeof(*bindings);
}

/* Runs an append plan (INVALID_ARGUMENT for an attention plan). Sources
 * must not overlap the caches. On Vulkan the work is submitted in order
 * with the context's other executions: an attention plan executed next
 * sees the new keys. */
VKATTN_API vkattn_status vkattn_append_execute(vkattn_plan plan, const vkattn_append_bindings* bindings);

/* ------------------------------------------------------------------------ */
/* Batches and asynchronous execution                                        */
/* ------------------------------------------------------------------------ */

/* One plan execution of a batch: an attention plan with its bindings, or an
 * append plan with its append_bindings (the other pointer NULL). */
typedef struct vkattn_execution {
  size_t struct_size;
  vkattn_plan plan;
  const vkattn_bindings* bindings;
  const vkattn_append_bindings* append_bindings;
} vkattn_execution;

static inline void vkattn_execution_init(vkattn_execution* execution) {
  memset(execution, 0, sizeof(*execution));
  execution->struct_size = sizeof(*execution);
}

/* Submits executions[0 .. count) in order as one submission (on Vulkan: one
 * vkQueueSubmit of the plans' command buffers, each ordered after everything
 * before it), without waiting for it, and returns its ticket. Every plan
 * must belong to `context` and appear once; each is checked as
 * vkattn_plan_execute / vkattn_append_execute check it, and nothing is
 * submitted unless all pass. A plan has one execution in flight at a time:
 * submitting a plan whose previous execution has not completed waits for it
 * first (use one plan per layer, or per in-flight step, to overlap them).
 * Tickets grow by one per submission of the context (vkattn_plan_execute and
 * vkattn_append_execute take one too); a ticket is complete once its
 * submission and every earlier one have completed. On the CPU backend the
 * work is done when this returns. count >= 1; out_ticket may be NULL. */
VKATTN_API vkattn_status vkattn_submit(vkattn_context context, const vkattn_execution* executions, uint32_t count,
                                       uint64_t* out_ticket);

/* Blocks (without spinning) until the submission `ticket` has completed.
 * INVALID_ARGUMENT for a ticket the context never issued. */
VKATTN_API vkattn_status vkattn_context_wait(vkattn_context context, uint64_t ticket);

/* Sets *out_complete to 1 if the submission `ticket` has completed, else 0;
 * never blocks. */
VKATTN_API vkattn_status vkattn_context_poll(vkattn_context context, uint64_t ticket, uint32_t* out_complete);

/* ------------------------------------------------------------------------ */
/* Host-pointer convenience                                                  */
/* ------------------------------------------------------------------------ */

/* Host arrays for vkattn_attention; each is read (or written) through the
 * descriptor's layouts, exactly as a buffer would be. */
typedef struct vkattn_host_tensors {
  size_t struct_size;
  const void* q;
  const void* k;
  const void* v;
  void* out;
  const float* additive_mask;   /* iff desc.has_additive_mask */
  const uint8_t* bool_mask;     /* iff desc.has_bool_mask */
  float* lse;                   /* iff desc.has_lse */
  const int32_t* kv_lens;       /* iff desc.has_kv_lens */
  const int32_t* block_table;   /* iff desc.page_size > 0 */
  const int32_t* q_lens;        /* iff desc.has_q_lens */
  const int32_t* cu_seqlens_q;  /* iff desc.packed_q_rows > 0 */
} vkattn_host_tensors;

static inline void vkattn_host_tensors_init(vkattn_host_tensors* tensors) {
  memset(tensors, 0, sizeof(*tensors));
  tensors->struct_size = sizeof(*tensors);
}

/* One-shot attention on host memory: creates a plan and buffers, uploads,
 * executes, waits and downloads. Convenient, but it copies every tensor and
 * validates the problem each time; create a plan once for repeated work. */
VKATTN_API vkattn_status vkattn_attention(vkattn_context context, const vkattn_attention_desc* desc,
                                          const vkattn_host_tensors* tensors);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* VKATTN_H_ */
