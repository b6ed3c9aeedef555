"""Issue 12 items 7 and 8 in Python: Ctrl-C wakes a waiting reserve(), leases learn they were
released, GPUs are numbered in CUDA order, and environment bytes that are not UTF-8 never raise."""

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from whisper_vram import GpuManager

CLI = os.environ.get("WHISPER_VRAM_CLI", "whisper-vram")


class PrivateEnvironment(unittest.TestCase):
    """Each test gets its own reservation ledger and restores the environment."""

    def setUp(self):
        self.old = dict(os.environ)
        self.state_dir = tempfile.mkdtemp(prefix="whisper-vram-pyrobust-")
        os.environ["WHISPER_VRAM_STATE_DIR"] = self.state_dir

    def tearDown(self):
        os.environ.clear()
        os.environ.update(self.old)
        shutil.rmtree(self.state_dir, ignore_errors=True)


class ReserveWakesForSignals(PrivateEnvironment):
    def test_ctrl_c_raises_keyboard_interrupt_promptly(self):
        manager = GpuManager(simulate="12GiB")
        held = manager.reserve("large", timeout=0)                 # 9.825 of 12 GiB: a second waits
        sent = []

        def interrupt():
            time.sleep(0.3)
            sent.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGINT)

        thread = threading.Thread(target=interrupt)
        thread.start()
        started = time.monotonic()
        with self.assertRaises(KeyboardInterrupt):
            manager.reserve("large", timeout=30)
        woke = time.monotonic()
        thread.join()
        self.assertLess(woke - started, 5)
        # The scheduler asks between polls, every 50 ms (scheduler_options::poll_interval): woken
        # long before the 30 s timeout. (How promptly is measured, not asserted: tests assert no
        # timings; bench/ctrl_c_latency.py reports it.)
        self.assertLess(woke - sent[0], 2.0)
        # Nothing was reserved by the interrupted call, and it left the queue: once the held lease is
        # released a large is admitted at once (a stale waiter ahead would block it).
        held.release()
        with manager.reserve("large", timeout=0) as again:
            self.assertTrue(again.active)


class LeasesLearnTheyWereReleased(PrivateEnvironment):
    def test_release_all_memory_makes_active_false(self):
        manager = GpuManager(simulate="24GiB")
        lease = manager.reserve("medium", timeout=0)
        self.assertTrue(lease.active)
        manager.release_all_memory()
        self.assertFalse(lease.active)
        lease.release()                                            # harmless

    def test_release_all_force_from_another_process(self):
        manager = GpuManager(simulate="24GiB")
        lease = manager.reserve("medium", timeout=0)
        other = manager.reserve("small", timeout=0)
        self.assertTrue(lease.active)
        run = subprocess.run([CLI, "release-all", "--force"], capture_output=True, text=True, check=False,
                             env={**os.environ, "WHISPER_VRAM_SIMULATE": "24GiB"})
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertFalse(lease.active)
        self.assertFalse(other.active)

    def test_a_lease_nobody_dropped_stays_active(self):
        manager = GpuManager(simulate="24GiB")
        with manager.reserve("medium", timeout=0) as lease:
            self.assertTrue(lease.active)
            self.assertTrue(lease.active)
        self.assertFalse(lease.active)


class CudaNumbering(PrivateEnvironment):
    def test_gpu_memory_info_is_in_cuda_order_with_the_nvml_index(self):
        os.environ["CUDA_VISIBLE_DEVICES"] = "2,0"
        info = GpuManager(simulate="8GiB,16GiB,24GiB").get_gpu_memory_info()
        self.assertEqual([(g["index"], g["nvml_index"], g["total"]) for g in info["gpus"]],
                         [(0, 2, 24.0), (1, 0, 8.0)])
        # The same numbering as gpu_ids: CUDA index 0 is the 24 GiB GPU.
        with GpuManager(simulate="8GiB,16GiB,24GiB").reserve("tiny", gpu_ids=[0], timeout=0) as lease:
            self.assertEqual(lease.info["gpu_uuid"], info["gpus"][0]["uuid"])
            self.assertEqual(lease.info["cuda_index"], 0)
            self.assertEqual(lease.info["gpu_index"], 2)

    def test_unset_visible_devices_numbers_every_gpu(self):
        os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        info = GpuManager(simulate="8GiB,16GiB").get_gpu_memory_info()
        self.assertEqual([(g["index"], g["nvml_index"]) for g in info["gpus"]], [(0, 0), (1, 1)])


