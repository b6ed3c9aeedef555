"""GpuManager(calibration=...): engine estimates apply a calibration profile; the guide never does."""

import json
import os
import subprocess
import tempfile
import unittest

from whisper_vram import GpuManager

CLI = os.environ.get("WHISPER_VRAM_CLI", "whisper-vram")


class Calibration(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        self.addCleanup(self.folder.cleanup)
        # A faster-whisper small record measured at exactly twice the library's estimate: factor 2.
        plain = GpuManager(calibration="none").calculate_memory_usage(
            "small", engine="faster-whisper", beam_size=5, gpu="RTX 3090", cuda_module_loading="lazy")
        self.plain = plain
        record = {"version": 1, "engine": "faster-whisper", "model": "small", "precision": "float16",
                  "batch_size": 1, "beam_size": 5, "gpu_name": "NVIDIA GeForce RTX 3090",
                  "peak_bytes": plain["total_required_bytes"] * 2, "peak_method": "process_tree",
                  "cuda_module_loading": "lazy"}
        history = os.path.join(self.folder.name, "m.jsonl")
        with open(history, "w", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        self.profile = os.path.join(self.folder.name, "p.json")
        env = dict(os.environ, WHISPER_VRAM_STATE_DIR=self.folder.name)
        subprocess.run([CLI, "calibrate", history, "--out", self.profile], check=True, capture_output=True, env=env)

    def test_engine_estimate_is_calibrated(self):
        r = GpuManager(calibration=self.profile).calculate_memory_usage(
            "small", engine="faster-whisper", beam_size=5, gpu="RTX 3090", cuda_module_loading="lazy")
        self.assertEqual(r["total_required_bytes"], self.plain["total_required_bytes"] * 2)
        self.assertEqual(r["uncalibrated"]["total_required_bytes"], self.plain["total_required_bytes"])
        self.assertEqual(r["calibration"]["runs"], 1)
        self.assertIsNone(r["calibration"]["held_out_error_pct"])
        self.assertTrue(any("calibrated from 1 run" in n for n in r["notes"]))

    def test_guide_is_never_calibrated(self):
        with_profile = GpuManager(calibration=self.profile).calculate_memory_usage("small")
        self.assertEqual(with_profile, GpuManager(calibration="none").calculate_memory_usage("small"))
        self.assertNotIn("calibration", with_profile)

    def test_missing_profile_is_a_value_error(self):
        with self.assertRaisesRegex(ValueError, "nope.json: no such file"):
            GpuManager(calibration=os.path.join(self.folder.name, "nope.json")).calculate_memory_usage("small")


if __name__ == "__main__":
    unittest.main()
