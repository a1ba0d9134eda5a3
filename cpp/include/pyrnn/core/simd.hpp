// Compiler hints for the row loops that every family's kernels are built from.
#pragma once

// Row pointers in the fused loops never alias; saying so lets the compiler vectorize them.
#define PYRNN_RESTRICT __restrict__

// The row loops are compiled for AVX-512, AVX2+FMA and baseline x86-64, and the loader picks the best
// the CPU has (GCC function multiversioning): 8 or 16 elements per instruction, portable binary.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) && defined(__linux__)
#define PYRNN_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PYRNN_SIMD_CLONES
#endif
