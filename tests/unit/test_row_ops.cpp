// The CPU backend's vector helpers: exp accuracy, online softmax step.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "runtime/cpu/row_ops.h"

using vkattn::cpu::exp_nonpositive;

TEST_CASE("exp_nonpositive is accurate to 2e-7 relative on [-87.3, 0]") {
  double worst = 0.0;
  for (int i = 0; i <= 2000000; ++i) {
    const float x = -87.3f * static_cast<float>(i) / 2000000.0f;
    const double want = std::exp(static_cast<double>(x));
    const double got = exp_nonpositive(x);
    worst = std::fmax(worst, std::fabs(got - want) / want);
  }
  CHECK(worst < 2e-7);
}

TEST_CASE("exp_nonpositive handles -inf, tiny results and NaN") {
  CHECK(exp_nonpositive(-std::numeric_limits<float>::infinity()) == 0.0f);
  CHECK(exp_nonpositive(-1000.0f) == 0.0f);
  CHECK(exp_nonpositive(-3.4e38f) == 0.0f);
  CHECK(exp_nonpositive(0.0f) == 1.0f);
  CHECK(std::isnan(exp_nonpositive(std::numeric_limits<float>::quiet_NaN())));
}

TEST_CASE("softmax_step keeps the running max and sum of a split row exact") {
  // Two halves of one row processed in turn give the same normaliser as the
  // whole row at once.
  std::vector<float> row = {0.5f, -1.0f, 3.0f, 2.0f, -7.0f, 1.25f, 0.0f, 4.5f, -2.0f, 0.1f,
                            0.2f, 0.3f, -0.4f, 2.2f, 1.1f, -3.3f, 0.7f, 0.9f, 1.9f, -0.8f};
  double want_max = -1e300, want_sum = 0;
  for (float s : row) want_max = std::fmax(want_max, s);
  for (float s : row) want_sum += std::exp(s - want_max);
  float m = vkattn::cpu::kScoreFloor, l = 0.0f;
  std::vector<float> first(row.begin(), row.begin() + 7), second(row.begin() + 7, row.end());
  const float alpha0 = vkattn::cpu::softmax_step(first.data(), 7, &m, &l);
  CHECK(alpha0 == 0.0f);  // from the floor: nothing accumulated yet to rescale
  const float alpha1 = vkattn::cpu::softmax_step(second.data(), 13, &m, &l);
  CHECK(m == 4.5f);
  CHECK(alpha1 == doctest::Approx(std::exp(3.0 - 4.5)).epsilon(1e-6));
  CHECK(l == doctest::Approx(want_sum).epsilon(1e-6));
  CHECK(second[0] == doctest::Approx(1.0).epsilon(1e-7));  // exp(4.5 - 4.5)
}

TEST_CASE("softmax_step on a row of hidden keys changes nothing") {
  std::vector<float> hidden(9, -std::numeric_limits<float>::infinity());
  float m = vkattn::cpu::kScoreFloor, l = 0.0f;
  const float alpha = vkattn::cpu::softmax_step(hidden.data(), 9, &m, &l);
  CHECK(alpha == 1.0f);
  CHECK(l == 0.0f);
  CHECK(m == vkattn::cpu::kScoreFloor);
  for (float p : hidden) CHECK(p == 0.0f);
}

TEST_CASE("accumulate_weighted_rows never lets a value under a zero weight through") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float p[] = {0.5f, 0.0f, 0.25f};  // one row, three keys
  const float v[] = {1.0f, 2.0f, nan, nan, 4.0f, 8.0f};
  float out[2] = {0.0f, 0.0f};
  vkattn::cpu::accumulate_weighted_rows(p, 1, 3, v, 2, out);
  CHECK(out[0] == 1.5f);
  CHECK(out[1] == 3.0f);
}
