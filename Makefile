# Chorus: the entry points a person types. Every target installs what it needs first.
#   make run    build and start a local three-node cluster
#   make test   build and run the whole test suite (unit, simulator sweep, integration,
#               sanitizer build, fuzzers for a bounded time)
MAKEFLAGS += --no-print-directory
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 30
BUILD_TYPE ?= RelWithDebInfo

.PHONY: all deps build build-asan build-fuzz run test test-unit test-asan test-fuzz clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null
	@cmake --build build -j $(JOBS)

build-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCHORUS_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)

build-fuzz: deps
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCHORUS_SANITIZE=ON -DCHORUS_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS)

run: build
	@scripts/run-cluster.sh

test-unit: build
	@cd build && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

test-asan: build-asan
	@cd build-asan && ctest --output-on-failure -j $(JOBS) -LE slow $(CTEST_ARGS)

test-fuzz: build-fuzz
	@scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

test: test-unit test-asan test-fuzz
	@echo "make test: all suites passed"

clean:
	rm -rf build build-asan build-fuzz
