#!/usr/bin/env python3
"""Prints the README's table of engine-aware estimates next to the guide's, from the CLI.

For every catalog model: total_required / recommended (GiB, 2 decimals) of the guide formula
("—" where the guide has no row) and of each engine at its defaults (precision float16 = each
engine's half precision, the engine's default beam and batch, 30 s, margin 0.2).

Usage: python3 scripts/measure/engine_table.py [path/to/whisper-vram]   (default build/default/whisper-vram)
"""
import json
import os
import subprocess
import sys

ENGINES = ["openai-whisper", "transformers", "faster-whisper", "whisper.cpp", "whisperx"]


def calc(cli, *args):
    proc = subprocess.run([cli, "calc", *args, "--json"], capture_output=True, text=True)
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout)


def cell(estimate):
    if estimate is None:
        return "—"
    return f"{estimate['total_required']:.2f} / {estimate['recommended']:.2f}"


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    cli = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build", "default", "whisper-vram")
    models = [m["name"] for m in json.loads(subprocess.run([cli, "models", "--json"], capture_output=True, text=True,
                                                           check=True).stdout)["models"]]
    defaults = {e: calc(cli, "tiny", "--engine", e) for e in ENGINES}
    def label(e):
        d = defaults[e]
        batch = f", batch {d['batch_size']}" if d["batch_size"] != 1 else ""
        return f"{e} ({d['precision']}, beam {d['beam_size']}{batch})"

    header = ["model", "guide"] + [label(e) for e in ENGINES]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for model in models:
        row = [model, cell(calc(cli, model))] + [cell(calc(cli, model, "--engine", e)) for e in ENGINES]
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
