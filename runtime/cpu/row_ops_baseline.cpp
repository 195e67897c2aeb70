// The row kernels compiled for the baseline instruction-set level (flags in
// CMakeLists.txt); see row_ops_impl.h.
#define VKATTN_ISA baseline
#define VKATTN_ISA_NAME "baseline"
#include "row_ops_impl.h"
