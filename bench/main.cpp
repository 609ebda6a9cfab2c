// loftlab_bench: every bench/*.cpp registers its Google Benchmark cases; this is the one main.
#include <benchmark/benchmark.h>

BENCHMARK_MAIN();
