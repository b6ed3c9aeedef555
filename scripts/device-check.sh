#!/usr/bin/env bash
# Device check for the NVML probe: builds the whisper-vram CLI on a machine with an NVIDIA GPU and
# compares `whisper-vram gpus --json` with nvidia-smi, field by field:
#   name and uuid equal; memory.total / memory.used / memory.free within 1 MiB.
# Prints PASS/FAIL per GPU and field, then `whisper-vram debug` (the report for the note).
#
# Usage: scripts/device-check.sh [BUILD_DIR]          (default build/device)
# Environment:
#   NVIDIA_SMI=path        nvidia-smi to compare with (default: nvidia-smi on PATH)
#   WHISPER_VRAM_BIN=path  use this whisper-vram instead of building one
#   WHISPER_VRAM_NVML_LIBRARY  passed through (the probe's library override)
# Exit: 0 every field passed; 1 some field failed; 2 could not build or run (the reason is printed).
#
# Needs g++ (C++20), cmake >= 3.25, python3, and the fmt, nlohmann-json and CLI11 development
# packages (Debian/Ubuntu: libfmt-dev nlohmann-json3-dev libcli11-dev). Tests, benchmarks and the
# Python module are not built here (no GoogleTest needed). CUDA_VISIBLE_DEVICES is unset for the
# comparison because nvidia-smi ignores it: both sides then list every GPU in NVML order.
set -u

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${1:-$root/build/device}"
smi="${NVIDIA_SMI:-nvidia-smi}"

die() { echo "device-check: $*" >&2; exit 2; }

command -v python3 >/dev/null 2>&1 || die "python3 is required to compare the JSON output"
command -v "$smi" >/dev/null 2>&1 || die "nvidia-smi not found ('$smi'): is this a machine with the NVIDIA driver?"

if [[ -n "${WHISPER_VRAM_BIN:-}" ]]; then
  bin="$WHISPER_VRAM_BIN"
else
  command -v cmake >/dev/null 2>&1 || die "cmake not found (need >= 3.25)"
  command -v g++ >/dev/null 2>&1 || die "g++ not found (need C++20, g++ >= 11)"
  missing=()
  for header in fmt/format.h nlohmann/json.hpp CLI/CLI.hpp; do
    echo "#include <$header>" | g++ -std=c++20 -E -x c++ - >/dev/null 2>&1 || missing+=("$header")
  done
  if (( ${#missing[@]} > 0 )); then
    die "missing development headers: ${missing[*]} (Debian/Ubuntu: apt-get install libfmt-dev nlohmann-json3-dev libcli11-dev; or run scripts/setup.sh)"
  fi
  generator=()
  command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
  echo "== building whisper-vram in $build_dir"
  cmake -S "$root" -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DWHISPER_VRAM_BUILD_TESTS=OFF -DWHISPER_VRAM_BUILD_BENCH=OFF -DWHISPER_VRAM_BUILD_PYTHON=OFF \
    >"$build_dir.configure.log" 2>&1 || { tail -20 "$build_dir.configure.log" >&2; die "cmake configure failed (log: $build_dir.configure.log)"; }
  cmake --build "$build_dir" --target whisper-vram -j "$(nproc 2>/dev/null || echo 2)" \
    >"$build_dir.build.log" 2>&1 || { tail -30 "$build_dir.build.log" >&2; die "build failed (log: $build_dir.build.log)"; }
  bin="$build_dir/whisper-vram"
fi
[[ -x "$bin" ]] || die "whisper-vram binary not found at $bin"

echo "== nvidia-smi: $("$smi" --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)"
# Read both sides back to back so memory moves as little as possible between them.
ours="$(env -u CUDA_VISIBLE_DEVICES -u WHISPER_VRAM_SIMULATE "$bin" gpus --json)"; ours_status=$?
theirs="$("$smi" --query-gpu=index,name,uuid,memory.total,memory.used,memory.free --format=csv,noheader,nounits)"; smi_status=$?
(( smi_status == 0 )) || die "nvidia-smi failed (status $smi_status): $theirs"
if (( ours_status != 0 )); then
  echo "whisper-vram gpus --json exited $ours_status" >&2
  env -u CUDA_VISIBLE_DEVICES -u WHISPER_VRAM_SIMULATE "$bin" debug >&2
  die "whisper-vram could not read the GPUs"
fi

OURS="$ours" THEIRS="$theirs" python3 - <<'PY'
import json, os, sys

MIB = 1024 * 1024
ours = json.loads(os.environ["OURS"])
rows = [line for line in os.environ["THEIRS"].splitlines() if line.strip()]
failed = 0

def report(ok, gpu, field, detail):
    global failed
    failed += 0 if ok else 1
    print(f"{'PASS' if ok else 'FAIL'}  gpu {gpu}  {field:<12} {detail}")

report(ours.get("source") == "nvml", "-", "source", f"whisper-vram source={ours.get('source')!r}")
by_index = {g["index"]: g for g in ours.get("gpus", [])}
report(len(by_index) == len(rows), "-", "count", f"whisper-vram {len(by_index)}, nvidia-smi {len(rows)}")
for row in rows:
    cells = [c.strip() for c in row.split(",")]
    # The name may itself contain commas: index first, then name..., uuid and three numbers last.
    index, name, uuid = int(cells[0]), ", ".join(cells[1:-4]), cells[-4]
    total, used, free = cells[-3:]
    g = by_index.get(index)
    if g is None:
        report(False, index, "present", "missing from whisper-vram gpus --json")
        continue
    report(g["name"] == name, index, "name", f"{g['name']!r} vs {name!r}")
    report(g["uuid"] == uuid, index, "uuid", f"{g['uuid']!r} vs {uuid!r}")
    for field, smi_value in (("total", total), ("used", used), ("free", free)):
        ours_mib = g[f"{field}_bytes"] / MIB
        try:
            smi_mib = float(smi_value)
        except ValueError:  # "[N/A]" on unified-memory GPUs
            report(g["state"] == "unified_memory", index, f"memory.{field}",
                   f"nvidia-smi {smi_value!r}, whisper-vram state {g['state']!r}")
            continue
        report(abs(ours_mib - smi_mib) <= 1.0, index, f"memory.{field}",
               f"{ours_mib:.2f} MiB vs {smi_mib:.0f} MiB (state {g['state']}, reserved {g.get('reserved_bytes')})")
print(f"== {'all fields PASS' if failed == 0 else f'{failed} field(s) FAIL'}")
sys.exit(1 if failed else 0)
PY
compare_status=$?

echo "== whisper-vram debug"
env -u WHISPER_VRAM_SIMULATE "$bin" debug
echo "== whisper-vram gpus"
env -u WHISPER_VRAM_SIMULATE "$bin" gpus
exit "$compare_status"
