/* An engine that owns its Vulkan device runs vkattn inside its own frame:
 *
 *   1. it creates its instance, device and queue as usual, and hands them to
 *      vkattn_context_create_vulkan (no second VkDevice);
 *   2. it keeps Q, K, V and O in one VkBuffer of its own and imports ranges
 *      of it with vkattn_buffer_import_vulkan (no copies);
 *   3. one command buffer of its own runs its shader that produces Q, the
 *      attention (vkattn_record_vulkan) and its shader that consumes O;
 *   4. a second frame submits attention asynchronously between the app's
 *      own submissions, chained by a timeline semaphore
 *      (vkattn_submit_vulkan), where the device has them.
 *
 * The app's shader (app_affine.comp) computes dst = a * src + b; here it
 * makes Q = 0.5 X + 0.25 and P = 2 O. The program checks P against a
 * double-precision reference and prints the largest error.
 *
 * Usage: vkattn-interop [physical-device-index]   (default 0)
 * Builds with the Vulkan loader (libvulkan-dev); C99. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vulkan/vulkan.h>

#include "app_affine_spv.h"
#include "vkattn_vulkan.h"

enum { HEADS = 8, KV_HEADS = 2, Q_LEN = 4, KV_LEN = 300, DIM = 64 };

#define VK_TRY(call)                                                       \
  do {                                                                     \
    VkResult result_ = (call);                                             \
    if (result_ != VK_SUCCESS) {                                           \
      fprintf(stderr, "%s failed (%d) at line %d\n", #call, (int)result_, __LINE__); \
      exit(1);                                                             \
    }                                                                      \
  } while (0)

#define VKATTN_TRY(call)                                                          \
  do {                                                                            \
    if ((call) != VKATTN_SUCCESS) {                                               \
      fprintf(stderr, "%s failed: %s\n", #call, vkattn_last_error());             \
      exit(1);                                                                    \
    }                                                                             \
  } while (0)

/* The app's engine state. */
typedef struct Engine {
  VkInstance instance;
  VkPhysicalDevice physical;
  VkDevice device;
  uint32_t family;
  VkQueue queue;
  VkDeviceCreateInfo device_info;
  VkDeviceQueueCreateInfo queue_info;
  VkPhysicalDeviceVulkan12Features features12;
  float priority;
  int timeline;
  VkCommandPool pool;
  VkDescriptorSetLayout set_layout;
  VkPipelineLayout pipeline_layout;
  VkPipeline pipeline;
  VkDescriptorPool descriptor_pool;
  VkBuffer buffer;
  VkDeviceMemory memory;
  unsigned char* mapped;
} Engine;

