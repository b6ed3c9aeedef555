#!/usr/bin/env bash
# Lint: clang-format must report nothing on any tracked C++ file, and clang-tidy (checks and options in
# .clang-tidy, every warning an error) must pass on every project translation unit of a build's
# compile_commands.json, merged into unity files where they compile together (scripts/lint_units.py:
# 86 units took 1272 s one by one, 18 take about 270 s). Usage: scripts/lint.sh [BUILD_DIR]
# (default build/default; configured if missing, build/lint configured if it describes another tree)
# Expects the packages of scripts/setup.sh (clang-format, clang-tidy 14).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build/default}

# A failure (status 1; 2 for a bad BUILD_DIR) says why on stdout and stderr both: a CI summary that keeps only one of them still says why.
fail() {
  trap - ERR EXIT
  echo "$1"
  echo "$1" >&2
  exit "${2:-1}"
}
# Nothing ends the lint unsaid: a command that fails outside the checks below (set -e), a signal (a
# CI step's time limit) or any other early exit names the stage, the command and the seconds.
stage="start"
trap 'status=$?; fail "lint: stopped in stage \"$stage\" after $SECONDS s: \"$BASH_COMMAND\" failed with status $status (line $LINENO)" "$status"' ERR
child=""  # the background step being waited for, stopped with the lint
trap 'if [[ -n $child ]]; then pkill -TERM -P "$child" || true; kill -TERM "$child" 2>/dev/null || true; fi
fail "lint: stopped by a signal in stage \"$stage\" after $SECONDS s" 143' TERM INT HUP
trap 'status=$?; if ((status != 0)); then fail "lint: ended with status $status in stage \"$stage\" after $SECONDS s" "$status"; fi' EXIT

stage="clang-format"
mapfile -t cxx_files < <(git ls-files '*.cpp' '*.hpp' '*.h')
echo "lint: clang-format --dry-run on ${#cxx_files[@]} files"
format_out=$(clang-format --dry-run "${cxx_files[@]}" 2>&1 || true)
format_warnings=$(grep -c 'warning:' <<<"$format_out" || true)
if ((format_warnings > 0)); then
  fail "$(grep 'warning:' <<<"$format_out" | head -40)
lint: $format_warnings clang-format warnings (fix: clang-format -i FILE)"
fi
echo "lint: clang-format: 0 warnings"

# The compile database must describe this tree: a build folder copied with the sources (or made by
# another checkout) names the other tree's files, and nothing here would be linted. The default
# folder is then configured afresh beside it (build/lint), the copied one left as it is; a folder
# given by name is refused.
stage="compile database"
describes_this_tree() { [[ -f $1/compile_commands.json ]] && grep -qF "$PWD/src/" "$1/compile_commands.json"; }
if ! describes_this_tree "$build_dir"; then
  if (($# > 0)); then
    fail "lint: $build_dir/compile_commands.json is missing or names no file of $PWD/src (configure it from this tree, or give no folder)" 2
  fi
  if [[ -f $build_dir/compile_commands.json ]]; then build_dir=build/lint; fi
  echo "lint: configuring $build_dir (preset default) for its compile_commands.json"
  configure_out=$(cmake --preset default -B "$build_dir" 2>&1) || fail "$(tail -30 <<<"$configure_out")
lint: cmake --preset default -B $build_dir failed"
  describes_this_tree "$build_dir" || fail "lint: $build_dir/compile_commands.json names no file of $PWD/src"
fi
# The project's own translation units (not the fake NVML's C ABI shim, not generated files), merged
# into unity files where they compile together (scripts/lint_units.py: the headers parsed once per
# group, not once per file).
stage="unity files (scripts/lint_units.py)"
unity_dir=$build_dir/lint-unity
rm -rf "$unity_dir"
group_start=$SECONDS
mkdir -p "$unity_dir"
# In the background and waited for: bash runs a trap only once the foreground command ends, and
# `wait` returns at once on a signal (so a stopped lint says so, and stops its child).
python3 scripts/lint_units.py "$build_dir/compile_commands.json" "$PWD" "$unity_dir" >"$unity_dir/units.txt" &
child=$!
wait "$child" || fail "lint: scripts/lint_units.py failed on $build_dir/compile_commands.json (status $?)"
child=""
units_text=$(<"$unity_dir/units.txt")
mapfile -t units <<<"$units_text"
[[ -n $units_text ]] || fail "lint: no translation units found in $build_dir/compile_commands.json"
echo "lint: clang-tidy on ${#units[@]} translation units ($(nproc) jobs; grouped in $((SECONDS - group_start)) s)"
stage="clang-tidy"
jobs=$(nproc)
tidy_status=0
tidy_start=$SECONDS
printf '%s\n' "${units[@]}" >"$unity_dir/units.txt"
xargs -P "$jobs" -n 1 clang-tidy -p "$unity_dir" --quiet --warnings-as-errors='*' <"$unity_dir/units.txt" \
  >"$build_dir/clang-tidy.log" 2>&1 &
child=$!
wait "$child" || tidy_status=$?
child=""
if ((tidy_status != 0)); then
  # Say why whatever it was: the warnings, or (a crash, a missing file) the end of the log.
  findings=$(grep -E 'warning:|error:' "$build_dir/clang-tidy.log" | sort -u | head -60 || true)
  if [[ -z $findings ]]; then findings=$(tail -30 "$build_dir/clang-tidy.log"); fi
  fail "$findings
lint: clang-tidy failed with status $tidy_status after $((SECONDS - tidy_start)) s (full log: $build_dir/clang-tidy.log)"
fi
echo "lint: clang-tidy: 0 warnings ($((SECONDS - tidy_start)) s)"
