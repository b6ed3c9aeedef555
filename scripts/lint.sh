#!/usr/bin/env bash
# Lint: clang-format must report nothing on any tracked C++ file, and clang-tidy (checks and options in
# .clang-tidy, every warning an error) must pass on every project translation unit of a build's
# compile_commands.json, merged into unity files where they compile together (scripts/lint_units.py:
# 86 units took 1272 s one by one, 18 take about 270 s). Usage: scripts/lint.sh [--record] [BUILD_DIR]
# (default build/default; configured if missing, build/lint configured if it describes another tree)
# A unit whose input hash scripts/lint-record.txt lists as passed is not linted again (see
# scripts/lint_record.py: the hash covers clang-tidy's version, .clang-tidy, the flags and the
# preprocessed text with comments); when every unit is listed the lint takes seconds, else every
# unit is linted.
# --record lints in full (the record not used) and, when it passes, rewrites the record.
# Expects the packages of scripts/setup.sh (clang-format, clang-tidy 14).
set -euo pipefail
cd "$(dirname "$0")/.."
record=0
if [[ ${1:-} == --record ]]; then
  record=1
  shift
fi
build_dir=${1:-build/default}
record_file=scripts/lint-record.txt

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
resume_note=""  # what a stopped lint keeps for the next run (set once clang-tidy starts)
# The process @p 1 and all its descendants (clang-tidy runs under xargs under a bash per unit).
stop_tree() {
  local c
  for c in $(pgrep -P "$1" || true); do stop_tree "$c"; done
  kill -TERM "$1" 2>/dev/null || true
}
on_signal() {
  if [[ -n $child ]]; then stop_tree "$child"; fi
  fail "lint: stopped by SIG$1 in stage \"$stage\" after $SECONDS s$resume_note" "$2"
}
trap 'on_signal TERM 143' TERM
trap 'on_signal INT 130' INT
trap 'on_signal HUP 129' HUP
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
# The record: when it lists every unit of this tree (same files, flags and input hashes) as passed,
# nothing is left to lint.
if ((record == 0)); then
  stage="record (scripts/lint_record.py)"
  record_dir=$build_dir/lint-record-unity
  rm -rf "$record_dir"
  python3 scripts/lint_record.py check "$record_file" "$build_dir/compile_commands.json" "$PWD" "$record_dir" \
    >"$build_dir/lint-record.out" &
  child=$!
  record_status=0
  wait "$child" || record_status=$?
  child=""
  if ((record_status == 0)) && [[ ! -s $build_dir/lint-record.out ]]; then
    units_recorded=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$record_dir/compile_commands.json")
    echo "lint: clang-tidy: 0 warnings (all $units_recorded units have the input hash $record_file lists as passed: not linted again; --record lints in full)"
    exit 0
  fi
  if ((record_status == 0)); then
    echo "lint: $(grep -c . "$build_dir/lint-record.out") of the units differ from what $record_file lists as passed: linting every unit"
  elif ((record_status == 3)); then
    echo "lint: $record_file does not describe this tree's files and flags: linting every unit"
  else
    fail "lint: scripts/lint_record.py check failed (status $record_status)"
  fi
fi

# The project's own translation units (not the fake NVML's C ABI shim, not generated files), merged
# into unity files where they compile together (scripts/lint_units.py: the headers parsed once per
# group, not once per file).
# What the result depends on, hashed: the tools and the packages whose headers are parsed, the
# configuration, the compile database (this tree's path taken out) and every tracked file's content.
# A unit clang-tidy passed is remembered under it in $build_dir/lint-cache (and the unity files in
# $unity_dir): a lint stopped half-way (a CI step's time limit) resumes where it was, an unchanged
# tree is not linted twice, and any change to any file lints every unit again. A fresh clone (CI)
# has no cache: everything is linted.
stage="cache key"
state_key=$({
  clang-tidy --version
  clang++ --version
  dpkg-query -W -f='${Package} ${Version}\n' 2>/dev/null || true
  cat .clang-tidy scripts/lint.sh scripts/lint_units.py
  sed "s|$PWD|<tree>|g" "$build_dir/compile_commands.json"
  # The record and its script are not inputs of clang-tidy (rewriting the record keeps the cache).
  git ls-files -z --cached --others --exclude-standard -- . ':!scripts/lint-record.txt' ':!scripts/lint_record.py' |
    xargs -0 sha256sum 2>/dev/null || true
} | sha256sum | cut -c1-64)
cache_dir=$build_dir/lint-cache

