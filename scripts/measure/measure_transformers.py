#!/usr/bin/env python3
"""Measure the peak GPU memory of Hugging Face transformers Whisper inference.

Records, for a grid of models x precisions x batch x beams, the peak device-wide NVML "used"
memory of ONE process on an otherwise idle GPU (what nvidia-smi shows) minus the NVML "used"
before that process touched CUDA, plus torch.cuda.max_memory_reserved/allocated, and writes
data/measurements/transformers-<gpu>.csv with the GPU, driver, CUDA, torch and transformers
versions in '#' header lines. The whisper-vram tests compare every committed row with the
engine-aware estimate (tests/unit/measurements_test.cpp: within 10%).

- Random weights from a WhisperConfig per model (dimensions of openai/whisper and
  distil-whisper): nothing is downloaded; random weights decode garbage but allocate what real
  weights allocate.
- Fixed decode length: min_new_tokens = max_new_tokens = 124 after 4 start tokens, so every
  run fills the self-attention cache to 128 tokens, the length whisper-vram assumes for a
  typical 30 s window of the transformers pipeline.
- One child process per (model, precision) so each group starts from a fresh CUDA context;
  inside it, torch.cuda.empty_cache() before each (batch, beams) point, smallest first.
- NVML is sampled every 2 ms in a thread (nvidia-ml-py / pynvml).
- The whole run stops launching work after --budget-seconds (default 420 s, under 8 minutes).

Usage:  scripts/measure/run.sh            (or: python3 scripts/measure/measure_transformers.py)
        python3 scripts/measure/measure_transformers.py --dry-run     # print the grid
        python3 scripts/measure/measure_transformers.py --self-test   # no GPU, no torch needed
Needs: torch with CUDA, transformers, nvidia-ml-py.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

# Dimensions (openai/whisper ModelDimensions; distil-whisper config.json): n_mels, d_model,
# heads, encoder layers, decoder layers, vocabulary.
MODELS = {
    "tiny": (80, 384, 6, 4, 4, 51865),
    "base": (80, 512, 8, 6, 6, 51865),
    "small": (80, 768, 12, 12, 12, 51865),
    "medium": (80, 1024, 16, 24, 24, 51865),
    "large-v2": (80, 1280, 20, 32, 32, 51865),
    "large-v3": (128, 1280, 20, 32, 32, 51866),
    "large-v3-turbo": (128, 1280, 20, 32, 4, 51866),
    "distil-large-v3": (128, 1280, 20, 32, 2, 51866),
}

DEFAULT_MODELS = ["tiny", "base", "small", "medium", "large-v3", "large-v3-turbo", "distil-large-v3"]
DEFAULT_PRECISIONS = ["float16", "float32"]
DEFAULT_BATCHES = [1, 4]
DEFAULT_BEAMS = [1, 5]
START_TOKENS = 4      # <|startoftranscript|> <|en|> <|transcribe|> <|notimestamps|>
NEW_TOKENS = 124      # 4 + 124 = 128 cached tokens (whisper-vram's batched_decode_tokens)

COLUMNS = [
    "engine", "model", "precision", "batch", "beams", "attn_implementation", "new_tokens",
    "nvml_baseline_used_bytes", "nvml_peak_used_bytes", "process_peak_bytes",
    "torch_max_reserved_bytes", "torch_max_allocated_bytes", "gpu", "gpu_total_bytes", "status",
]


def grid(models, precisions, batches, beams):
    """(model, precision) groups, each with its (batch, beams) points, smallest first."""
    points = sorted(((b, k) for b in batches for k in beams), key=lambda p: (p[0] * p[1], p))
    return [((m, p), points) for m in models for p in precisions]


def slug(name: str) -> str:
    """File-name form of a GPU name: 'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "gpu"


def write_csv(path_or_file, header: dict, rows: list) -> None:
    """Writes '# key: value' header lines, then the CSV with COLUMNS."""
    own = isinstance(path_or_file, str)
    f = open(path_or_file, "w", newline="") if own else path_or_file
    try:
        for key, value in header.items():
            f.write(f"# {key}: {value}\n")
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="raise")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in COLUMNS})
    finally:
        if own:
            f.close()


def read_csv(text: str):
    """(header dict, rows) of a file written by write_csv."""
    header, body = {}, []
    for line in text.splitlines():
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            header[key.strip()] = value.strip()
        elif line.strip():
            body.append(line)
    return header, list(csv.DictReader(body))


# ---------------------------------------------------------------- GPU side (torch, pynvml)

