#version 450
// Test only: reads element pc.index of a buffer bound with 16 bytes, far
// past its end when the test asks. GPU-assisted validation must report it
// (tests/vulkan/test_gpu_assisted_validation.cpp), which proves that the
// instrumentation the conformance run relies on is active.
layout(local_size_x = 1) in;
layout(std430, set = 0, binding = 0) readonly buffer Input { uint data[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Output { uint result[]; };
layout(push_constant) uniform Index { uint index; } pc;

void main() { result[0] = data[pc.index]; }
