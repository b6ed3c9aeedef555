"""The Python module's API: numbers from the guide's formula, errors, simulated GPUs."""

import json
import math
import os
import subprocess
import unittest

import whisper_vram
from whisper_vram import GpuManager, GpuUnavailableError, gpu_manager

CLI = os.environ.get("WHISPER_VRAM_CLI", "whisper-vram")


def cli_error(*args):
    """The CLI's stderr message (without the 'whisper-vram: ' prefix) for a usage error."""
    run = subprocess.run([CLI, *args], capture_output=True, text=True, check=False)
    assert run.returncode == 2, (args, run.returncode, run.stderr)
    return run.stderr.strip().removeprefix("whisper-vram: ")


class CalculateMemoryUsage(unittest.TestCase):
    def test_medium_defaults(self):
        r = gpu_manager.calculate_memory_usage("medium")
        # 2.5 + 0.375 + 0.575 + 0.76875 = 4.21875; × 1.2 = 5.0625
        self.assertEqual(r["total_required"], 4.21875)
        self.assertEqual(r["recommended"], 5.0625)
        self.assertEqual(list(r["breakdown"]),
                         ["base_model", "audio_processing", "batch_overhead", "pytorch_overhead"])
        self.assertEqual(r["breakdown"]["pytorch_overhead"], 0.76875)

    def test_large_600s_batch2_int8_with_keywords(self):
        r = gpu_manager.calculate_memory_usage(
            model_name="large", segment_duration=600, batch_size=2, precision="int8")
        # 2.5 + 7.5 + 15.2 + 4.425 = 29.625; × 1.2 = 35.55
        self.assertAlmostEqual(r["total_required"], 29.625, places=12)
        self.assertAlmostEqual(r["recommended"], 35.55, places=12)
        self.assertEqual(r["model"], "large")
        self.assertEqual(r["batch_size"], 2)

    def test_positional_arguments_and_margin(self):
        r = gpu_manager.calculate_memory_usage("medium", 300, 1, "float16")
        self.assertAlmostEqual(r["total_required"], 11.8125, places=12)
        r = gpu_manager.calculate_memory_usage("medium", margin=0)
        self.assertEqual(r["recommended"], 4.21875)

    def test_result_is_json_serialisable(self):
        json.dumps(gpu_manager.calculate_memory_usage("small"))


class Errors(unittest.TestCase):
    def assert_value_error(self, fragment, *args, **kwargs):
        with self.assertRaises(ValueError) as ctx:
            gpu_manager.calculate_memory_usage(*args, **kwargs)
        self.assertIn(fragment, str(ctx.exception))
        return str(ctx.exception)

    def test_unknown_model_same_message_as_cli(self):
        message = self.assert_value_error("did you mean 'medium'", "mediun")
        self.assertEqual(message, cli_error("calc", "mediun"))

    def test_bad_precision_same_message_as_cli(self):
        message = self.assert_value_error("unknown precision 'fp8'", "medium", precision="fp8")
        self.assertEqual(message, cli_error("calc", "medium", "--precision", "fp8"))

    def test_segment(self):
        for bad in (0, -5, math.nan, math.inf, 90000):
            self.assert_value_error("segment duration", "medium", segment_duration=bad)
        self.assert_value_error("segment duration '30'", "medium", segment_duration="30")
        self.assertEqual(self.assert_value_error("segment duration", "medium", segment_duration=-5),
                         cli_error("calc", "medium", "--segment=-5"))

    def test_batch(self):
        for bad in (0, 4097, -1):
            self.assert_value_error("batch size", "medium", batch_size=bad)
        self.assert_value_error("batch size '2.5'", "medium", batch_size=2.5)
        self.assert_value_error("batch size", "medium", batch_size=True)
        self.assertEqual(gpu_manager.calculate_memory_usage("medium", batch_size=2.0)["batch_size"], 2)

    def test_models_without_guide_row(self):
        self.assert_value_error("no row in the guide", "turbo")


