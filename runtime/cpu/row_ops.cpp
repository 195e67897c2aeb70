// Chooses the row kernels for this CPU: the widest instruction-set level the
// CPU supports among those this build compiled.
#include <cpuinfo.h>

#include "row_ops.h"

namespace vkattn {
namespace cpu {

namespace baseline {
extern const RowOps kRowOps;
}
#if defined(VKATTN_HAVE_X86_ISA_LEVELS)
namespace avx2 {
extern const RowOps kRowOps;
}
namespace avx512 {
extern const RowOps kRowOps;
}
#endif

int available_row_ops(const RowOps** out, int capacity) {
  int count = 0;
  auto add = [&](const RowOps* ops) {
    if (count < capacity) out[count] = ops;
    ++count;
  };
#if defined(VKATTN_HAVE_X86_ISA_LEVELS)
  if (cpuinfo_initialize()) {
    const bool avx2 = cpuinfo_has_x86_avx2() && cpuinfo_has_x86_fma3() && cpuinfo_has_x86_f16c();
    if (avx2 && cpuinfo_has_x86_avx512f() && cpuinfo_has_x86_avx512bw() && cpuinfo_has_x86_avx512dq() &&
        cpuinfo_has_x86_avx512vl()) {
      add(&avx512::kRowOps);
    }
    if (avx2) add(&avx2::kRowOps);
  }
#endif
  add(&baseline::kRowOps);
  return count;
}

const RowOps& row_ops() {
  static const RowOps* const chosen = [] {
    const RowOps* best[1] = {nullptr};
    available_row_ops(best, 1);
    return best[0];
  }();
  return *chosen;
}

}  // namespace cpu
}  // namespace vkattn
