/*
 * vkattn Vulkan interop: for apps and engines that own a Vulkan device.
 *
 *   - Adopt the app's VkDevice and queue instead of creating a second device
 *     (vkattn_context_create_vulkan), or borrow the one vkattn created
 *     (vkattn_context_get_vulkan_device).
 *   - Attend the app's own VkBuffers in place (vkattn_buffer_import_vulkan),
 *     or let the app's commands use vkattn's buffers
 *     (vkattn_buffer_get_vulkan).
 *   - Record plans into the app's command buffer (vkattn_record_vulkan), so
 *     attention sits inside the app's frame or graph with no extra submit.
 *   - Submit batches that wait on and signal the app's semaphores, binary or
 *     timeline (vkattn_submit_vulkan; vkattn_submit and
 *     vkattn_context_wait/poll in vkattn.h work without them).
 *
 * Include <vulkan/vulkan.h> (or this header, which does) in the app. The
 * library itself loads every Vulkan function through the
 * vkGetInstanceProcAddr it is given (or the loader it opens): it does not
 * link against libvulkan. In builds without the Vulkan backend every
 * function here answers VKATTN_ERROR_BACKEND_UNAVAILABLE; on a CPU context,
 * VKATTN_ERROR_UNSUPPORTED.
 *
 * What vkattn creates on an adopted device, and destroys with the context
 * (after the last buffer and plan made from it): one command pool on the
 * given queue family, command buffers, fences, a pipeline cache, shader
 * modules, compute pipelines, one descriptor set layout and pipeline
 * layout, descriptor pools, query pools (timestamps) and VkBuffers with
 * their VkDeviceMemory (plan parameters, split-KV scratch, staging, and the
 * buffers vkattn_buffer_create makes). It never destroys, maps, waits idle
 * or otherwise touches an object it was given beyond the calls named here.
 * The VkDevice (and VkInstance) must outlive the context and every buffer
 * and plan made from it.
 *
 * The queue is externally synchronised (Vulkan's rule): vkattn calls
 * vkQueueSubmit on it inside vkattn_plan_execute, vkattn_append_execute,
 * vkattn_submit, vkattn_submit_vulkan, vkattn_attention, vkattn_plan_create
 * with VKATTN_PLAN_TUNE and the reads and writes of buffers the host cannot
 * map (staging copies), and in nothing else. If other threads use the queue
 * meanwhile, pass submit_fn: vkattn then hands every submission to it (to
 * take the app's queue lock, or to submit it however the app likes) and
 * never touches the queue itself. vkattn orders its work only against work
 * on that queue (every command buffer it submits starts with a global
 * barrier after all earlier work on the queue); work on other queues is the
 * app's to synchronise with semaphores.
 */
#ifndef VKATTN_VULKAN_H_
#define VKATTN_VULKAN_H_

#include <vulkan/vulkan.h>

#include "vkattn.h"

