"""Planner, check, debug and concurrency through the Python module (simulated GPUs, private ledger)."""

import json
import os
import shutil
import tempfile
import threading
import time
import unittest

from whisper_vram import (GpuManager, GpuUnavailableError, Lease, ReservationError, ReservationTimeoutError,
                          gpu_manager)


class PrivateStateDir(unittest.TestCase):
    """Each test gets its own reservation ledger."""

    def setUp(self):
        self.state_dir = tempfile.mkdtemp(prefix="whisper-vram-pytest-")
        self.old_state = os.environ.get("WHISPER_VRAM_STATE_DIR")
        os.environ["WHISPER_VRAM_STATE_DIR"] = self.state_dir

    def tearDown(self):
        if self.old_state is None:
            os.environ.pop("WHISPER_VRAM_STATE_DIR", None)
        else:
            os.environ["WHISPER_VRAM_STATE_DIR"] = self.old_state
        shutil.rmtree(self.state_dir, ignore_errors=True)


class Planner(unittest.TestCase):
    def test_assign_optimal_model_as_the_guide(self):
        # recommended at 30 s float16: large 9.825, medium 5.0625, small 3.1575, base 2.205, tiny 1.824
        self.assertEqual(gpu_manager.assign_optimal_model(8), "medium")
        self.assertEqual(gpu_manager.assign_optimal_model(4), "small")
        self.assertEqual(gpu_manager.assign_optimal_model(1), "tiny")       # the guide's fallback
        self.assertFalse(gpu_manager.best_model(1)["fits"])                  # ...which does not fit
        self.assertTrue(gpu_manager.best_model(8)["fits"])

    def test_solvers(self):
        # medium float16 on 8 GiB: recommended(s) = 1.2 × (3.375 + 0.84375 s/30) ≤ 8 → s ≤ 117.03
        self.assertEqual(gpu_manager.solve_max_segment("medium", 8)["value"], 117)
        # batch b at 30 s: 1.2 × (2.5 + 0.375 + 0.2 + 0.375b + (2.7 + 0.375b)·0.25) ≤ 8 → b ≤ 6.4
        self.assertEqual(gpu_manager.solve_max_batch("medium", 8)["value"], 6)
        self.assertEqual(gpu_manager.solve_max_concurrent("medium", 24)["value"], 4)   # 4 × 5.0625 = 20.25
        self.assertEqual(gpu_manager.solve_min_memory("medium")["value"], 5.0625)
        self.assertFalse(gpu_manager.solve_max_segment("large", 4)["fits"])

    def test_recommend_and_presets(self):
        row = gpu_manager.recommend("RTX 3090")["gpus"][0]
        self.assertEqual((row["model"], row["max_segment"], row["max_concurrent"]), ("large", 240, 2))
        presets = {p["name"]: p for p in gpu_manager.presets()}
        self.assertAlmostEqual(presets["balanced"]["total_required"], 11.8125, places=12)
        self.assertAlmostEqual(presets["balanced"]["recommended"], 14.175, places=12)
        self.assertFalse(presets["balanced"]["fits_target"])       # 14.175 > 8 GiB of an RTX 3070
        self.assertTrue(presets["efficient"]["fits_target"])

    def test_engine_keyword(self):
        flat = [gpu_manager.calculate_memory_usage("large-v3", s, engine="faster-whisper")["total_required"]
                for s in (30, 3600)]
        self.assertEqual(flat[0], flat[1])                        # engines keep only 30 s windows on the GPU
        with self.assertRaises(ValueError) as ctx:
            gpu_manager.calculate_memory_usage("large-v3", precision="q4_0", engine="faster-whisper")
        self.assertIn("int8_float16", str(ctx.exception))          # lists what the engine supports


