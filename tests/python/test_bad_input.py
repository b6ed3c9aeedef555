"""Wrong types and values found in review: each raises ValueError naming the value, never another error."""

import os
import shutil
import tempfile
import unittest

from whisper_vram import GpuManager


class BadInput(unittest.TestCase):
    def setUp(self):
        self.manager = GpuManager(simulate="24GiB")

    def assert_value_error(self, fragment, call, *args, **kwargs):
        with self.assertRaises(ValueError) as ctx:
            call(*args, **kwargs)
        self.assertIn(fragment, str(ctx.exception))

    def test_none_is_not_a_silent_default(self):
        # model_name=None used to size "medium"; segment/batch/precision/engine/margin None the defaults.
        m = self.manager
        self.assert_value_error("model name None is invalid", m.calculate_memory_usage, None)
        self.assert_value_error("model name None is invalid", m.solve_min_memory, None)
        self.assert_value_error("segment duration None is invalid", m.calculate_memory_usage, "medium", None)
        self.assert_value_error("batch size 'None' is invalid", m.calculate_memory_usage, "medium", batch_size=None)
        self.assert_value_error("precision None is invalid", m.best_model, 8, precision=None)
        # engine=None is the manager's default engine (GpuManager(engine=...), else WHISPER_VRAM_ENGINE, else guide).
        self.assertEqual(m.calculate_memory_usage("medium", engine=None)["engine"], "guide")
        self.assertEqual(GpuManager(simulate="8GiB", engine="ct2").calculate_memory_usage("medium")["engine"],
                         "faster-whisper")
        self.assert_value_error("unknown engine 'vllm'", GpuManager(engine="vllm").calculate_memory_usage, "medium")
        self.assert_value_error("margin None is invalid", m.solve_max_segment, "medium", 8, margin=None)
        # beam_size, gpu and flash_attention None still mean "the engine's default".
        self.assertEqual(m.calculate_memory_usage("medium", beam_size=None, gpu=None)["model"], "medium")

    def test_empty_engine_is_unknown_not_the_guide(self):
        self.assert_value_error("unknown engine ''", self.manager.calculate_memory_usage, "medium", engine="")

    def test_huge_beam_size(self):
        # 10**30 overflows a C++ long long: was pybind11's RuntimeError "Unable to cast".
        self.assert_value_error("beam size '1000000000000000000000000000000' is invalid",
                                self.manager.calculate_memory_usage, "medium", engine="faster-whisper",
                                beam_size=10**30)

    def test_ints_beyond_a_double(self):
        # 10**400 does not fit a double: was pybind11's RuntimeError "Unable to cast".
        m = self.manager
        self.assert_value_error("segment duration 1000", m.calculate_memory_usage, "medium", 10**400)
        self.assert_value_error("margin 1000", m.calculate_memory_usage, "medium", margin=10**400)
        self.assert_value_error("available memory 1000", m.best_model, 10**400)

    def test_flags_are_bools(self):
        # pybind11's bool caster took None, 1.5 and nan as flags.
        for value in (None, 1.5, float("nan"), [1], "yes"):
            self.assert_value_error("english_only", self.manager.best_model, 8, english_only=value)
            self.assert_value_error("english_only", self.manager.recommend, english_only=value)

    def test_non_sequence_arguments(self):
        m = self.manager
        self.assert_value_error("gpu_ids 1.5 is invalid", m.check_gpu_memory_sufficient, "medium", gpu_ids=1.5)
        self.assert_value_error("gpus 0 is invalid", m.recommend, gpus=0)
        self.assert_value_error("current_tasks 5 is invalid", m.can_run_concurrent_task, "medium", 5)
        self.assert_value_error("current_tasks 'medium' is invalid", m.can_run_concurrent_task, "medium", "medium")
        # The C++ core is created on first use: that is where the spec's type is checked.
        self.assert_value_error("simulate 5 is invalid", GpuManager(simulate=5).get_gpu_memory_info)

    def test_reserve_policy_and_timeout(self):
        state = tempfile.mkdtemp(prefix="whisper-vram-pytest-")
        old = os.environ.get("WHISPER_VRAM_STATE_DIR")
        os.environ["WHISPER_VRAM_STATE_DIR"] = state
        try:
            self.assert_value_error("policy None is invalid", self.manager.reserve, "tiny", timeout=0, policy=None)
            # Above 366 days the deadline would overflow (undefined behaviour in C++).
            self.assert_value_error("must be a number of seconds from 0 to 31622400", self.manager.reserve, "tiny",
                                    timeout=1e29)
            self.assert_value_error("timeout 1000", self.manager.reserve, "tiny", timeout=10**400)
        finally:
            if old is None:
                os.environ.pop("WHISPER_VRAM_STATE_DIR", None)
            else:
                os.environ["WHISPER_VRAM_STATE_DIR"] = old
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
