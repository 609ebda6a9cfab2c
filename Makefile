# loftlab: top-level entry points. Every target installs missing Debian packages first.
#   make            build (Release, -O3, warnings on) into build/
#   make test       build with -Werror into build-test/ and run every test through ctest
#   make test-kernels  the Catch2 tests under each OpenBLAS kernel set this CPU runs
#   make test-sanitize the Catch2 tests under AddressSanitizer + UBSan (clang), in build-sanitize/
#   make fuzz       each libFuzzer harness of tests/fuzz for FUZZ_SECONDS (default 600)
#   make fuzz-replay   every harness over its checked-in corpus (fast; what CI runs)
# The sanitizer tests and the fuzz harnesses share one clang build (ASan + UBSan + coverage
# instrumentation), so CI compiles the project twice, not three times.
#   make run        build and run the default sweep, print its table
#   make bench      build and run the benchmarks (see bench/README.md)
#   make deps       install what packages.txt lists (idempotent, quick when all present)
#   make format     clang-format the C++ sources
#   make format-check  fail (listing the drift) if a C++ source differs from .clang-format

JOBS   ?= $(shell nproc)
BUILD  ?= build
TBUILD ?= build-test
SBUILD ?= build-sanitize
FUZZ_SECONDS ?= 600
CMAKE_FLAGS ?=
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PY     := /usr/bin/python3

.PHONY: all build deps test test-kernels test-sanitize fuzz fuzz-build fuzz-replay run bench format format-check clean reproduce reproduce-quick

all: build

deps:
	@missing=$$(grep -v '^\s*#' packages.txt | grep -v '^\s*$$' | while read -r p; do \
	    dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q 'install ok installed' || echo "$$p"; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing" $$missing; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "deps: all packages present"; fi

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

$(TBUILD)/CMakeCache.txt:
	cmake -S . -B $(TBUILD) -DCMAKE_BUILD_TYPE=Release -DLOFTLAB_WERROR=ON $(CMAKE_FLAGS)

test: deps $(TBUILD)/CMakeCache.txt
	cmake --build $(TBUILD) -j$(JOBS)
	cd $(TBUILD) && ctest --output-on-failure -j$(JOBS)

test-kernels: deps $(TBUILD)/CMakeCache.txt
	cmake --build $(TBUILD) -j$(JOBS)
	./tests/kernels.sh $(TBUILD)

# Sanitizer options: leaks are errors (third-party ones listed, with why, in the suppressions
# file); the first UB report ends the process.
SAN_ENV := ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:check_initialization_order=1 \
  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitize/lsan.supp:print_suppressions=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

$(SBUILD)/CMakeCache.txt:
	CC=clang-14 CXX=clang++-14 cmake -S . -B $(SBUILD) -DCMAKE_BUILD_TYPE=Release -DLOFTLAB_WERROR=ON \
	  -DLOFTLAB_SANITIZE=ON -DLOFTLAB_FUZZ=ON $(CMAKE_FLAGS)

test-sanitize: deps $(SBUILD)/CMakeCache.txt
	$(SAN_ENV) cmake --build $(SBUILD) -j$(JOBS)
	cd $(SBUILD) && $(SAN_ENV) ctest --output-on-failure -j$(JOBS) -E '^py: '

fuzz-build: deps $(SBUILD)/CMakeCache.txt
	cmake --build $(SBUILD) -j$(JOBS) --target loft_fuzzers

fuzz-replay: fuzz-build
	$(SAN_ENV) tests/fuzz/run.sh replay $(SBUILD)

fuzz: fuzz-build
	$(SAN_ENV) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh fuzz $(SBUILD)

run: build
	./sweeps/default_run.sh $(BUILD)/loftlab

bench: build
	cmake --build $(BUILD) -j$(JOBS) --target loftlab_bench
	./bench/run.sh $(BUILD)

reproduce: build
	./sweeps/reproduce.sh $(BUILD)/loftlab full

reproduce-quick: build
	./sweeps/reproduce.sh $(BUILD)/loftlab quick

# The C++ sources: every .cpp/.hpp of the source folders (build folders are not among them).
CXX_SOURCES = $(shell find bench experiments lib tests -name '*.cpp' -o -name '*.hpp' | sort)

format: deps
	clang-format -i $(CXX_SOURCES)

format-check: deps
	clang-format --dry-run -Werror $(CXX_SOURCES)

clean:
	rm -rf $(BUILD) $(TBUILD) $(SBUILD)
