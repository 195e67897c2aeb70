// Rotary position embedding (include/vkattn.h, vkattn_rope): the one place
// that turns (style, theta, dims) into what kernels consume.
//
// Accuracy at any position. Pair p turns by pos * f_p radians, f_p =
// theta^(-2p/R); in f32 the product alone is off by up to |pos * f_p| * 2^-24
// (2e-3 rad at position 32768), and GPU sine and cosine are only specified
// near [-pi, pi]. So each frequency is kept as a fraction of a turn, in
// 64-bit fixed point (turns_p = frac(f_p / 2pi) * 2^64): the angle of an
// integer position modulo one turn is then pos * turns_p modulo 2^64, an
// exact integer product, and only the final reduced angle (|a| <= pi) is a
// float. The Vulkan shaders do the same with 32-bit words
// (shaders/rope.glsl); the CPU evaluates the reduced angle in double.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "vkattn.h"

namespace vkattn {

struct Rope {
  vkattn_rope_style style = VKATTN_ROPE_NONE;
  int64_t dims = 0;              // R: rotated dimensions (even), 0 when off
  std::vector<uint64_t> turns;   // [R / 2]: frac(f_p / 2pi) in units of 2^-64 turns

  bool enabled() const { return style != VKATTN_ROPE_NONE; }

  // From validated fields (make_rope in problem.h).
  static Rope make(vkattn_rope_style style, double theta, int64_t dims) {
    Rope rope;
    rope.style = style;
    if (style == VKATTN_ROPE_NONE) return rope;
    rope.dims = dims;
    rope.turns.resize(static_cast<size_t>(dims / 2));
    const double two_pi = 6.283185307179586476925286766559;
    for (int64_t p = 0; p < dims / 2; ++p) {
      // f_p / 2pi in double (53 bits); its fraction to 64 bits. The error,
      // about 2^-53 relative, turns into pos * 2^-53 * 2pi radians: 2e-11
      // at position 32768.
      const double frequency = std::pow(theta, -2.0 * static_cast<double>(p) / static_cast<double>(dims));
      double whole = 0.0;
      const double fraction = std::modf(frequency / two_pi, &whole);
      const double high = std::floor(std::ldexp(fraction, 32));
      const double low = std::floor(std::ldexp(std::ldexp(fraction, 32) - high, 32));
      rope.turns[static_cast<size_t>(p)] = (static_cast<uint64_t>(high) << 32) | static_cast<uint64_t>(low);
    }
    return rope;
  }

  // cos and sin of pair p's angle at `position` (any int64).
  void angle(int64_t position, int64_t p, float* cos_out, float* sin_out) const {
    // pos * turns modulo 2^64 (unsigned wrap-around is that modulo; a
    // negative position wraps to the same residue), read as a signed
    // fraction of a turn in [-1/2, 1/2).
    const uint64_t reduced = static_cast<uint64_t>(position) * turns[static_cast<size_t>(p)];
    const double radians = static_cast<double>(static_cast<int64_t>(reduced)) * 3.4061215800865545e-19;  // 2pi / 2^64
    *cos_out = static_cast<float>(std::cos(radians));
    *sin_out = static_cast<float>(std::sin(radians));
  }

  // Rotates row[0, dims) (f32) in place to `position`.
  void rotate(float* row, int64_t position) const {
    if (!enabled()) return;
    const int64_t half = dims / 2;
    for (int64_t p = 0; p < half; ++p) {
      float c = 0.0f, s = 0.0f;
      angle(position, p, &c, &s);
      const int64_t a = style == VKATTN_ROPE_NEOX ? p : 2 * p;
      const int64_t b = style == VKATTN_ROPE_NEOX ? p + half : 2 * p + 1;
      const float x = row[a], y = row[b];
      row[a] = x * c - y * s;
      row[b] = x * s + y * c;
    }
  }
};

}  // namespace vkattn