class Check(unittest.TestCase):
    def test_guide_usage_3_on_8_gib(self):
        result = GpuManager(simulate="8GiB").check_gpu_memory_sufficient(
            model_name="medium", gpu_ids=[0], segment_duration=300, batch_size=1, precision="float16")
        self.assertFalse(result["sufficient"])
        segment = [s for s in result["suggestions"] if s["config"]["segment_duration"] != 300]
        self.assertEqual(segment[0]["config"]["segment_duration"], 117)
        for suggestion in result["suggestions"]:
            config = suggestion["config"]
            again = gpu_manager.calculate_memory_usage(config["model"], config["segment_duration"],
                                                       config["batch_size"], config["precision"])
            self.assertLessEqual(again["recommended"], 8.0, suggestion)
        json.dumps(result)

    def test_errors(self):
        manager = GpuManager(simulate="8GiB,24GiB")
        with self.assertRaises(ValueError) as ctx:
            manager.check_gpu_memory_sufficient("medium", gpu_ids=[7])
        self.assertIn("'7' does not exist", str(ctx.exception))
        with self.assertRaises(ValueError):
            manager.check_gpu_memory_sufficient("medium", gpu_ids=0)   # not a list
        self.assertFalse(manager.check_gpu_memory_sufficient("large", segment_duration=120)["sufficient"])
        self.assertTrue(manager.check_gpu_memory_sufficient("large", gpu_ids=[1], segment_duration=120)["sufficient"])

    def test_no_gpu_information(self):
        old = dict(os.environ)
        os.environ.pop("WHISPER_VRAM_SIMULATE", None)
        os.environ["WHISPER_VRAM_NVML_LIBRARY"] = "/nonexistent/libnvidia-ml.so.1"
        try:
            with self.assertRaises(GpuUnavailableError):
                GpuManager().check_gpu_memory_sufficient("medium")
            report = GpuManager().get_cuda_debug_info()        # a report, not an exception
            json.dumps(report)
        finally:
            os.environ.clear()
            os.environ.update(old)


class Concurrency(PrivateStateDir):
    def test_corrected_accounting(self):
        # 24 GiB with 12 GiB used by a running large task: 12 GiB free. The new large (9.825) fits;
        # the guide's sample adds the running task again (9.825 + 9.825 > 12) and says no.
        manager = GpuManager(simulate="24GiB:used=12GiB")
        details = manager.can_run_concurrent_task_details("large", [{"model": "large"}])
        self.assertTrue(details["can_run"])
        self.assertFalse(details["guide_result"])
        self.assertTrue(manager.can_run_concurrent_task("large", [{"model": "large"}]))
        # Plain model names work too; on a full card (2 GiB free) nothing more fits.
        # small needs 3.1575 GiB recommended > 2 GiB free
        self.assertFalse(GpuManager(simulate="24GiB:used=22GiB").can_run_concurrent_task("small", ["large", "large"]))

    def test_context_manager_releases(self):
        manager = GpuManager(simulate="24GiB")
        with manager.reserve("large", gpu_ids=[0], timeout=5) as lease:
            self.assertIsInstance(lease, Lease)
            self.assertTrue(lease.active)
            self.assertEqual(lease.info["bytes"], 10549513421)   # 9.825 × 2^30 = 10549513420.8, rounded up
            with manager.reserve("large", timeout=0):
                # Two large (19.65 GiB) held; a third (29.475) does not fit 24 GiB.
                with self.assertRaises(ReservationTimeoutError):
                    manager.reserve("large", timeout=0)
        self.assertFalse(lease.active)
        with manager.reserve("large", timeout=0), manager.reserve("large", timeout=0):
            pass                                                   # capacity came back

    def test_never_fits_fails_at_once(self):
        started = time.monotonic()
        with self.assertRaises(ReservationError) as ctx:
            GpuManager(simulate="8GiB").reserve("large", segment_duration=600, timeout=30)
        self.assertIn("never fit", str(ctx.exception))
        self.assertLess(time.monotonic() - started, 10)

    def test_waiting_releases_the_gil(self):
        manager = GpuManager(simulate="12GiB")
        first = manager.reserve("large", timeout=0)              # 9.825 of 12 GiB
        granted = []

        def waiter():
            with manager.reserve("large", timeout=20) as lease:
                granted.append(lease.info["bytes"])

        thread = threading.Thread(target=waiter)
        thread.start()
        ticks = 0
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:                       # Python keeps running meanwhile
            ticks += 1
        self.assertGreater(ticks, 1000)
        self.assertEqual(granted, [])
        first.release()
        thread.join(20)
        self.assertEqual(granted, [10549513421])

    def test_release_all_memory_calls_hooks(self):
        manager = GpuManager(simulate="24GiB")
        calls = []
        manager.register_release_hook("models", lambda: calls.append("models"))
        lease = manager.reserve("medium", timeout=0)
        report = manager.release_all_memory()
        self.assertEqual(calls, ["models"])
        self.assertEqual(len(report["reservations_dropped"]), 1)
        self.assertTrue(report["cannot_free"])
        # The medium's 5.0625 GiB is free again: two large (2 × 9.825 = 19.65) fit beside nothing.
        with manager.reserve("large", timeout=0), manager.reserve("large", timeout=0):
            lease.release()   # the dropped lease's release is a harmless no-op