#ifdef __cplusplus
extern "C" {
#endif

struct AHardwareBuffer; /* <android/hardware_buffer.h> */

/* ------------------------------------------------------------------------ */
/* Adopting the app's device                                                 */
/* ------------------------------------------------------------------------ */

/* Submits on vkattn's behalf: called with what vkattn would pass to
 * vkQueueSubmit(queue, submit_count, submits, fence); return its result.
 * Called from the vkattn call that submits, on that thread. */
typedef VkResult(VKAPI_PTR* vkattn_vulkan_submit_fn)(void* user_data, uint32_t submit_count,
                                                      const VkSubmitInfo* submits, VkFence fence);

typedef struct vkattn_vulkan_device {
  size_t struct_size;
  /* The loader's (or the app's) vkGetInstanceProcAddr: every instance and
   * device function vkattn uses is loaded through it. */
  PFN_vkGetInstanceProcAddr get_instance_proc_addr;
  VkInstance instance;
  /* VkApplicationInfo.apiVersion the instance was created with: vkattn
   * needs Vulkan 1.1 (UNSUPPORTED below that, and for a device below 1.1). */
  uint32_t instance_api_version;
  VkPhysicalDevice physical_device;
  VkDevice device;
  /* Exactly what the device was created with (read during the call only):
   * vkattn reads its queue families, extensions and feature structures to
   * use only what was enabled. It needs a queue family with
   * VK_QUEUE_COMPUTE_BIT (UNSUPPORTED otherwise) and nothing else; it uses,
   * when the app enabled them: subgroupSizeControl and computeFullSubgroups
   * (VK_EXT_subgroup_size_control or Vulkan 1.3), shaderFloat16
   * (VK_KHR_shader_float16_int8 or Vulkan 1.2) and timelineSemaphore
   * (VK_KHR_timeline_semaphore or Vulkan 1.2; needed for timeline values in
   * vkattn_vulkan_sync). Kernels then match what an own device of the same
   * GPU would choose with the same features. vkattn_context_get_vulkan_device
   * returns NULL here. */
  const VkDeviceCreateInfo* device_create_info;
  uint32_t queue_family_index;  /* one of device_create_info's queue families */
  uint32_t queue_index;         /* the queue's index in that family (informational) */
  VkQueue queue;                /* vkattn submits here, unless submit_fn is set */
  vkattn_vulkan_submit_fn submit_fn; /* NULL: vkattn calls vkQueueSubmit on queue */
  void* submit_user_data;
} vkattn_vulkan_device;

static inline void vkattn_vulkan_device_init(vkattn_vulkan_device* device) {
  memset(device, 0, sizeof(*device));
  device->struct_size = sizeof(*device);
}

/* Creates a Vulkan context on the app's device. options may be NULL; its
 * backend and device_index are ignored, and so is
 * VKATTN_CONTEXT_ENABLE_VALIDATION (validation is the app instance's
 * choice). The pipeline and tuning caches, logging and every other option
 * work as for vkattn_context_create. INVALID_ARGUMENT names a missing or
 * inconsistent field (a physical device that is not the instance's, a
 * queue family the device was not created with); UNSUPPORTED names the
 * missing version, feature or queue capability. */
VKATTN_API vkattn_status vkattn_context_create_vulkan(const vkattn_context_options* options,
                                                      const vkattn_vulkan_device* device,
                                                      vkattn_context* out_context);

/* Fills *out (initialised with vkattn_vulkan_device_init) with the context's
 * Vulkan objects: the adopted ones, or the instance, device and queue vkattn
 * created itself (which the app may then use, on the rules above, and must
 * not destroy). submit_fn and device_create_info come back NULL for an own
 * device. */
VKATTN_API vkattn_status vkattn_context_get_vulkan_device(vkattn_context context, vkattn_vulkan_device* out);

/* ------------------------------------------------------------------------ */
/* Buffers                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct vkattn_vulkan_buffer {
  size_t struct_size;
  VkBuffer buffer;
  /* The vkattn buffer is bytes [offset, offset + size) of `buffer`: offset a
   * multiple of the device's minStorageBufferOffsetAlignment (plans bind
   * windows of it), size > 0 and a multiple of 4. */
  VkDeviceSize offset;
  VkDeviceSize size;
  /* The usage `buffer` was created with: STORAGE_BUFFER is required; reading
   * and writing it from the host without a mapping (staging copies) also
   * needs TRANSFER_SRC / TRANSFER_DST (UNSUPPORTED at that call otherwise). */
  VkBufferUsageFlags usage;
  /* The property flags of the bound memory's type. */
  VkMemoryPropertyFlags memory_properties;
  /* The app's host mapping of byte `offset` of the buffer, or NULL. Only
   * for HOST_VISIBLE | HOST_COHERENT memory; vkattn_buffer_map,
   * vkattn_buffer_read and vkattn_buffer_write then use it directly. vkattn
   * never maps or unmaps the app's memory. */
  void* mapped;
} vkattn_vulkan_buffer;

static inline void vkattn_vulkan_buffer_init(vkattn_vulkan_buffer* buffer) {
  memset(buffer, 0, sizeof(*buffer));
  buffer->struct_size = sizeof(*buffer);
}

/* Makes a vkattn buffer of the app's VkBuffer range, without a copy. Plans
 * use it exactly as a buffer of their own (the same binding windows and
 * checks). The VkBuffer must belong to the context's device, and must stay
 * alive, bound to its memory, until the vkattn buffer is destroyed and the
 * work using it completed. vkattn_buffer_destroy releases only the view. */
VKATTN_API vkattn_status vkattn_buffer_import_vulkan(vkattn_context context, const vkattn_vulkan_buffer* desc,
                                                     vkattn_buffer* out_buffer);

/* Android: a vkattn buffer of a whole AHardwareBuffer (format
 * AHARDWAREBUFFER_FORMAT_BLOB, usage including
 * AHARDWAREBUFFER_USAGE_GPU_DATA_BUFFER), without a copy: vkattn creates a
 * VkBuffer on memory imported from it through
 * VK_ANDROID_external_memory_android_hardware_buffer, which the device must
 * have enabled (vkattn enables it on its own devices where the driver has
 * it; on an adopted device, list it in the VkDeviceCreateInfo). Its size is
 * the import's allocation size rounded down to a multiple of 4 (query it
 * with vkattn_buffer_get_size). The import holds a reference to the
 * AHardwareBuffer until the vkattn buffer is destroyed. UNSUPPORTED, naming
 * the extension, where the device lacks it, and on every other platform.
 * (Compiled only in Android builds; the machine these were written on has
 * no Android device, so it has not run.) */
VKATTN_API vkattn_status vkattn_buffer_import_android_hardware_buffer(vkattn_context context,
                                                                      struct AHardwareBuffer* hardware_buffer,
                                                                      vkattn_buffer* out_buffer);

/* Describes the VkBuffer range behind a vkattn buffer (its own or an
 * imported one), for the app's commands to read or fill it. The app must
 * not destroy it; mapped is vkattn's persistent mapping (NULL when the
 * memory is not host-visible). out initialised with
 * vkattn_vulkan_buffer_init. */
VKATTN_API vkattn_status vkattn_buffer_get_vulkan(vkattn_buffer buffer, vkattn_vulkan_buffer* out);

