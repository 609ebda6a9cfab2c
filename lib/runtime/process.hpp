// Process-wide settings that must be in the environment before libgomp and OpenBLAS load, so a
// program applies them by re-executing itself once at the top of main().
#pragma once

namespace loft::runtime {

// Sets, only where the user has set neither:
//  - GOMP_SPINCOUNT=2000 (unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set): OpenBLAS's LAPACK
//    runs thousands of short parallel regions (a sgemv per column in the bidiagonalisation), so
//    how OpenMP threads wait between them decides the speed. Measured on 2 cores, LoftQ 512x512
//    nf2 r=64 T=5 exact (bench/README.md, "OpenMP waiting"): libgomp's default spin (300k) is
//    20x slower at load 4; PASSIVE (futex sleep at once) is 6x slower on a quiet machine and
//    ~1.5x at load 4; spinning 2000 rounds before sleeping is within 5% of the best on a quiet
//    machine and the best at load 4. Only under heavy oversubscription (load 10) is PASSIVE
//    faster (2.4x): on a crowded machine set OMP_WAIT_POLICY=PASSIVE yourself;
//  - OPENBLAS_CORETYPE to better_openblas_core() when OpenBLAS fell back to its generic kernels.
// If either changed, re-executes /proc/self/exe with the same argv (and so never returns);
// otherwise, or if exec fails, returns and the program carries on with what it has.
// A value the user set is never replaced: OPENBLAS_CORETYPE=Prescott restores OpenBLAS's choice.
void configure_and_reexec(char** argv);

}  // namespace loft::runtime
