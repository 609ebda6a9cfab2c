#pragma once
// LAPACKE and CBLAS for C++: lapack.h spells complex types as C99 `float _Complex`, which
// -Wpedantic rejects in C++; give it std::complex first (we use only real routines).
#include <complex>
#define lapack_complex_float std::complex<float>
#define lapack_complex_double std::complex<double>
#include <cblas.h>
#include <lapacke.h>

// The two stages of LAPACK's ?sytrd_2stage, which LAPACKE does not wrap: dense symmetric to band
// (?sytrd_sy2sb) and band to tridiagonal (?sytrd_sb2st). Fortran symbols, with the hidden length
// of each character argument last.
extern "C" {
void ssytrd_sy2sb_(const char* uplo, const lapack_int* n, const lapack_int* kd, float* a,
                   const lapack_int* lda, float* ab, const lapack_int* ldab, float* tau,
                   float* work, const lapack_int* lwork, lapack_int* info, size_t uplo_len);
void dsytrd_sy2sb_(const char* uplo, const lapack_int* n, const lapack_int* kd, double* a,
                   const lapack_int* lda, double* ab, const lapack_int* ldab, double* tau,
                   double* work, const lapack_int* lwork, lapack_int* info, size_t uplo_len);
void ssytrd_sb2st_(const char* stage1, const char* vect, const char* uplo, const lapack_int* n,
                   const lapack_int* kd, float* ab, const lapack_int* ldab, float* d, float* e,
                   float* hous, const lapack_int* lhous, float* work, const lapack_int* lwork,
                   lapack_int* info, size_t stage1_len, size_t vect_len, size_t uplo_len);
void dsytrd_sb2st_(const char* stage1, const char* vect, const char* uplo, const lapack_int* n,
                   const lapack_int* kd, double* ab, const lapack_int* ldab, double* d, double* e,
                   double* hous, const lapack_int* lhous, double* work, const lapack_int* lwork,
                   lapack_int* info, size_t stage1_len, size_t vect_len, size_t uplo_len);
}
