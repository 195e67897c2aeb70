// The row kernels compiled for the avx2 instruction-set level (flags in
// CMakeLists.txt); see row_ops_impl.h.
#define VKATTN_ISA avx2
#define VKATTN_ISA_NAME "avx2"
#include "row_ops_impl.h"
