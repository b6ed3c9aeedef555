#!/usr/bin/env bash
# Measures transformers Whisper peak GPU memory on this machine's GPU (see
# measure_transformers.py) and writes data/measurements/transformers-<gpu>.csv. Needs torch with
# CUDA, transformers and nvidia-ml-py; run on an otherwise idle GPU. Stays under 8 minutes.
# Extra arguments go to the script, e.g. --models tiny,large-v3 --budget-seconds 300.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -c "import torch, transformers, pynvml" 2>/dev/null || {
    echo "run.sh: needs torch (CUDA), transformers and nvidia-ml-py (pip install nvidia-ml-py)" >&2
    exit 2
}
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total --format=csv || true
exec timeout 470 python3 scripts/measure/measure_transformers.py "$@"