static void create_engine(Engine* e, uint32_t index) {
  VkApplicationInfo app = {VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.apiVersion = VK_API_VERSION_1_2;
  VkInstanceCreateInfo instance_info = {VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  instance_info.pApplicationInfo = &app;
  VK_TRY(vkCreateInstance(&instance_info, NULL, &e->instance));
  uint32_t count = 0;
  VK_TRY(vkEnumeratePhysicalDevices(e->instance, &count, NULL));
  VkPhysicalDevice* all = calloc(count, sizeof(VkPhysicalDevice));
  VK_TRY(vkEnumeratePhysicalDevices(e->instance, &count, all));
  if (index >= count) {
    fprintf(stderr, "there is no physical device %u (%u exist)\n", index, count);
    exit(1);
  }
  e->physical = all[index];
  free(all);
  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties(e->physical, &props);
  printf("engine device: %s\n", props.deviceName);

  uint32_t families = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(e->physical, &families, NULL);
  VkQueueFamilyProperties* family_props = calloc(families, sizeof(VkQueueFamilyProperties));
  vkGetPhysicalDeviceQueueFamilyProperties(e->physical, &families, family_props);
  for (e->family = 0; e->family < families && !(family_props[e->family].queueFlags & VK_QUEUE_COMPUTE_BIT);) e->family++;
  free(family_props);
  if (e->family == families) {
    fprintf(stderr, "no compute queue\n");
    exit(1);
  }
  /* Timeline semaphores where the device has them (core in Vulkan 1.2). */
  VkPhysicalDeviceVulkan12Features supported = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceFeatures2 features = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  features.pNext = &supported;
  vkGetPhysicalDeviceFeatures2(e->physical, &features);
  e->timeline = props.apiVersion >= VK_API_VERSION_1_2 && supported.timelineSemaphore;
  memset(&e->features12, 0, sizeof(e->features12));
  e->features12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
  e->features12.timelineSemaphore = e->timeline ? VK_TRUE : VK_FALSE;
  e->priority = 1.0f;
  memset(&e->queue_info, 0, sizeof(e->queue_info));
  e->queue_info.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
  e->queue_info.queueFamilyIndex = e->family;
  e->queue_info.queueCount = 1;
  e->queue_info.pQueuePriorities = &e->priority;
  memset(&e->device_info, 0, sizeof(e->device_info));
  e->device_info.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
  e->device_info.pNext = &e->features12;
  e->device_info.queueCreateInfoCount = 1;
  e->device_info.pQueueCreateInfos = &e->queue_info;
  VK_TRY(vkCreateDevice(e->physical, &e->device_info, NULL, &e->device));
  vkGetDeviceQueue(e->device, e->family, 0, &e->queue);

  VkCommandPoolCreateInfo pool_info = {VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pool_info.queueFamilyIndex = e->family;
  VK_TRY(vkCreateCommandPool(e->device, &pool_info, NULL, &e->pool));
  VkDescriptorSetLayoutBinding bindings[2];
  memset(bindings, 0, sizeof(bindings));
  for (uint32_t b = 0; b < 2; ++b) {
    bindings[b].binding = b;
    bindings[b].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    bindings[b].descriptorCount = 1;
    bindings[b].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
  }
  VkDescriptorSetLayoutCreateInfo layout_info = {VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  layout_info.bindingCount = 2;
  layout_info.pBindings = bindings;
  VK_TRY(vkCreateDescriptorSetLayout(e->device, &layout_info, NULL, &e->set_layout));
  VkPushConstantRange push = {VK_SHADER_STAGE_COMPUTE_BIT, 0, 12};
  VkPipelineLayoutCreateInfo pipeline_layout_info = {VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  pipeline_layout_info.setLayoutCount = 1;
  pipeline_layout_info.pSetLayouts = &e->set_layout;
  pipeline_layout_info.pushConstantRangeCount = 1;
  pipeline_layout_info.pPushConstantRanges = &push;
  VK_TRY(vkCreatePipelineLayout(e->device, &pipeline_layout_info, NULL, &e->pipeline_layout));
  VkShaderModuleCreateInfo module_info = {VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  module_info.codeSize = app_affine_spv_words * 4;
  module_info.pCode = app_affine_spv;
  VkShaderModule module;
  VK_TRY(vkCreateShaderModule(e->device, &module_info, NULL, &module));
  VkComputePipelineCreateInfo pipeline_info = {VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  pipeline_info.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  pipeline_info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  pipeline_info.stage.module = module;
  pipeline_info.stage.pName = "main";
  pipeline_info.layout = e->pipeline_layout;
  VK_TRY(vkCreateComputePipelines(e->device, VK_NULL_HANDLE, 1, &pipeline_info, NULL, &e->pipeline));
  vkDestroyShaderModule(e->device, module, NULL);
  VkDescriptorPoolSize size = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 8};
  VkDescriptorPoolCreateInfo descriptor_pool_info = {VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
  descriptor_pool_info.maxSets = 4;
  descriptor_pool_info.poolSizeCount = 1;
  descriptor_pool_info.pPoolSizes = &size;
  VK_TRY(vkCreateDescriptorPool(e->device, &descriptor_pool_info, NULL, &e->descriptor_pool));
}

/* One host-visible, coherent VkBuffer of `bytes`, mapped. */
static void create_buffer(Engine* e, VkDeviceSize bytes, VkMemoryPropertyFlags* properties) {
  VkBufferCreateInfo info = {VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  info.size = bytes;
  info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
  VK_TRY(vkCreateBuffer(e->device, &info, NULL, &e->buffer));
  VkMemoryRequirements requirements;
  vkGetBufferMemoryRequirements(e->device, e->buffer, &requirements);
  VkPhysicalDeviceMemoryProperties memory;
  vkGetPhysicalDeviceMemoryProperties(e->physical, &memory);
  const VkMemoryPropertyFlags wanted = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  uint32_t type = 0;
  while (type < memory.memoryTypeCount && (!(requirements.memoryTypeBits & (1u << type)) ||
                                           (memory.memoryTypes[type].propertyFlags & wanted) != wanted)) {
    type++;
  }
  if (type == memory.memoryTypeCount) {
    fprintf(stderr, "no host-visible coherent memory\n");
    exit(1);
  }
  *properties = memory.memoryTypes[type].propertyFlags;
  VkMemoryAllocateInfo allocate = {VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  allocate.allocationSize = requirements.size;
  allocate.memoryTypeIndex = type;
  VK_TRY(vkAllocateMemory(e->device, &allocate, NULL, &e->memory));
  VK_TRY(vkBindBufferMemory(e->device, e->buffer, e->memory, 0));
  void* pointer = NULL;
  VK_TRY(vkMapMemory(e->device, e->memory, 0, VK_WHOLE_SIZE, 0, &pointer));
  e->mapped = pointer;
}

/* The app's own dispatch: dst = a * src + b over `count` floats. */
static void record_affine(Engine* e, VkCommandBuffer cmd, VkDeviceSize src, VkDeviceSize dst, uint32_t count, float a,
                          float b) {
  VkDescriptorSetAllocateInfo allocate = {VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
  allocate.descriptorPool = e->descriptor_pool;
  allocate.descriptorSetCount = 1;
  allocate.pSetLayouts = &e->set_layout;
  VkDescriptorSet set;
  VK_TRY(vkAllocateDescriptorSets(e->device, &allocate, &set));
  VkDescriptorBufferInfo infos[2] = {{e->buffer, src, (VkDeviceSize)count * 4}, {e->buffer, dst, (VkDeviceSize)count * 4}};
  VkWriteDescriptorSet writes[2];
  memset(writes, 0, sizeof(writes));
  for (uint32_t i = 0; i < 2; ++i) {
    writes[i].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
    writes[i].dstSet = set;
    writes[i].dstBinding = i;
    writes[i].descriptorCount = 1;
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &infos[i];
  }
  vkUpdateDescriptorSets(e->device, 2, writes, 0, NULL);
  struct {
    uint32_t count;
    float a, b;
  } push = {count, a, b};
  vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, e->pipeline);
  vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, e->pipeline_layout, 0, 1, &set, 0, NULL);
  vkCmdPushConstants(cmd, e->pipeline_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(push), &push);
  vkCmdDispatch(cmd, (count + 63) / 64, 1, 1);
}

static VkCommandBuffer begin_commands(Engine* e) {
  VkCommandBufferAllocateInfo allocate = {VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  allocate.commandPool = e->pool;
  allocate.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  allocate.commandBufferCount = 1;
  VkCommandBuffer cmd;
  VK_TRY(vkAllocateCommandBuffers(e->device, &allocate, &cmd));
  VkCommandBufferBeginInfo begin = {VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  VK_TRY(vkBeginCommandBuffer(cmd, &begin));
  return cmd;
}

/* Ends and submits `cmd`, optionally waiting on / signalling a timeline
 * value, and with `fence` (may be VK_NULL_HANDLE). */
static void submit(Engine* e, VkCommandBuffer cmd, VkSemaphore wait, uint64_t wait_value, VkSemaphore signal,
                   uint64_t signal_value, VkFence fence) {
  VK_TRY(vkEndCommandBuffer(cmd));
  const VkPipelineStageFlags stage = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
  VkTimelineSemaphoreSubmitInfo values = {VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
  values.waitSemaphoreValueCount = wait != VK_NULL_HANDLE;
  values.pWaitSemaphoreValues = &wait_value;
  values.signalSemaphoreValueCount = signal != VK_NULL_HANDLE;
  values.pSignalSemaphoreValues = &signal_value;
  VkSubmitInfo info = {VK_STRUCTURE_TYPE_SUBMIT_INFO};
  info.pNext = &values;
  info.waitSemaphoreCount = values.waitSemaphoreValueCount;
  info.pWaitSemaphores = &wait;
  info.pWaitDstStageMask = &stage;
  info.commandBufferCount = 1;
  info.pCommandBuffers = &cmd;
  info.signalSemaphoreCount = values.signalSemaphoreValueCount;
  info.pSignalSemaphores = &signal;
  VK_TRY(vkQueueSubmit(e->queue, 1, &info, fence));
}

/* softmax(Q K^T / sqrt(D)) V for one query row of head h, in double, causal
 * bottom-right (query i sees keys 0 .. KV_LEN - Q_LEN + i). */
static void reference_row(const float* q, const float* k, const float* v, int h, int i, double* out) {
  const int g = h / (HEADS / KV_HEADS), visible = KV_LEN - Q_LEN + i + 1;
  double logits[KV_LEN], max = -INFINITY, sum = 0.0;
  for (int j = 0; j < visible; ++j) {
    double dot = 0.0;
    for (int d = 0; d < DIM; ++d) dot += (double)q[(h * Q_LEN + i) * DIM + d] * k[(g * KV_LEN + j) * DIM + d];
    logits[j] = dot / sqrt((double)DIM);
    if (logits[j] > max) max = logits[j];
  }
  for (int d = 0; d < DIM; ++d) out[d] = 0.0;
  for (int j = 0; j < visible; ++j) {
    const double p = exp(logits[j] - max);
    sum += p;
    for (int d = 0; d < DIM; ++d) out[d] += p * v[(g * KV_LEN + j) * DIM + d];
  }
  for (int d = 0; d < DIM; ++d) out[d] /= sum;
}

/* Largest |P / 2 - O_ref| over the output, relative to the largest |O_ref|. */
static double check_output(const float* q, const float* k, const float* v, const float* p) {
  double worst = 0.0, scale = 1e-30, row[DIM];
  for (int h = 0; h < HEADS; ++h) {
    for (int i = 0; i < Q_LEN; ++i) {
      reference_row(q, k, v, h, i, row);
      for (int d = 0; d < DIM; ++d) {
        const double got = 0.5 * p[(h * Q_LEN + i) * DIM + d];
        if (fabs(row[d]) > scale) scale = fabs(row[d]);
        if (fabs(got - row[d]) > worst) worst = fabs(got - row[d]);
      }
    }
  }
  return worst / scale;
}

static VkDeviceSize align_up(VkDeviceSize bytes, VkDeviceSize alignment) {
  return (bytes + alignment - 1) / alignment * alignment;
}

int main(int argc, char** argv) {
  Engine e;
  memset(&e, 0, sizeof(e));
  create_engine(&e, argc > 1 ? (uint32_t)atoi(argv[1]) : 0);

  /* 1. vkattn on the engine's device. */
  vkattn_vulkan_device adopted;
  vkattn_vulkan_device_init(&adopted);
  adopted.get_instance_proc_addr = vkGetInstanceProcAddr;
  adopted.instance = e.instance;
  adopted.instance_api_version = VK_API_VERSION_1_2;
  adopted.physical_device = e.physical;
  adopted.device = e.device;
  adopted.device_create_info = &e.device_info;
  adopted.queue_family_index = e.family;
  adopted.queue = e.queue;
  vkattn_context context;
  VKATTN_TRY(vkattn_context_create_vulkan(NULL, &adopted, &context));

  /* 2. The engine's memory: X (what its shader turns into Q), Q, K, V, O and
   * P, each at an offset storage bindings accept. */
  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties(e.physical, &props);
  const VkDeviceSize a = props.limits.minStorageBufferOffsetAlignment < 16 ? 16 : props.limits.minStorageBufferOffsetAlignment;
  const VkDeviceSize q_bytes = (VkDeviceSize)HEADS * Q_LEN * DIM * 4, kv_bytes = (VkDeviceSize)KV_HEADS * KV_LEN * DIM * 4;
  const VkDeviceSize x_at = 0, q_at = align_up(q_bytes, a), k_at = q_at + align_up(q_bytes, a);
  const VkDeviceSize v_at = k_at + align_up(kv_bytes, a), o_at = v_at + align_up(kv_bytes, a);
  const VkDeviceSize p_at = o_at + align_up(q_bytes, a), total = p_at + align_up(q_bytes, a);
  VkMemoryPropertyFlags properties = 0;
  create_buffer(&e, total, &properties);
  float* x = (float*)(e.mapped + x_at);
  float* k = (float*)(e.mapped + k_at);
  float* v = (float*)(e.mapped + v_at);
  float* p = (float*)(e.mapped + p_at);
  float* q = malloc(q_bytes); /* the host's copy of what the app's shader writes, for the reference */
  srand(7);
  for (VkDeviceSize i = 0; i < q_bytes / 4; ++i) {
    x[i] = (float)rand() / RAND_MAX * 4.0f - 2.0f;
    const float scaled = 0.5f * x[i];
    q[i] = scaled + 0.25f;
  }
  for (VkDeviceSize i = 0; i < kv_bytes / 4; ++i) {
    k[i] = (float)rand() / RAND_MAX * 2.0f - 1.0f;
    v[i] = (float)rand() / RAND_MAX * 2.0f - 1.0f;
  }
  const VkDeviceSize at[4] = {q_at, k_at, v_at, o_at}, bytes[4] = {q_bytes, kv_bytes, kv_bytes, q_bytes};
  vkattn_buffer tensors[4];
  for (int i = 0; i < 4; ++i) {
    vkattn_vulkan_buffer range;
    vkattn_vulkan_buffer_init(&range);
    range.buffer = e.buffer;
    range.offset = at[i];
    range.size = bytes[i];
    range.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
    range.memory_properties = properties;
    range.mapped = e.mapped + at[i];
    VKATTN_TRY(vkattn_buffer_import_vulkan(context, &range, &tensors[i]));
  }

  vkattn_attention_desc desc;
  vkattn_attention_desc_init(&desc);
  desc.batch = 1;
  desc.q_heads = HEADS;
  desc.kv_heads = KV_HEADS;
  desc.q_len = Q_LEN;
  desc.kv_len = KV_LEN;
  desc.qk_dim = DIM;
  desc.v_dim = DIM;
  desc.causal = VKATTN_CAUSAL_BOTTOM_RIGHT;
  vkattn_attention_desc_set_dense_layouts(&desc);
  vkattn_plan plan;
  VKATTN_TRY(vkattn_plan_create(context, &desc, 0, &plan));
  vkattn_bindings bindings;
  vkattn_bindings_init(&bindings);
  bindings.q = tensors[0];
  bindings.k = tensors[1];
  bindings.v = tensors[2];
  bindings.out = tensors[3];
  vkattn_execution attention;
  vkattn_execution_init(&attention);
  attention.plan = plan;
  attention.bindings = &bindings;

  /* 3. One frame, one command buffer: produce Q, attend, consume O. */
  VkFence fence;
  VkFenceCreateInfo fence_info = {VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VK_TRY(vkCreateFence(e.device, &fence_info, NULL, &fence));
  const uint32_t q_count = (uint32_t)(q_bytes / 4);
  VkCommandBuffer frame = begin_commands(&e);
  record_affine(&e, frame, x_at, q_at, q_count, 0.5f, 0.25f);
  vkattn_vulkan_recording recording;
  vkattn_vulkan_recording_init(&recording);
  recording.command_buffer = frame;
  VKATTN_TRY(vkattn_record_vulkan(context, &attention, 1, &recording));
  record_affine(&e, frame, o_at, p_at, q_count, 2.0f, 0.0f);
  submit(&e, frame, VK_NULL_HANDLE, 0, VK_NULL_HANDLE, 0, fence);
  VK_TRY(vkWaitForFences(e.device, 1, &fence, VK_TRUE, UINT64_MAX));
  const double recorded_error = check_output(q, k, v, p);
  printf("recorded into the app's command buffer: max relative error %.2e\n", recorded_error);
  int failed = !(recorded_error <= 1e-5);

  /* 4. Asynchronous: the app's producer signals 1, vkattn waits for 1 and
   * signals 2, the app's consumer waits for 2; the host waits only for the
   * consumer's fence. */
  if (e.timeline) {
    memset(p, 0, q_bytes);
    VkSemaphoreTypeCreateInfo type = {VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO};
    type.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
    VkSemaphoreCreateInfo semaphore_info = {VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    semaphore_info.pNext = &type;
    VkSemaphore timeline;
    VK_TRY(vkCreateSemaphore(e.device, &semaphore_info, NULL, &timeline));
    VK_TRY(vkResetFences(e.device, 1, &fence));
    VkCommandBuffer produce = begin_commands(&e);
    record_affine(&e, produce, x_at, q_at, q_count, 0.5f, 0.25f);
    submit(&e, produce, VK_NULL_HANDLE, 0, timeline, 1, VK_NULL_HANDLE);
    const uint64_t one = 1, two = 2;
    vkattn_vulkan_sync sync;
    vkattn_vulkan_sync_init(&sync);
    sync.wait_semaphore_count = 1;
    sync.wait_semaphores = &timeline;
    sync.wait_values = &one;
    sync.signal_semaphore_count = 1;
    sync.signal_semaphores = &timeline;
    sync.signal_values = &two;
    uint64_t ticket = 0;
    VKATTN_TRY(vkattn_submit_vulkan(context, &attention, 1, &sync, &ticket));
    VkCommandBuffer consume = begin_commands(&e);
    record_affine(&e, consume, o_at, p_at, q_count, 2.0f, 0.0f);
    submit(&e, consume, timeline, 2, VK_NULL_HANDLE, 0, fence);
    VK_TRY(vkWaitForFences(e.device, 1, &fence, VK_TRUE, UINT64_MAX));
    const double async_error = check_output(q, k, v, p);
    printf("submitted between the app's submissions (timeline semaphore, ticket %llu): max relative error %.2e\n",
           (unsigned long long)ticket, async_error);
    failed |= !(async_error <= 1e-5);
    VK_TRY(vkQueueWaitIdle(e.queue));
    vkDestroySemaphore(e.device, timeline, NULL);
  } else {
    printf("no timeline semaphores on this device: the asynchronous frame is left out\n");
  }

  /* vkattn's objects first, then the engine's. */
  vkattn_plan_destroy(plan);
  for (int i = 0; i < 4; ++i) vkattn_buffer_destroy(tensors[i]);
  vkattn_context_destroy(context);
  free(q);
  vkDestroyFence(e.device, fence, NULL);
  vkDestroyBuffer(e.device, e.buffer, NULL);
  vkFreeMemory(e.device, e.memory, NULL);
  vkDestroyDescriptorPool(e.device, e.descriptor_pool, NULL);
  vkDestroyPipeline(e.device, e.pipeline, NULL);
  vkDestroyPipelineLayout(e.device, e.pipeline_layout, NULL);
  vkDestroyDescriptorSetLayout(e.device, e.set_layout, NULL);
  vkDestroyCommandPool(e.device, e.pool, NULL);
  vkDestroyDevice(e.device, NULL);
  vkDestroyInstance(e.instance, NULL);
  printf(failed ? "interop FAILED\n" : "interop OK\n");
  return failed;
}
