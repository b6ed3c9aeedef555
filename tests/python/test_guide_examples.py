"""The guide's own Python examples (examples/guide/*.py: the guide's code, only the import line
changed), run on a simulated 8 GiB GPU; their printed numbers are checked."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

REPO = os.environ.get("WHISPER_VRAM_REPO", os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(REPO, "examples", "guide")


def run_example(name, simulate="8GiB"):
    env = dict(os.environ)
    env["WHISPER_VRAM_SIMULATE"] = simulate
    env["WHISPER_VRAM_STATE_DIR"] = tempfile.mkdtemp(prefix="whisper-vram-py-")
    run = subprocess.run([sys.executable, os.path.join(EXAMPLES, name)], capture_output=True, text=True,
                         env=env, check=False, timeout=60)
    if run.returncode != 0:
        raise AssertionError(f"{name} exited {run.returncode}:\n{run.stdout}\n{run.stderr}")
    return run.stdout


class GuideExamples(unittest.TestCase):
    def test_usage_1_to_3(self):
        out = run_example("usage.py").splitlines()
        # 1. medium: total 4.21875 → "4.22", recommended 5.0625 → "5.06"
        self.assertEqual(out[0], "total: 4.22GB")
        self.assertEqual(out[1], "recommended: 5.06GB")
        # 2. large, 600 s, batch 2, int8: 2.5, 7.5, 15.2, 4.425 (total 29.625, recommended 35.55)
        self.assertEqual(out[2:6], ["base_model: 2.50GB", "audio_processing: 7.50GB",
                                    "batch_overhead: 15.20GB", "pytorch_overhead: 4.42GB"])
        # 3. medium, 300 s, float16 needs 14.175 GiB recommended: does not fit 8 GiB
        self.assertTrue(out[6].startswith("not enough: "), out[6])
        self.assertIn("14.175", out[6])
        self.assertFalse(out[6].startswith("not enough: not enough"), out[6])
        tips = [line for line in out[7:] if line.startswith("  • ")]
        self.assertTrue(any("117 s" in tip for tip in tips), tips)   # the longest segment that fits
        self.assertTrue(any("int8" in tip for tip in tips), tips)

    def test_usage_3_fits_on_24_gib(self):
        out = run_example("usage.py", simulate="24GiB").splitlines()
        self.assertEqual(out[6], "enough memory")

    def test_sweeps(self):
        lines = [line.split() for line in run_example("sweeps.py").splitlines()]
        by_segment = {int(k): float(v) for k, v in lines[:5]}
        # medium: recommended = 1.2 × (3.375 + 0.84375 × segment/30)
        for segment, expected in {30: 5.0625, 60: 6.075, 120: 8.1, 300: 14.175, 600: 24.3}.items():
            self.assertAlmostEqual(by_segment[segment], expected, places=9)
        by_precision = {k: float(v) for k, v in lines[5:]}
        # large at 30 s: recommended = 1.2 × (1.5875 × base + 0.25)
        for precision, base in {"float32": 10.0, "float16": 5.0, "int8": 2.5, "int4": 1.25}.items():
            self.assertAlmostEqual(by_precision[precision], 1.2 * (1.5875 * base + 0.25), places=9)

    def test_concurrency_helpers(self):
        out = run_example("concurrency.py").splitlines()
        self.assertEqual(out[0], "guide sample, no tasks running: True")      # 5.0625 <= 8
        # The guide's sample counts the running medium twice: 5.0625 + 5.0625 > 8 → False.
        self.assertEqual(out[1], "guide sample, one medium running: False")
        self.assertEqual(out[2], "best model for 8 GB: medium")               # large needs 9.825
        self.assertEqual(out[3], "library, best model for 8 GB: medium")

    def test_debug_commands(self):
        out = run_example("debug.py")
        report = json.loads(out[: out.rindex("}") + 1])
        self.assertEqual(report["source"], "simulated")
        self.assertIn("used: 0.00GB", out)
        self.assertIn("free: 8.00GB", out)


if __name__ == "__main__":
    unittest.main()