class PlanningPerGpu(PrivateStateDir):
    """Every plan sized for its GPU; planning on admittable memory; keyword parity with the CLI."""

    def test_solvers_and_best_model_plan_on_the_named_card(self):
        # available_memory None + gpu="T4": the card's usable 15360 MiB, as the CLI's --gpu (issue 11).
        on_card = gpu_manager.solve_max_batch("large-v3", engine="faster-whisper", gpu="T4")
        by_memory = gpu_manager.solve_max_batch("large-v3", 15360 / 1024, engine="faster-whisper", gpu="T4")
        self.assertEqual(on_card["value"], by_memory["value"])
        self.assertGreater(on_card["value"], 1)
        self.assertEqual(gpu_manager.best_model(engine="faster-whisper", gpu="T4")["model"],
                         gpu_manager.best_model(15.0, engine="faster-whisper", gpu="T4")["model"])
        with self.assertRaisesRegex(ValueError, "available_memory is None"):
            gpu_manager.solve_max_segment("medium")

    def test_check_sizes_for_the_simulated_card(self):
        # CTranslate2 runs float16 as float32 on a GTX 1070 (CC 6.1): large-v3 needs calc --gpu's 9.85 GiB.
        card = gpu_manager.calculate_memory_usage("large-v3", engine="faster-whisper", gpu="GTX 1070")
        result = GpuManager(simulate="GTX 1070").check_gpu_memory_sufficient("large-v3", engine="faster-whisper")
        self.assertFalse(result["sufficient"])
        self.assertEqual(result["gpus"][0]["required_bytes"], card["recommended_bytes"])
        self.assertTrue(any("float16 runs as float32" in n for n in result["gpus"][0]["notes"]))
        with self.assertRaisesRegex(ValueError, "bfloat16"):
            GpuManager(simulate="T4").check_gpu_memory_sufficient("medium", engine="faster-whisper",
                                                                  precision="bfloat16")

    def test_reserve_sizes_for_the_simulated_card(self):
        card = gpu_manager.calculate_memory_usage("medium", engine="faster-whisper", gpu="GTX 1070")
        with GpuManager(simulate="GTX 1070").reserve("medium", timeout=0, engine="faster-whisper") as lease:
            self.assertEqual(lease.info["bytes"], card["recommended_bytes"])
        with self.assertRaisesRegex(ValueError, "bfloat16"):
            GpuManager(simulate="T4").reserve("medium", timeout=0, engine="faster-whisper", precision="bfloat16")

    def test_reservations_count_unless_ignored(self):
        manager = GpuManager(simulate="24GiB")
        lease = manager.reserve("large", timeout=0)          # 9.825 GiB of 24
        other = manager.reserve("large", timeout=0)          # 19.65 GiB reserved
        try:
            result = manager.check_gpu_memory_sufficient("large")
            self.assertFalse(result["sufficient"])            # 4.35 GiB admittable
            self.assertEqual(result["memory_basis"], "admittable")
            self.assertEqual(result["gpus"][0]["ledger_reserved_bytes"], 2 * 10549513421)
            self.assertEqual(result["gpus"][0]["available_bytes"], 24 * 2**30 - 2 * 10549513421)
            self.assertTrue(manager.check_gpu_memory_sufficient("large", ignore_reservations=True)["sufficient"])
            row = manager.recommend()["gpus"][0]
            self.assertEqual(row["memory_bytes"], 24 * 2**30 - 2 * 10549513421)
            self.assertEqual(manager.recommend(ignore_reservations=True)["gpus"][0]["memory_bytes"], 24 * 2**30)
        finally:
            lease.release()
            other.release()

    def test_keyword_parity(self):
        # beam_size, gpu and flash_attention reach the estimate on every planning method.
        fw = dict(engine="faster-whisper", gpu="GTX 1070", beam_size=1)
        one = gpu_manager.calculate_memory_usage("medium", **fw)["recommended"]
        self.assertEqual(gpu_manager.solve_min_memory("medium", **fw)["value"], one)
        self.assertNotEqual(gpu_manager.solve_min_memory("medium", engine="faster-whisper")["value"], one)
        self.assertEqual(gpu_manager.solve_max_concurrent("medium", 8 * one + 0.001, **fw)["value"], 8)
        best = gpu_manager.best_model(one, **fw)
        self.assertTrue(best["fits"])
        self.assertLessEqual(best["recommended"], one)
        self.assertGreaterEqual(gpu_manager.solve_max_batch("medium", 8, **fw)["value"], 1)
        self.assertEqual(gpu_manager.solve_max_segment("medium", 8, engine="transformers", flash_attention=False,
                                                       gpu="T4")["quantity"], "max_segment")
        row = gpu_manager.recommend("T4", engine="faster-whisper", beam_size=1)["gpus"][0]
        self.assertGreater(row["max_batch"], 1)
        with self.assertRaisesRegex(ValueError, "ignore_reservations"):
            gpu_manager.recommend("T4", ignore_reservations=1)


if __name__ == "__main__":
    unittest.main()
