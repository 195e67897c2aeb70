#version 450
// The interop sample's and tests' "app" shader: dst[i] = a * src[i] + b.
// It stands for an engine's own work around attention: one that produces Q,
// one that consumes O.
layout(local_size_x = 64) in;
layout(std430, set = 0, binding = 0) readonly buffer Source { float src[]; };
layout(std430, set = 0, binding = 1) writeonly buffer Destination { float dst[]; };
layout(push_constant) uniform Push {
  uint count;
  float a;
  float b;
} pc;

void main() {
  const uint i = gl_GlobalInvocationID.x;
  if (i < pc.count) {
    precise float scaled = pc.a * src[i];  // no fused multiply-add: the host computes the same bits
    dst[i] = scaled + pc.b;
  }
}
