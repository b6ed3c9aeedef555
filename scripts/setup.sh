#!/usr/bin/env bash
# Installs the Debian 12 packages whisper-vram needs. Idempotent and non-interactive; a no-op (no
# apt-get at all) when everything is present. Run as root (or with sudo available).
#
#   ./scripts/setup.sh          what the product needs to build, install and run (the README's first command)
#   ./scripts/setup.sh --tests  that, plus everything the tests need (the README's test command, .ci/run):
#                               sanitizer/fuzzing/lint tools, Prometheus (promtool and a real server for the
#                               scrape test), Chromium and npm's playwright-core (the calculator page test),
#                               and a single-node Slurm (slurmctld, slurmd, slurm-client) for the real-Slurm test.
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
for arg in "$@"; do
  case "$arg" in
    --tests) with_tests=1 ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "setup: unknown option '$arg' (allowed: --tests)" >&2; exit 2 ;;
  esac
done

# What the product needs: compilers, CMake/Ninja, the libraries it links (fmt, nlohmann-json, CLI11,
# cpp-httplib for `serve` and `k8s advertise`, OpenSSL for HTTPS to a Kubernetes API server), and
# pybind11 for the Python module.
packages=(
  build-essential cmake ninja-build pkg-config git
  libfmt-dev nlohmann-json3-dev libcli11-dev libcpp-httplib-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  pybind11-dev python3-dev python3 python3-pip
  util-linux procps
)
if ((with_tests)); then
  packages+=(
    clang clang-tidy clang-format jq
    prometheus
    chromium
    slurmctld slurmd slurm-client
    iproute2
  )
  # npm drives playwright-core; a machine with Node.js from elsewhere (which bundles npm) keeps its own.
  command -v npm >/dev/null || packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages already installed"
else
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "setup: run as root (missing: ${missing[*]})" >&2; exit 1; }
    sudo_cmd=(sudo)
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Packages with daemons (prometheus, slurmd, slurmctld) must not be started by the install:
  # the tests start their own, on loopback or in a private namespace.
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
    "${sudo_cmd[@]}" chmod 755 "$policy"
    made_policy=1
  fi
  trap '((made_policy)) && "${sudo_cmd[@]}" rm -f "$policy"' EXIT
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ((with_tests)); then
  # playwright-core (browser automation only; it drives Debian's chromium, it downloads no browser),
  # pinned by tests/browser/package-lock.json, into tests/browser/node_modules (git-ignored).
  if [[ ! -d tests/browser/node_modules/playwright-core ]]; then
    echo "setup: npm ci in tests/browser (playwright-core)"
    (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  else
    echo "setup: playwright-core already in tests/browser/node_modules"
  fi
fi