class NvmlSampler:
    """Samples device-wide NVML used memory in a thread; .peak is the maximum since reset()."""

    def __init__(self, index: int, period_s: float = 0.002):
        import pynvml
        self._nvml = pynvml
        self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        self._period = period_s
        self._stop = threading.Event()
        self.peak = self.used()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def used(self) -> int:
        return int(self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.used())
            time.sleep(self._period)

    def reset(self):
        self.peak = self.used()

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak, self.used())


def build_model(name: str, precision: str, attn: str):
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration
    n_mels, d, heads, enc, dec, vocab = MODELS[name]
    config = WhisperConfig(
        vocab_size=vocab, num_mel_bins=n_mels, d_model=d,
        encoder_layers=enc, decoder_layers=dec,
        encoder_attention_heads=heads, decoder_attention_heads=heads,
        encoder_ffn_dim=4 * d, decoder_ffn_dim=4 * d,
        max_source_positions=1500, max_target_positions=448,
    )
    dtype = getattr(torch, precision)
    # Built on the GPU in its dtype (random init): no CPU copy, nothing downloaded.
    with torch.device("cuda"):
        try:
            model = WhisperForConditionalGeneration._from_config(config, attn_implementation=attn, torch_dtype=dtype)
        except TypeError:
            model = WhisperForConditionalGeneration._from_config(config, attn_implementation=attn, dtype=dtype)
    model = model.to(dtype).eval()
    return model, config


def run_child(model_name: str, precision: str, points, attn: str, deadline: float, nvml_index: int) -> None:
    """Measures one (model, precision) group; prints one JSON object per point on stdout."""
    import pynvml
    pynvml.nvmlInit()
    sampler = NvmlSampler(nvml_index)
    baseline = sampler.used()  # before this process creates its CUDA context
    import torch
    from transformers import GenerationMixin
    model, config = build_model(model_name, precision, attn)
    dtype = getattr(torch, precision)
    start_ids = [config.decoder_start_token_id] + [config.decoder_start_token_id + 1 + i for i in range(START_TOKENS - 1)]
    for batch, beams in points:
        if time.time() > deadline:
            break
        row = {"model": model_name, "precision": precision, "batch": batch, "beams": beams}
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        sampler.reset()
        features = decoder_input_ids = None
        try:
            features = torch.randn(batch, config.num_mel_bins, 3000, device="cuda", dtype=dtype)
            decoder_input_ids = torch.tensor([start_ids] * batch, device="cuda")
            with torch.inference_mode():
                # GenerationMixin.generate: the plain encoder-decoder generate that Whisper's own
                # generate() calls for a 30 s input, without its language/timestamp logic.
                GenerationMixin.generate(
                    model, input_features=features, decoder_input_ids=decoder_input_ids,
                    num_beams=beams, do_sample=False, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                    eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id,
                )
            torch.cuda.synchronize()
            row["status"] = "ok"
        except torch.cuda.OutOfMemoryError:
            row["status"] = "oom"
        time.sleep(0.02)  # let the sampler see the final state
        row["nvml_baseline_used_bytes"] = baseline
        row["nvml_peak_used_bytes"] = max(sampler.peak, sampler.used())
        row["process_peak_bytes"] = row["nvml_peak_used_bytes"] - baseline
        row["torch_max_reserved_bytes"] = torch.cuda.max_memory_reserved()
        row["torch_max_allocated_bytes"] = torch.cuda.max_memory_allocated()
        print(json.dumps(row), flush=True)
        del features, decoder_input_ids
    sampler.stop()


