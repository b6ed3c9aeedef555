#!/usr/bin/env bash
# Builds and runs every test: the default build (-O2, no debug information) with all tests (unit, CLI, fake NVML, installed
# package, core purity, Python, pip install), the crash-consistency stress test, the lint (scripts/lint.sh),
# the ASan+UBSan build (clang) of the tests and of the libFuzzer harnesses and its tests, the fuzzers
# (scripts/fuzz.sh, FUZZ_SECONDS each), then the TSan build of the concurrency tests. Expects the
# packages of scripts/setup.sh --tests.
set -euo pipefail
cd "$(dirname "$0")/.."
# Tests that need a tool from `setup.sh --tests` (Chromium, Prometheus, Slurm, node) fail instead of skipping.
export WHISPER_VRAM_REQUIRE_TEST_TOOLS=1

# Each stage says when it starts and how long the one before took (CI's budget is 40 min on 2 cores).
stage_name=""
stage_start=$SECONDS
stage() {
  if [[ -n $stage_name ]]; then echo "== $stage_name: $((SECONDS - stage_start)) s"; fi
  stage_name=$1
  stage_start=$SECONDS
  echo "== $1"
}
trap 'stage_status=$?; if [[ -n $stage_name ]]; then echo "== $stage_name: $((SECONDS - stage_start)) s (status $stage_status); all stages: $SECONDS s"; fi' EXIT

stage "default build + tests"
cmake --workflow --preset default

stage "crash consistency: crash_stress (SIGKILLs runs, waiters and jobs; checks the ledger every round)"
ctest --test-dir build/default -L stress --output-on-failure -V

stage "lint: clang-format (0 warnings) and clang-tidy on the default build's compile_commands.json"
./scripts/lint.sh build/default

stage "AddressSanitizer + UndefinedBehaviorSanitizer build (clang; the libFuzzer harnesses too) + tests"
cmake --workflow --preset asan

stage "fuzzing: every libFuzzer harness in fuzz/ for ${FUZZ_SECONDS:-15} s, two at a time (scripts/fuzz.sh, built above)"
FUZZ_SECONDS=${FUZZ_SECONDS:-15} FUZZ_JOBS=${FUZZ_JOBS:-2} ./scripts/fuzz.sh

stage "ThreadSanitizer build + concurrency tests"
cmake --workflow --preset tsan