stage="unity files (scripts/lint_units.py)"
unity_dir=$build_dir/lint-unity
group_start=$SECONDS
if [[ -f $unity_dir/state_key && $(<"$unity_dir/state_key") == "$state_key" && -s $unity_dir/units.txt ]]; then
  grouped="the grouping of the same tree state reused"
else
  rm -rf "$unity_dir" "$cache_dir"
  mkdir -p "$unity_dir"
  # In the background and waited for: bash runs a trap only once the foreground command ends, and
  # `wait` returns at once on a signal (so a stopped lint says so, and stops its child).
  python3 scripts/lint_units.py "$build_dir/compile_commands.json" "$PWD" "$unity_dir" >"$unity_dir/units.new" &
  child=$!
  wait "$child" || fail "lint: scripts/lint_units.py failed on $build_dir/compile_commands.json (status $?)"
  child=""
  mv "$unity_dir/units.new" "$unity_dir/units.txt"
  echo "$state_key" >"$unity_dir/state_key"
  grouped="grouped in $((SECONDS - group_start)) s"
fi
units_text=$(<"$unity_dir/units.txt")
mapfile -t units <<<"$units_text"
[[ -n $units_text ]] || fail "lint: no translation units found in $build_dir/compile_commands.json"
stage="clang-tidy"
mkdir -p "$cache_dir"
unit_key() { printf '%s\n%s\n' "$state_key" "$1" | sha256sum | cut -c1-64; }
todo=()
for unit in "${units[@]}"; do
  [[ -f $cache_dir/$(unit_key "$unit") ]] || todo+=("$unit")
done
echo "lint: clang-tidy on ${#units[@]} translation units ($(nproc) jobs; $grouped; $((${#units[@]} - ${#todo[@]})) passed before in this tree state)"
resume_note=" (the units that passed are kept in $cache_dir: a rerun on the same tree goes on from there)"
jobs=$(nproc)
tidy_status=0
tidy_start=$SECONDS
: >"$build_dir/clang-tidy.log"
if ((${#todo[@]} > 0)); then
  printf '%s\n' "${todo[@]}" >"$unity_dir/todo.txt"
  # Each unit that passes is remembered at once, so a stop loses only the units being checked.
  export -f unit_key
  export state_key unity_dir cache_dir
  xargs -P "$jobs" -n 1 bash -c 'clang-tidy -p "$unity_dir" --quiet --warnings-as-errors="*" "$0" && touch "$cache_dir/$(unit_key "$0")"' \
    <"$unity_dir/todo.txt" >"$build_dir/clang-tidy.log" 2>&1 &
  child=$!
  wait "$child" || tidy_status=$?
  child=""
fi
if ((tidy_status != 0)); then
  # Say why whatever it was: the warnings, or (a crash, a missing file) the end of the log.
  findings=$(grep -E 'warning:|error:' "$build_dir/clang-tidy.log" | sort -u | head -60 || true)
  if [[ -z $findings ]]; then findings=$(tail -30 "$build_dir/clang-tidy.log"); fi
  fail "$findings
lint: clang-tidy failed with status $tidy_status after $((SECONDS - tidy_start)) s (full log: $build_dir/clang-tidy.log)"
fi
echo "lint: clang-tidy: 0 warnings ($((SECONDS - tidy_start)) s)"
if ((record == 1)); then
  stage="writing $record_file"
  python3 scripts/lint_record.py write "$record_file" "$unity_dir" "$PWD"
  echo "lint: $record_file rewritten: ${#units[@]} units passed"
fi