class NonUtf8Environment(PrivateEnvironment):
    def test_debug_info_escapes_bytes_that_are_not_utf8(self):
        os.environb[b"CUDA_VISIBLE_DEVICES"] = b"0\xff"
        os.environb[b"CUDA_DEVICE_ORDER"] = b"PCI\xfe"
        os.environb[b"WHISPER_VRAM_NVML_LIBRARY"] = b"/nonexistent/lib\xfd.so"
        os.environ.pop("WHISPER_VRAM_SIMULATE", None)
        report = GpuManager().get_cuda_debug_info()                 # no UnicodeDecodeError
        env = report["environment"]
        self.assertEqual(env["CUDA_VISIBLE_DEVICES"], "0\\xff")
        self.assertEqual(env["CUDA_DEVICE_ORDER"], "PCI\\xfe")
        self.assertEqual(env["WHISPER_VRAM_NVML_LIBRARY"], "/nonexistent/lib\\xfd.so")

    def test_cli_debug_and_gpus_json_do_not_fail(self):
        env = {**os.environ, "WHISPER_VRAM_SIMULATE": "8GiB"}
        envb = {k.encode(): v.encode() for k, v in env.items()}
        envb[b"CUDA_VISIBLE_DEVICES"] = b"0\xff"
        envb[b"CUDA_DEVICE_ORDER"] = b"\xc3"
        debug = subprocess.run([CLI, "debug", "--json"], capture_output=True, env=envb, check=False)
        self.assertEqual(debug.returncode, 0, debug.stderr)
        import json
        report = json.loads(debug.stdout.decode("utf-8"))
        self.assertEqual(report["environment"]["CUDA_VISIBLE_DEVICES"], "0\\xff")
        self.assertEqual(report["environment"]["CUDA_DEVICE_ORDER"], "\\xc3")
        gpus = subprocess.run([CLI, "gpus", "--json"], capture_output=True, env=envb, check=False)
        self.assertNotEqual(gpus.returncode, 70, gpus.stderr)
        self.assertNotIn(b"internal error", gpus.stderr)

    def test_a_fifo_as_the_nvml_library_is_refused_not_waited_on(self):
        fifo = os.path.join(self.state_dir, "libnvidia-ml.so.1")
        os.mkfifo(fifo)
        env = {**os.environ, "WHISPER_VRAM_NVML_LIBRARY": fifo, "WHISPER_VRAM_SIMULATE": ""}
        debug = subprocess.run([CLI, "debug", "--json"], capture_output=True, text=True, env=env, timeout=20,
                               check=False)
        self.assertEqual(debug.returncode, 0, debug.stderr)
        self.assertIn("is a FIFO (named pipe), not a library file", debug.stdout)
        gpus = subprocess.run([CLI, "gpus"], capture_output=True, text=True, env=env, timeout=20, check=False)
        self.assertEqual(gpus.returncode, 3, gpus.stderr)
        self.assertIn("FIFO", gpus.stderr + gpus.stdout)


class StateDir(PrivateEnvironment):
    def test_empty_or_relative_state_dir_is_a_value_error_when_reserving(self):
        for value, text in (("", "set but empty"), ("rel/state", "relative path")):
            os.environ["WHISPER_VRAM_STATE_DIR"] = value
            manager = GpuManager(simulate="24GiB")
            self.assertGreater(manager.calculate_memory_usage("medium")["recommended"], 5)  # no folder needed
            with self.assertRaises(ValueError) as ctx:
                manager.reserve("tiny", timeout=0)
            self.assertIn(text, str(ctx.exception))


if __name__ == "__main__":
    unittest.main()
