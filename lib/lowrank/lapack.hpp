#pragma once
// LAPACKE and CBLAS for C++: lapack.h spells complex types as C99 `float _Complex`, which
// -Wpedantic rejects in C++; give it std::complex first (we use only real routines).
#include <complex>
#define lapack_complex_float std::complex<float>
#define lapack_complex_double std::complex<double>
#include <cblas.h>
#include <lapacke.h>
