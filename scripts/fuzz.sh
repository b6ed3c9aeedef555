#!/usr/bin/env bash
# Builds the libFuzzer harnesses (target `fuzzers` of the asan preset: clang, ASan+UBSan, the build the
# sanitizer tests use, so scripts/test.sh builds them once) and runs
# each for a bounded time on a copy of its seed corpus (fuzz/corpus/<parser>/ is never modified),
# after replaying fuzz/regressions/<parser>/. Fails when a harness finds something, printing the
# reproducer (a crash-/leak-/timeout-/oom- file) and the command that replays it.
# Usage: scripts/fuzz.sh [HARNESS...]   (default: every fuzz/fuzz_*.cpp but the replay driver)
# Environment: FUZZ_SECONDS (per harness, default 20), FUZZ_JOBS (harnesses at once, default 1),
# FUZZ_KEEP=1 keeps the work folder even when nothing was found.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-20}
jobs=${FUZZ_JOBS:-1}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: FUZZ_SECONDS='$seconds' is not a whole number of seconds ≥ 1" >&2; exit 2; }
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: FUZZ_JOBS='$jobs' is not a whole number ≥ 1" >&2; exit 2; }

echo "fuzz.sh: building the harnesses (preset asan, target fuzzers)"
cmake --preset asan >/dev/null
cmake --build --preset asan --target fuzzers

if (($# > 0)); then
  harnesses=("$@")
else
  mapfile -t harnesses < <(find fuzz -maxdepth 1 -name 'fuzz_*.cpp' ! -name fuzz_replay.cpp -printf '%f\n' |
    sed 's/^fuzz_//; s/\.cpp$//' | sort)
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/whisper-vram-fuzz-XXXXXX")
echo "fuzz.sh: ${#harnesses[@]} harnesses, ${seconds} s each, work folder $work"

# Runs one harness: regressions once each, then fuzzing for $seconds on a copy of the corpus.
# Its log is $work/<parser>.log; returns non-zero on a finding.
fuzz_one() {
  local parser=$1 binary=build/asan/fuzz/fuzz_$1
  local log=$work/$parser.log artifacts=$work/artifacts/$parser/ corpus=$work/corpus/$parser
  [[ -x $binary ]] || { echo "no harness binary $binary" >"$log"; return 1; }
  [[ -d fuzz/corpus/$parser ]] || { echo "no seed corpus fuzz/corpus/$parser" >"$log"; return 1; }
  mkdir -p "$artifacts" "$corpus"
  cp -r "fuzz/corpus/$parser/." "$corpus/"
  mapfile -t regressions < <(find "fuzz/regressions/$parser" -type f ! -name .gitkeep 2>/dev/null | sort)
  {
    for regression in "${regressions[@]}"; do
      # A regression that fails again is its own reproducer.
      "$binary" "$regression" || { echo "fuzz.sh: reproducer $regression (a regression) fails again"; return 1; }
    done
    "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
      -artifact_prefix="$artifacts" -print_final_stats=1 "$corpus"
  } >"$log" 2>&1
}

failed=()
pids=()
names=()
for parser in "${harnesses[@]}"; do
  fuzz_one "$parser" &
  pids+=($!)
  names+=("$parser")
  if ((${#pids[@]} >= jobs)); then
    if ! wait "${pids[0]}"; then failed+=("${names[0]}"); fi
    pids=("${pids[@]:1}")
    names=("${names[@]:1}")
  fi
done
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then failed+=("${names[$i]}"); fi
done

for parser in "${harnesses[@]}"; do
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$parser.log" | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -o 'cov: [0-9]*' "$work/$parser.log" | tail -1 || true)
  echo "fuzz.sh: $parser: $runs runs${cov:+, $cov}"
done
if ((${#failed[@]} > 0)); then
  for parser in "${failed[@]}"; do
    echo "fuzz.sh: FINDING in $parser (log: $work/$parser.log):" >&2
    grep -E 'FINDING|ERROR: |runtime error|SUMMARY|Test unit written|fails again' "$work/$parser.log" | head -20 >&2 || tail -30 "$work/$parser.log" >&2
    for reproducer in "$work/artifacts/$parser/"*; do
      [[ -f $reproducer ]] || continue
      echo "fuzz.sh: reproducer $reproducer — replay: build/asan/fuzz/fuzz_$parser '$reproducer';" \
        "keep it: cp '$reproducer' fuzz/regressions/$parser/ and add a unit test" >&2
    done
  done
  echo "fuzz.sh: ${#failed[@]} harness(es) found something: ${failed[*]} (work folder kept: $work)" >&2
  exit 1
fi
if [[ ${FUZZ_KEEP:-0} != 1 ]]; then rm -rf "$work"; fi
echo "fuzz.sh: no finding in ${#harnesses[@]} harnesses"
