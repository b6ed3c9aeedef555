#!/usr/bin/env bash
# Lint: clang-format must report nothing on any tracked C++ file, and clang-tidy (checks and options in
# .clang-tidy, every warning an error) must pass on every project translation unit of a build's
# compile_commands.json, merged into unity files where they compile together (scripts/lint_units.py:
# 86 units took 1272 s one by one, 18 take about 270 s). Usage: scripts/lint.sh [BUILD_DIR]
# (default build/default; configured if missing)
# Expects the packages of scripts/setup.sh (clang-format, clang-tidy 14).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build/default}

mapfile -t cxx_files < <(git ls-files '*.cpp' '*.hpp' '*.h')
echo "lint: clang-format --dry-run on ${#cxx_files[@]} files"
format_out=$(clang-format --dry-run "${cxx_files[@]}" 2>&1 || true)
format_warnings=$(grep -c 'warning:' <<<"$format_out" || true)
if ((format_warnings > 0)); then
  grep 'warning:' <<<"$format_out" | head -40 >&2
  echo "lint: $format_warnings clang-format warnings (fix: clang-format -i FILE)" >&2
  exit 1
fi
echo "lint: clang-format: 0 warnings"

if [[ ! -f $build_dir/compile_commands.json ]]; then
  cmake --preset default >/dev/null
fi
# The project's own translation units (not the fake NVML's C ABI shim, not generated files), merged
# into unity files where they compile together (scripts/lint_units.py: the headers parsed once per
# group, not once per file).
unity_dir=$build_dir/lint-unity
rm -rf "$unity_dir"
group_start=$SECONDS
mapfile -t units < <(python3 scripts/lint_units.py "$build_dir/compile_commands.json" "$PWD" "$unity_dir")
((${#units[@]} > 0)) || { echo "lint: no translation units found in $build_dir/compile_commands.json" >&2; exit 1; }
echo "lint: clang-tidy on ${#units[@]} translation units ($(nproc) jobs; grouped in $((SECONDS - group_start)) s)"
jobs=$(nproc)
tidy_status=0
tidy_start=$SECONDS
printf '%s\n' "${units[@]}" |
  xargs -P "$jobs" -n 1 clang-tidy -p "$unity_dir" --quiet --warnings-as-errors='*' >"$build_dir/clang-tidy.log" 2>&1 ||
  tidy_status=$?
if ((tidy_status != 0)); then
  # Say why whatever it was: the warnings, or (a crash, a missing file) the end of the log.
  # On stdout and stderr both: a CI summary that keeps only one of them still says why.
  findings=$(grep -E 'warning:|error:' "$build_dir/clang-tidy.log" | sort -u | head -60 || true)
  if [[ -z $findings ]]; then findings=$(tail -30 "$build_dir/clang-tidy.log"); fi
  report="$findings
lint: clang-tidy failed with status $tidy_status after $((SECONDS - tidy_start)) s (full log: $build_dir/clang-tidy.log)"
  echo "$report"
  echo "$report" >&2
  exit 1
fi
echo "lint: clang-tidy: 0 warnings ($((SECONDS - tidy_start)) s)"