class SimulatedGpus(unittest.TestCase):
    def test_constructor_simulation(self):
        info = GpuManager(simulate="8GiB").get_gpu_memory_info()
        self.assertEqual(info["source"], "simulated")
        self.assertEqual(len(info["gpus"]), 1)
        self.assertEqual(info["gpus"][0]["total"], 8.0)
        self.assertEqual(info["gpus"][0]["free_bytes"], 8 * 1024**3)

    def test_catalog_name_and_used(self):
        info = GpuManager(simulate="RTX 3090:used=2GiB,8GiB").get_gpu_memory_info()
        self.assertEqual(info["gpus"][0]["name"], "RTX 3090")
        self.assertEqual(info["gpus"][0]["free"], 22.0)
        self.assertEqual(info["gpus"][1]["index"], 1)

    def test_environment_variable(self):
        old = os.environ.get("WHISPER_VRAM_SIMULATE")
        os.environ["WHISPER_VRAM_SIMULATE"] = "12GiB"
        try:
            self.assertEqual(GpuManager().get_gpu_memory_info()["gpus"][0]["total"], 12.0)
        finally:
            if old is None:
                del os.environ["WHISPER_VRAM_SIMULATE"]
            else:
                os.environ["WHISPER_VRAM_SIMULATE"] = old

    def test_bad_spec_is_value_error(self):
        with self.assertRaises(ValueError) as ctx:
            GpuManager(simulate="8GiB:used=9GiB").get_gpu_memory_info()
        self.assertIn("exceeds", str(ctx.exception))

    def test_no_gpu_information_is_its_own_exception(self):
        old = dict(os.environ)
        os.environ.pop("WHISPER_VRAM_SIMULATE", None)
        os.environ["WHISPER_VRAM_NVML_LIBRARY"] = "/nonexistent/libnvidia-ml.so.1"
        try:
            with self.assertRaises(GpuUnavailableError) as ctx:
                GpuManager().get_gpu_memory_info()
            self.assertIn("no GPU information", str(ctx.exception))
            self.assertTrue(issubclass(GpuUnavailableError, RuntimeError))
        finally:
            os.environ.clear()
            os.environ.update(old)


class Documentation(unittest.TestCase):
    def test_every_public_method_has_a_docstring(self):
        for name in dir(GpuManager):
            if name.startswith("_"):
                continue
            self.assertTrue(getattr(GpuManager, name).__doc__, name)

    def test_every_public_method_is_annotated_inline(self):
        # One source of signatures: the annotations in __init__.py (no __init__.pyi repeating them).
        import inspect
        for name in dir(GpuManager):
            if name.startswith("_"):
                continue
            signature = inspect.signature(getattr(GpuManager, name))
            self.assertIsNot(signature.return_annotation, inspect.Signature.empty, name)
            for parameter in list(signature.parameters.values())[1:]:
                self.assertIsNot(parameter.annotation, inspect.Parameter.empty, f"{name}({parameter.name})")

    def test_the_core_stub_lists_every_method_of_the_compiled_module(self):
        import ast
        from whisper_vram import _core
        stub_path = os.path.join(os.path.dirname(whisper_vram.__file__), "_core.pyi")
        with open(stub_path, encoding="utf-8") as f:
            stub = ast.parse(f.read())
        for class_name in ("Manager", "Lease"):
            cls = next(n for n in stub.body if isinstance(n, ast.ClassDef) and n.name == class_name)
            stubbed = {f.name for f in cls.body if isinstance(f, ast.FunctionDef) and not f.name.startswith("_")}
            compiled = {name for name in dir(getattr(_core, class_name)) if not name.startswith("_")}
            self.assertEqual(stubbed, compiled, class_name)

    def test_type_stub_ships_with_the_package(self):
        package_dir = os.path.dirname(whisper_vram.__file__)
        self.assertTrue(os.path.exists(os.path.join(package_dir, "_core.pyi")))
        self.assertTrue(os.path.exists(os.path.join(package_dir, "py.typed")))
        self.assertFalse(os.path.exists(os.path.join(package_dir, "__init__.pyi")))

    def test_result_types_name_the_keys_returned(self):
        from whisper_vram import results
        manager = GpuManager(simulate="24GiB")
        answers = {
            results.MemoryEstimate: manager.calculate_memory_usage("medium"),
            results.CheckResult: manager.check_gpu_memory_sufficient("medium"),
            results.GpuMemoryInfo: manager.get_gpu_memory_info(),
            results.GpuInfo: manager.get_gpu_memory_info()["gpus"][0],
            results.ConcurrentTaskDetails: manager.can_run_concurrent_task_details("small", ["medium"]),
            results.CudaDebugInfo: manager.get_cuda_debug_info(),
            results.BestModelResult: manager.best_model(8),
            results.SolveResult: manager.solve_max_segment("medium", 8),
            results.RecommendResult: manager.recommend("T4"),
            results.Preset: manager.presets()[0],
            results.ReleaseResult: manager.release_all_memory(),
        }
        for typed, answer in answers.items():
            self.assertLessEqual(typed.__required_keys__, set(answer), typed.__name__)
            self.assertLessEqual(set(answer), typed.__required_keys__ | typed.__optional_keys__, typed.__name__)


