#version 450
// Device probes for vkattn-bench: the FMA rate (MODE 0) and the read
// bandwidth (MODE 1) the device reaches, against which the attention kernels
// are judged. Uses bindings of the common descriptor set layout: 1 (input)
// and 9 (output).
#extension GL_EXT_control_flow_attributes : enable

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint MODE = 0;        // 0: FMA rate, 1: read bandwidth
layout(constant_id = 2) const uint ITERATIONS = 256;  // FMA: outer iterations; bandwidth: floats per invocation
layout(constant_id = 3) const uint CONTIGUOUS = 0;  // bandwidth: one contiguous chunk per invocation

layout(std430, set = 0, binding = 1) readonly buffer Input { vec4 data_in[]; };
layout(std430, set = 0, binding = 9) writeonly buffer Output { float data_out[]; };

void main() {
  const uint id = gl_GlobalInvocationID.x;
  const uint invocations = gl_NumWorkGroups.x * WG;
  if (MODE == 0u) {
    // 8 independent chains of 16 unrolled FMAs per iteration (the outer loop
    // stays short: some drivers cap loop iterations per invocation).
    float acc[8];
    [[unroll]] for (uint k = 0u; k < 8u; ++k) acc[k] = float(id + k) * 1e-7;
    for (uint i = 0u; i < ITERATIONS; ++i) {
      [[unroll]] for (uint u = 0u; u < 16u; ++u) {
        [[unroll]] for (uint k = 0u; k < 8u; ++k) acc[k] = fma(acc[k], 0.999999, 1e-7);
      }
    }
    float sum = 0.0;
    [[unroll]] for (uint k = 0u; k < 8u; ++k) sum += acc[k];
    data_out[id] = sum;
  } else {
    vec4 sum = vec4(0.0);
    const uint vectors = ITERATIONS / 4u;
    if (CONTIGUOUS != 0u) {
      for (uint i = 0u; i < vectors; ++i) sum += data_in[id * vectors + i];
    } else {
      for (uint i = 0u; i < vectors; ++i) sum += data_in[i * invocations + id];
    }
    data_out[id] = sum.x + sum.y + sum.z + sum.w;
  }
}
