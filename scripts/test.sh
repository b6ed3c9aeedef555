#!/usr/bin/env bash
# Builds and runs every test: the release build with all tests (unit, CLI, fake NVML, installed
# package, core purity, Python, pip install), the crash-consistency stress test, the fuzzers (scripts/fuzz.sh,
# FUZZ_SECONDS each), the lint (scripts/lint.sh), then the ASan+UBSan build of the tests, then the TSan build of the
# concurrency tests. Expects the packages of scripts/setup.sh --tests.
set -euo pipefail
cd "$(dirname "$0")/.."
# Tests that need a tool from `setup.sh --tests` (Chromium, Prometheus, Slurm, node) fail instead of skipping.
export WHISPER_VRAM_REQUIRE_TEST_TOOLS=1

echo "== default build + tests"
cmake --workflow --preset default

echo "== crash consistency: crash_stress (SIGKILLs runs, waiters and jobs; checks the ledger every round)"
ctest --test-dir build/default -L stress --output-on-failure -V

echo "== fuzzing: every libFuzzer harness in fuzz/ for ${FUZZ_SECONDS:-10} s, two at a time (scripts/fuzz.sh)"
FUZZ_SECONDS=${FUZZ_SECONDS:-10} FUZZ_JOBS=${FUZZ_JOBS:-2} ./scripts/fuzz.sh

echo "== lint: clang-format (0 warnings) and clang-tidy on the default build's compile_commands.json"
./scripts/lint.sh build/default

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build + tests"
cmake --workflow --preset asan

echo "== ThreadSanitizer build + concurrency tests"
cmake --workflow --preset tsan
