// FAVOR+ orthogonal random features (vkattn_favor_features).
#pragma once

#include <cstdint>

namespace vkattn {

// W [num_features, dim] into out: blocks of `dim` rows orthonormalised from
// standard Gaussian draws (modified Gram-Schmidt in double), each row
// scaled to the norm of an independent Gaussian vector of `dim` entries.
// Gaussians come from splitmix64 and Box-Muller, so a seed always gives
// the same features. Sizes are checked by the caller.
void favor_orthogonal_features(int64_t num_features, int64_t dim, uint64_t seed, float* out);

}  // namespace vkattn