/* ------------------------------------------------------------------------ */
/* Recording into the app's command buffer                                   */
/* ------------------------------------------------------------------------ */

/* The barriers vkattn records around the work, as global memory barriers
 * (vkCmdPipelineBarrier with one VkMemoryBarrier):
 *   before:  src_stage_mask | COMPUTE_SHADER, src_access_mask | SHADER_WRITE
 *            -> COMPUTE_SHADER | TRANSFER, SHADER_READ | SHADER_WRITE |
 *               UNIFORM_READ | TRANSFER_WRITE
 *   between two executions, and after vkattn's own vkCmdUpdateBuffer of the
 *   per-execution lengths, positions and block tables:
 *            COMPUTE_SHADER | TRANSFER, SHADER_WRITE | TRANSFER_WRITE
 *            -> COMPUTE_SHADER | TRANSFER, SHADER_READ | SHADER_WRITE |
 *               UNIFORM_READ | TRANSFER_WRITE
 *   after:   COMPUTE_SHADER, SHADER_WRITE -> dst_stage_mask, dst_access_mask
 * where 0 in a mask field means its default:
 *   src_stage_mask  COMPUTE_SHADER | TRANSFER    src_access_mask  SHADER_WRITE | TRANSFER_WRITE
 *   dst_stage_mask  COMPUTE_SHADER | TRANSFER    dst_access_mask  SHADER_READ | SHADER_WRITE |
 *                                                                 TRANSFER_READ | TRANSFER_WRITE
 * so that the app's compute or transfer writes of Q, K, V (or masks) before
 * the call are seen, and its compute or transfer reads of O and LSE after it
 * see the results. Name other stages (FRAGMENT_SHADER, HOST, ...) in the
 * masks when the app produces or consumes the tensors there. */
typedef struct vkattn_vulkan_recording {
  size_t struct_size;
  /* A primary command buffer of the context's queue family, in the
   * recording state, outside a render pass. */
  VkCommandBuffer command_buffer;
  VkPipelineStageFlags src_stage_mask;
  VkAccessFlags src_access_mask;
  VkPipelineStageFlags dst_stage_mask;
  VkAccessFlags dst_access_mask;
} vkattn_vulkan_recording;

static inline void vkattn_vulkan_recording_init(vkattn_vulkan_recording* recording) {
  memset(recording, 0, sizeof(*recording));
  recording->struct_size = sizeof(*recording);
}

/* Records executions[0 .. count) (checked as vkattn_submit checks them) into
 * the app's command buffer: the barriers above, the per-execution data
 * (key and query lengths, append positions, block tables: copied into the
 * command buffer with vkCmdUpdateBuffer, so each recording keeps its own),
 * and the dispatches. Nothing is submitted; the app submits the command
 * buffer to the context's queue (the queue of vkattn's own submissions:
 * recordings share the plans' scratch memory, ordered by the barriers) and
 * may submit it any number of times. Afterwards the command buffer's bound
 * compute pipeline, descriptor sets and push constants are undefined.
 * Plans, their bindings' buffers and the context must outlive every pending
 * execution of the command buffer; vkattn_buffer_read/write/map and
 * vkattn_context_finish do not wait for it (the app waits for its own
 * submission). Recording a plan with new buffers allocates descriptor sets
 * for them, kept until one of those buffers is destroyed. */
VKATTN_API vkattn_status vkattn_record_vulkan(vkattn_context context, const vkattn_execution* executions,
                                              uint32_t count, const vkattn_vulkan_recording* recording);

/* ------------------------------------------------------------------------ */
/* Submitting with semaphores                                                */
/* ------------------------------------------------------------------------ */

typedef struct vkattn_vulkan_sync {
  size_t struct_size;
  uint32_t wait_semaphore_count;
  const VkSemaphore* wait_semaphores;
  /* One stage mask per wait semaphore; NULL: COMPUTE_SHADER | TRANSFER for all. */
  const VkPipelineStageFlags* wait_stage_masks;
  /* Timeline values, one per wait semaphore (ignored for binary ones), or
   * NULL when all are binary. */
  const uint64_t* wait_values;
  uint32_t signal_semaphore_count;
  const VkSemaphore* signal_semaphores;
  const uint64_t* signal_values; /* as wait_values */
} vkattn_vulkan_sync;

static inline void vkattn_vulkan_sync_init(vkattn_vulkan_sync* sync) {
  memset(sync, 0, sizeof(*sync));
  sync->struct_size = sizeof(*sync);
}

/* vkattn_submit whose one vkQueueSubmit also waits on and signals `sync`'s
 * semaphores (sync may be NULL). Timeline values need the timelineSemaphore
 * feature on the device (UNSUPPORTED otherwise; vkattn enables it on its
 * own devices where the driver has it). The submission's ticket completes
 * as for vkattn_submit; the semaphores are signalled when its work has
 * completed. */
VKATTN_API vkattn_status vkattn_submit_vulkan(vkattn_context context, const vkattn_execution* executions,
                                              uint32_t count, const vkattn_vulkan_sync* sync,
                                              uint64_t* out_ticket);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* VKATTN_VULKAN_H_ */