class Warnings(unittest.TestCase):
    """The library's warnings are Python RuntimeWarnings (warnings.warn), never prints."""

    def test_the_sink_warns_from_the_calling_thread_and_from_a_thread_without_the_gil(self):
        from whisper_vram import _core
        for from_thread in (False, True):
            with self.assertWarns(RuntimeWarning) as caught:
                _core._emit_warning("ledger repaired", from_thread)
            self.assertEqual(str(caught.warning), "ledger repaired")

    def test_a_warning_made_an_error_is_reported_not_thrown_through_the_library(self):
        # The sink may run inside a lease's destructor: an exception must not cross the C++ code.
        import sys
        import warnings
        from whisper_vram import _core
        seen = []
        old_hook = sys.unraisablehook
        sys.unraisablehook = lambda unraisable: seen.append(unraisable.exc_type)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                _core._emit_warning("ledger repaired")
        finally:
            sys.unraisablehook = old_hook
        self.assertEqual(seen, [RuntimeWarning])

    def test_a_repaired_ledger_is_a_runtime_warning(self):
        import tempfile
        state = tempfile.mkdtemp(prefix="whisper-vram-py-")
        with open(os.path.join(state, "ledger"), "w", encoding="utf-8") as f:
            # Our header with a damaged checksum and a damaged body: repaired (a file without the
            # header is not ours and would be refused instead).
            f.write('{"format":"whisper-vram-ledger","version":2,"next_id":1}\tdeadbeef\nnot a ledger\n')
        old = os.environ.get("WHISPER_VRAM_STATE_DIR")
        os.environ["WHISPER_VRAM_STATE_DIR"] = state
        try:
            manager = GpuManager(simulate="24GiB")
            with self.assertWarns(RuntimeWarning) as caught:
                with manager.reserve("small", timeout=0):
                    pass
            self.assertIn("corrupt", str(caught.warning))
        finally:
            if old is None:
                del os.environ["WHISPER_VRAM_STATE_DIR"]
            else:
                os.environ["WHISPER_VRAM_STATE_DIR"] = old


class SlurmShards(unittest.TestCase):
    """Inside a Slurm job with shards, a reservation is capped at the job's shards x shard_granule."""

    def setUp(self):
        import tempfile
        self.saved = {k: os.environ.get(k) for k in ("SLURM_JOB_ID", "SLURM_SHARDS_ON_NODE", "WHISPER_VRAM_STATE_DIR")}
        os.environ["SLURM_JOB_ID"] = "7"
        os.environ["SLURM_SHARDS_ON_NODE"] = "10"
        os.environ["WHISPER_VRAM_STATE_DIR"] = tempfile.mkdtemp(prefix="whisper-vram-py-slurm-")

    def tearDown(self):
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def test_the_cap_is_shards_times_the_granule(self):
        # large, float16, 30 s: 9.825 GiB recommended. 10 shards of 1 GiB (the default): granted.
        manager = GpuManager(simulate="80GiB")
        with manager.reserve("large", timeout=0) as lease:
            self.assertAlmostEqual(lease.info["gib"], 9.825, places=3)
            self.assertEqual(lease.info["bytes"], manager.calculate_memory_usage("large")["recommended_bytes"])
        # 10 shards of 512 MiB: a 5 GiB cap, which it can never fit in.
        with self.assertRaises(whisper_vram.ReservationError) as caught:
            GpuManager(simulate="80GiB", shard_granule="512MiB").reserve("large", timeout=0)
        self.assertIn("5.00 GiB", str(caught.exception))
        # A granule of 2 (GiB, as the CLI reads a bare number): a 20 GiB cap, granted.
        with GpuManager(simulate="80GiB", shard_granule="2").reserve("large", timeout=0):
            pass

    def test_a_bad_granule_is_a_value_error_naming_it(self):
        with self.assertRaises(ValueError) as caught:
            GpuManager(simulate="80GiB", shard_granule="0").presets()
        self.assertIn("shard_granule '0' is 0 bytes", str(caught.exception))
        with self.assertRaises(ValueError) as caught:
            GpuManager(simulate="80GiB", shard_granule=512).presets()  # type: ignore[arg-type]
        self.assertIn("shard_granule 512 is invalid: must be a string", str(caught.exception))


class Version(unittest.TestCase):
    def test_version_is_cmakes_project_version(self):
        import re
        repo = os.environ.get("WHISPER_VRAM_REPO", os.path.join(os.path.dirname(__file__), "..", ".."))
        with open(os.path.join(repo, "CMakeLists.txt"), encoding="utf-8") as f:
            version = re.search(r"project\([^)]*\bVERSION\s+([0-9.]+)", f.read()).group(1)
        self.assertEqual(whisper_vram.__version__, version)
        self.assertRegex(whisper_vram.__version__, r"^[0-9]+\.[0-9]+\.[0-9]+$")


if __name__ == "__main__":
    unittest.main()
