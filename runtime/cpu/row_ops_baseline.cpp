// The row kernels compiled for the baseline instruction-set level (flags in
// CMakeLists.txt): the portable build, which is the NEON level on arm64;
// see row_ops_impl.h.
#define VKATTN_ISA baseline
#if defined(__aarch64__) && defined(__ARM_NEON)
#define VKATTN_ISA_NAME "neon"
#else
#define VKATTN_ISA_NAME "baseline"
#endif
#include "row_ops_impl.h"
