# loftlab: top-level entry points. Every target installs missing Debian packages first.
#   make            build (Release, -O3, warnings on) into build/
#   make test       build with -Werror into build-test/ and run every test through ctest
#   make test-kernels  the Catch2 tests under each OpenBLAS kernel set this CPU runs
#   make run        build and run the default sweep, print its table
#   make bench      build and run the benchmarks (see bench/README.md)
#   make deps       install what packages.txt lists (idempotent, quick when all present)
#   make format     clang-format the C++ sources
#   make format-check  fail (listing the drift) if a C++ source differs from .clang-format

JOBS   ?= $(shell nproc)
BUILD  ?= build
TBUILD ?= build-test
CMAKE_FLAGS ?=
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PY     := /usr/bin/python3

.PHONY: all build deps test test-kernels run bench format format-check clean reproduce reproduce-quick

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

run: build
	./sweeps/default_run.sh $(BUILD)/loftlab

bench: build
	cmake --build $(BUILD) -j$(JOBS) --target loftlab_bench
	./bench/run.sh $(BUILD)

reproduce: build
	./sweeps/reproduce.sh $(BUILD)/loftlab full

reproduce-quick: build
	./sweeps/reproduce.sh $(BUILD)/loftlab quick

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

format-check: deps
	clang-format --dry-run -Werror $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD) $(TBUILD)
