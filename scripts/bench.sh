#!/usr/bin/env bash
# Builds and runs the admission benchmark, then prints each cost as a ratio against the baselines
# measured in the same run. Usage: scripts/bench.sh [extra Google Benchmark flags]
# WHISPER_VRAM_BENCH_DIR picks where the ledger lives (default /tmp; the state folder default is
# $XDG_RUNTIME_DIR/whisper-vram, often a tmpfs).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset default >/dev/null
cmake --build --preset default --target whisper_vram_admission_bench -- -j2 >/dev/null
out=$(mktemp)
trap 'rm -f "$out"' EXIT
./build/default/bench/whisper_vram_admission_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_format=json "$@" >"$out"
jq -r '
  [.benchmarks[] | select(.aggregate_name == "median") | {key: .run_name, value: .real_time}] | from_entries as $t
  | "median real time per round trip (ns):",
    ($t | to_entries[] | "  \(.key): \(.value | . * 10 | round / 10)"),
    "ratios:",
    "  in-process reserve+release / mutex lock+unlock       = \($t.inprocess_reserve_release / $t.baseline_mutex_lock_unlock | . * 10 | round / 10)",
    "  ledger reserve+release     / flock lock+unlock       = \($t.ledger_reserve_release / $t.baseline_flock_lock_unlock | . * 10 | round / 10)",
    "  ledger reserve+release     / open+flock+unlock+close = \($t.ledger_reserve_release / $t.baseline_open_flock_close | . * 10 | round / 10)",
    "  ledger reserve+release     / in-process              = \($t.ledger_reserve_release / $t.inprocess_reserve_release | . * 10 | round / 10)"
' "$out"
echo "context: $(jq -r '.context | "\(.num_cpus) CPUs at \(.mhz_per_cpu) MHz, build \(.library_build_type)"' "$out")"