def environment(nvml_index: int) -> dict:
    import pynvml
    import torch
    import transformers
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(nvml_index)
    name = pynvml.nvmlDeviceGetName(handle)
    name = name.decode() if isinstance(name, bytes) else name
    driver = pynvml.nvmlSystemGetDriverVersion()
    driver = driver.decode() if isinstance(driver, bytes) else driver
    total = int(pynvml.nvmlDeviceGetMemoryInfo(handle).total)
    idle_used = int(pynvml.nvmlDeviceGetMemoryInfo(handle).used)
    pynvml.nvmlShutdown()
    return {
        "gpu": name, "gpu_total_bytes": total, "gpu_used_before_run_bytes": idle_used, "driver": driver,
        "cuda": torch.version.cuda, "torch": torch.__version__, "transformers": transformers.__version__,
        "python": sys.version.split()[0],
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "method": f"peak NVML used - NVML used before the process; random-weight WhisperConfig models; "
                  f"{START_TOKENS} start tokens + {NEW_TOKENS} forced new tokens; one process per (model, precision)",
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--precisions", default=",".join(DEFAULT_PRECISIONS))
    parser.add_argument("--batches", default=",".join(map(str, DEFAULT_BATCHES)))
    parser.add_argument("--beams", default=",".join(map(str, DEFAULT_BEAMS)))
    parser.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"])
    parser.add_argument("--budget-seconds", type=float, default=420.0)
    parser.add_argument("--nvml-index", type=int, default=int(os.environ.get("MEASURE_NVML_INDEX", "0")))
    parser.add_argument("--out-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                                          "data", "measurements"))
    parser.add_argument("--dry-run", action="store_true", help="print the grid and exit")
    parser.add_argument("--self-test", action="store_true", help="check grid and CSV code (no torch, no GPU)")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "PRECISION"), help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    models = args.models.split(",")
    precisions = args.precisions.split(",")
    batches = [int(x) for x in args.batches.split(",")]
    beams = [int(x) for x in args.beams.split(",")]
    for m in models:
        if m not in MODELS:
            parser.error(f"unknown model {m!r}: known: {', '.join(MODELS)}")
    for p in precisions:
        if p not in ("float32", "float16", "bfloat16"):
            parser.error(f"unknown precision {p!r}: float32, float16, bfloat16")
    groups = grid(models, precisions, batches, beams)

    if args.self_test:
        return self_test()
    if args.dry_run:
        for (m, p), points in groups:
            print(m, p, " ".join(f"b{b}k{k}" for b, k in points))
        return 0
    if args.child:
        points = [(b, k) for b, k in grid([args.child[0]], [args.child[1]], batches, beams)[0][1]]
        run_child(args.child[0], args.child[1], points, args.attn, args.deadline, args.nvml_index)
        return 0

    start = time.time()
    deadline = start + args.budget_seconds
    env = environment(args.nvml_index)
    rows = []
    for (m, p), _points in groups:
        if time.time() > deadline:
            print(f"budget spent: skipping {m} {p} and later groups", file=sys.stderr)
            break
        cmd = [sys.executable, os.path.abspath(__file__), "--child", m, p, "--batches", args.batches, "--beams",
               args.beams, "--attn", args.attn, "--deadline", str(deadline), "--nvml-index", str(args.nvml_index)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=max(30.0, deadline - time.time() + 60))
        got = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode != 0:
            print(f"{m} {p}: child failed ({proc.returncode}):\n{proc.stderr[-3000:]}", file=sys.stderr)
        for row in got:
            row.update(engine="transformers", attn_implementation=args.attn, new_tokens=NEW_TOKENS,
                       gpu=env["gpu"], gpu_total_bytes=env["gpu_total_bytes"])
            rows.append(row)
            print(f"{m:16} {p:9} b{row['batch']} k{row['beams']}  {row['status']:4} "
                  f"process {row['process_peak_bytes'] / 2**20:9.1f} MiB  "
                  f"reserved {row['torch_max_reserved_bytes'] / 2**20:9.1f} MiB", flush=True)
    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, f"transformers-{slug(env['gpu'])}.csv")
    header = dict(env)
    header["elapsed_seconds"] = f"{time.time() - start:.1f}"
    header["command"] = " ".join([os.path.basename(__file__)] + (argv if argv is not None else sys.argv[1:]))
    write_csv(path, header, rows)
    print(f"wrote {len(rows)} rows to {os.path.normpath(path)}")
    return 0 if rows else 1


def self_test() -> int:
    """Grid order, slug and a CSV round trip, without torch or a GPU."""
    groups = grid(["tiny", "large-v3"], ["float16"], [1, 4], [1, 5])
    assert [g[0] for g in groups] == [("tiny", "float16"), ("large-v3", "float16")], groups
    assert groups[0][1] == [(1, 1), (4, 1), (1, 5), (4, 5)], groups[0][1]
    assert slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
    rows = [{"engine": "transformers", "model": "tiny", "precision": "float16", "batch": 1, "beams": 5,
             "attn_implementation": "sdpa", "new_tokens": NEW_TOKENS, "nvml_baseline_used_bytes": 1,
             "nvml_peak_used_bytes": 11, "process_peak_bytes": 10, "torch_max_reserved_bytes": 8,
             "torch_max_allocated_bytes": 7, "gpu": "NVIDIA H100", "gpu_total_bytes": 85899345920, "status": "ok"}]
    buffer = io.StringIO()
    write_csv(buffer, {"gpu": "NVIDIA H100", "driver": "550.0"}, rows)
    header, back = read_csv(buffer.getvalue())
    assert header == {"gpu": "NVIDIA H100", "driver": "550.0"}, header
    assert len(back) == 1 and back[0]["process_peak_bytes"] == "10" and back[0]["status"] == "ok", back
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.csv")
        write_csv(path, {"gpu": "x"}, rows)
        with open(path) as f:
            assert read_csv(f.read())[1][0]["model"] == "tiny"
    print("self-test ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
