// The row kernels compiled for the avx512 instruction-set level (flags in
// CMakeLists.txt); see row_ops_impl.h.
#define VKATTN_ISA avx512
#define VKATTN_ISA_NAME "avx512"
#include "row_ops_impl.h"
