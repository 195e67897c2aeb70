// RoPE angles, as runtime/rope.h defines them: pair p's frequency is a
// 64-bit fixed-point fraction of a turn (two words, high first), so the
// angle of an integer position modulo one turn is position * turns modulo
// 2^64, an exact integer product of which the top 32 bits are kept. The
// sine and cosine come from polynomials on the reduced angle (|x| <= pi/4,
// truncation error below 2e-9), not from sin() and cos(), whose accuracy
// Vulkan bounds only to 2^-11.

// (cos, sin) of the angle position * turns.
vec2 rope_cos_sin(int position, uint turns_high, uint turns_low) {
  const uint p = uint(position);
  const uint p_high = position < 0 ? 0xffffffffu : 0u;  // the sign-extended upper word
  uint carry_word, low_word;
  umulExtended(p, turns_low, carry_word, low_word);
  const uint t = carry_word + p * turns_high + p_high * turns_low;  // 2^-32 turns, modulo one turn
  const uint quadrant = (t + 0x20000000u) >> 30u;                   // nearest quarter turn (4 wraps to 0)
  const float x = float(int(t - (quadrant << 30u))) * 1.4629180792671596e-09;  // * 2pi / 2^32: |x| <= pi/4
  const float x2 = x * x;
  const float s = x * (1.0 + x2 * (-1.6666666666666666e-01 + x2 * (8.3333333333333332e-03 +
                  x2 * (-1.9841269841269841e-04 + x2 * 2.7557319223985893e-06))));
  const float c = 1.0 + x2 * (-0.5 + x2 * (4.1666666666666664e-02 + x2 * (-1.3888888888888889e-03 +
                  x2 * (2.4801587301587302e-05 + x2 * -2.7557319223985888e-07))));
  switch (quadrant & 3u) {
    case 0u: return vec2(c, s);
    case 1u: return vec2(-s, c);
    case 2u: return vec2(-c, -s);
    default: return vec2(s, -c);
  }
}

// Where dimension d (< dims) of a head finds its pair: the pair index p,
// the partner dimension, and the sign of the partner's term
// (x' = x cos - y sin for the first of a pair, y' = y cos + x sin for the
// second). NeoX pairs (p, p + dims/2); GPT-J pairs (2p, 2p + 1).
void rope_pair(bool neox, uint dims, uint d, out uint p, out uint partner, out float sign) {
  if (neox) {
    const uint half_dims = dims >> 1u;
    const bool first = d < half_dims;
    p = first ? d : d - half_dims;
    partner = first ? d + half_dims : d - half_dims;
    sign = first ? -1.0 : 1.0;
  } else {
    p = d >> 1u;
    partner = d ^ 1u;
    sign = (d & 1u) == 0u ? -1.0 : 1.0;
  }
}
