#include "favor.h"

#include <cmath>
#include <vector>

#include "splitmix.h"

namespace vkattn {

namespace {

// Standard Gaussians from splitmix64 (Box-Muller).
class Gaussians {
 public:
  explicit Gaussians(uint64_t seed) : state_(seed) {}
  double next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    // Box-Muller on two uniforms in (0, 1].
    const double u1 = uniform(), u2 = uniform();
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 6.283185307179586 * u2;
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return radius * std::cos(angle);
  }

 private:
  double uniform() { return (static_cast<double>(splitmix64_next(&state_) >> 11) + 1.0) * 0x1.0p-53; }

  uint64_t state_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace

void favor_orthogonal_features(int64_t num_features, int64_t dim, uint64_t seed, float* out) {
  Gaussians gaussians(seed);
  const size_t d = static_cast<size_t>(dim);
  std::vector<double> block;
  for (int64_t first = 0; first < num_features; first += dim) {
    const size_t rows = static_cast<size_t>(std::min(dim, num_features - first));
    block.assign(rows * d, 0.0);
    for (double& x : block) x = gaussians.next();
    // Modified Gram-Schmidt: each row loses its components along the rows
    // before it, then is normalised. (Gaussian rows, at most dim of them,
    // are linearly independent with probability 1; a degenerate row would
    // stay zero rather than divide by zero.)
    for (size_t r = 0; r < rows; ++r) {
      double* row = &block[r * d];
      for (size_t prev = 0; prev < r; ++prev) {
        const double* basis = &block[prev * d];
        double dot = 0.0;
        for (size_t e = 0; e < d; ++e) dot += row[e] * basis[e];
        for (size_t e = 0; e < d; ++e) row[e] -= dot * basis[e];
      }
      double norm = 0.0;
      for (size_t e = 0; e < d; ++e) norm += row[e] * row[e];
      norm = std::sqrt(norm);
      for (size_t e = 0; e < d; ++e) row[e] = norm > 0.0 ? row[e] / norm : 0.0;
    }
    for (size_t r = 0; r < rows; ++r) {
      double length = 0.0;  // of an independent Gaussian vector
      for (size_t e = 0; e < d; ++e) {
        const double g = gaussians.next();
        length += g * g;
      }
      length = std::sqrt(length);
      float* target = out + (static_cast<size_t>(first) + r) * d;
      for (size_t e = 0; e < d; ++e) target[e] = static_cast<float>(block[r * d + e] * length);
    }
  }
}

}  // namespace vkattn
