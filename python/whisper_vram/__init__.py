"""whisper_vram: GPU memory for OpenAI Whisper, with the guide's ``gpu_manager`` API.

Backed by the whisper-vram C++ library. Every example of the guide runs unchanged except the
import line::

    from whisper_vram import gpu_manager

    result = gpu_manager.calculate_memory_usage("medium")
    print(f"total: {result['total_required']:.2f}GB")      # total: 4.22GB

Memory figures are GiB floats (the guide's "GB" are GiB) with ``*_bytes`` integers beside them.
Bad input raises ``ValueError`` with the same message as the ``whisper-vram`` CLI; missing GPU
information raises :class:`GpuUnavailableError`. ``WHISPER_VRAM_SIMULATE`` (or
``GpuManager(simulate="8GiB")``) replaces the real GPUs with simulated ones.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Union

from . import _core
from ._core import GpuUnavailableError

__all__ = ["GpuManager", "GpuUnavailableError", "gpu_manager"]


class GpuManager:
    """The guide's ``gpu_manager``: memory estimates, GPU information, checks, planning, concurrency.

    ``simulate`` is a GPU simulation spec ("8GiB", "RTX 3090,24GiB:used=2GiB"); ``None`` uses
    ``WHISPER_VRAM_SIMULATE`` when set, else the real GPUs through NVML. The C++ core is created on
    first use, so the environment is read then.
    """

    def __init__(self, simulate: Optional[str] = None) -> None:
        self._simulate = simulate
        self._impl: Optional[Any] = None

    def _core(self) -> Any:
        if self._impl is None:
            self._impl = _core.Manager(self._simulate)
        return self._impl

    # ---- estimates ----------------------------------------------------------------------------

    def calculate_memory_usage(
        self,
        model_name: str,
        segment_duration: float = 30,
        batch_size: int = 1,
        precision: str = "float16",
        *,
        engine: str = "guide",
        margin: float = 0.2,
        beam_size: Optional[int] = None,
        gpu: Optional[str] = None,
        flash_attention: Optional[bool] = None,
    ) -> Dict[str, Any]:
        """Memory a Whisper job needs, as the guide computes it (or an engine-aware estimate).

        Returns a dict with ``total_required`` and ``recommended`` (GiB floats, recommended =
        total × (1 + margin)), ``breakdown`` (the components in order: for the guide
        base_model, audio_processing, batch_overhead, pytorch_overhead), the inputs
        (``model``, ``precision``, ``segment_duration``, ``batch_size``, ``engine``, ``margin``),
        ``*_bytes`` integers and ``notes``.

        ``engine`` is "guide" (the guide's formula, default) or "openai-whisper",
        "transformers", "faster-whisper", "whisper.cpp" (``beam_size``, ``gpu`` — a GPU model
        name such as "T4" — and ``flash_attention`` apply to engines only).

        Raises ValueError for an unknown model, a bad precision, a non-positive segment, etc.
        """
        return self._core().calculate(_options(locals()))

    def check_gpu_memory_sufficient(
        self,
        model_name: str,
        gpu_ids: Optional[Sequence[Union[int, str]]] = None,
        segment_duration: float = 30,
        batch_size: int = 1,
        precision: str = "float16",
        *,
        engine: str = "guide",
        margin: float = 0.2,
        beam_size: Optional[int] = None,
        gpu: Optional[str] = None,
        flash_attention: Optional[bool] = None,
    ) -> Dict[str, Any]:
        """Does the configuration fit on each listed GPU? (The guide's check.)

        ``gpu_ids``: CUDA indices (as PyTorch numbers them, after CUDA_VISIBLE_DEVICES), UUIDs
        (or a unique prefix) or PCI bus ids; None = every visible GPU. Each GPU runs its own copy,
        so ``sufficient`` is True only when every listed GPU fits (recommended ≤ free).

        Returns ``{'sufficient', 'message', 'optimization_suggestions': [str, ...],
        'suggestions': [{'change', 'config': {...}, 'recommended'}, ...], 'gpus': [...],
        'required': {...calculate_memory_usage result...}, ...}``. Every suggestion is a single
        change re-estimated to fit the tightest GPU.

        Raises ValueError for bad input or a GPU id that does not exist, GpuUnavailableError when
        no GPU information can be read.
        """
        options = _options(locals())
        return self._core().check(options, gpu_ids)

    # ---- GPU information ----------------------------------------------------------------------

    def get_gpu_memory_info(self) -> Dict[str, Any]:
        """Every GPU now: ``{'source': 'nvml'|'simulated', 'gpus': [{'index', 'name', 'uuid',
        'total', 'used', 'free', ... , 'total_bytes', ...}]}`` (GiB floats and byte integers).

        Raises GpuUnavailableError (with the reason) when no GPU information can be read.
        """
        return self._core().gpu_memory_info()

    def get_cuda_debug_info(self) -> Dict[str, Any]:
        """The guide's CUDA debug report as a JSON-serialisable dict: NVML library paths tried and
        loaded (with errors), driver / NVML / CUDA driver versions, CUDA_VISIBLE_DEVICES,
        CUDA_DEVICE_ORDER, per-GPU details and notes. Never raises for a missing driver: the
        report says what is missing.
        """
        return self._core().cuda_debug_info()

    # ---- planning -----------------------------------------------------------------------------

    def assign_optimal_model(
        self,
        available_memory: float,
        segment_duration: float = 30,
        batch_size: int = 1,
        precision: str = "float16",
        *,
        engine: str = "guide",
        english_only: bool = False,
        margin: float = 0.2,
    ) -> str:
        """The guide's assign_optimal_model: the largest model whose recommended memory fits in
        ``available_memory`` GiB (ladder large > medium > small > base > tiny for the guide;
        engines add turbo and, with ``english_only``, the distil models). Returns the model name;
        "tiny" when nothing fits, as the guide does (use :meth:`best_model` to see ``fits``).
        """
        return self.best_model(available_memory, segment_duration, batch_size, precision,
                               engine=engine, english_only=english_only, margin=margin)["model"]

    def best_model(
        self,
        available_memory: float,
        segment_duration: float = 30,
        batch_size: int = 1,
        precision: str = "float16",
        *,
        engine: str = "guide",
        english_only: bool = False,
        margin: float = 0.2,
    ) -> Dict[str, Any]:
        """Like :meth:`assign_optimal_model` but the whole answer:
        ``{'model', 'fits', 'recommended', 'memory', 'ladder', 'message', ...}``."""
        options = _options(locals())
        return self._core().best_model(available_memory, options, english_only)

    def solve_max_segment(self, model_name: str, available_memory: float, batch_size: int = 1,
                          precision: str = "float16", *, engine: str = "guide",
                          margin: float = 0.2) -> Dict[str, Any]:
        """Longest segment (whole seconds) whose recommended memory fits in ``available_memory``
        GiB: ``{'value', 'fits', ...inputs...}``; ``fits`` False (value 0) when even 1 s does not."""
        return self._core().solve("max_segment", _options(locals()), available_memory)

    def solve_max_batch(self, model_name: str, available_memory: float, segment_duration: float = 30,
                        precision: str = "float16", *, engine: str = "guide",
                        margin: float = 0.2) -> Dict[str, Any]:
        """Largest batch size that fits in ``available_memory`` GiB: ``{'value', 'fits', ...}``."""
        return self._core().solve("max_batch", _options(locals()), available_memory)

    def solve_max_concurrent(self, model_name: str, available_memory: float, segment_duration: float = 30,
                             batch_size: int = 1, precision: str = "float16", *, engine: str = "guide",
                             margin: float = 0.2) -> Dict[str, Any]:
        """How many such tasks fit side by side in ``available_memory`` GiB (each with its own
        margin): ``{'value', 'fits', ...}``."""
        return self._core().solve("max_concurrent", _options(locals()), available_memory)

    def solve_min_memory(self, model_name: str, segment_duration: float = 30, batch_size: int = 1,
                         precision: str = "float16", *, engine: str = "guide",
                         margin: float = 0.2) -> Dict[str, Any]:
        """The smallest GPU memory that fits (= recommended): ``{'value' (GiB), 'value_bytes', ...}``."""
        return self._core().solve("min_memory", _options(locals()), None)

    def recommend(
        self,
        gpus: Optional[Union[str, Sequence[str]]] = None,
        precision: str = "float16",
        *,
        engine: str = "guide",
        english_only: bool = False,
        margin: float = 0.2,
    ) -> Dict[str, Any]:
        """Per-GPU recommendations (the guide's "suggestions per GPU", computed): for each GPU the
        best model at 30 s, its longest segment, how many 30 s tasks fit, and the same for int8.
        ``gpus``: catalog names ("RTX 3090", ["T4", "A10"]); None = the GPUs this manager sees
        (planned on their free memory). Returns ``{'gpus': [{'gpu', 'memory', 'model',
        'max_segment', 'max_concurrent', 'int8': {...}, ...}], ...}``."""
        options = _options(locals())
        return self._core().recommend(gpus, options, english_only)

    def presets(self) -> List[Dict[str, Any]]:
        """The guide's three presets (high_performance, balanced, efficient), each with its memory
        and whether it fits its own target GPU."""
        return self._core().presets()


_OPTION_KEYS = ("model_name", "segment_duration", "batch_size", "precision", "engine", "margin",
                "beam_size", "gpu", "flash_attention")


def _options(arguments: Dict[str, Any]) -> Dict[str, Any]:
    """The estimate options among a method's arguments (``locals()``), for the C++ core."""
    return {key: arguments[key] for key in _OPTION_KEYS if key in arguments}


#: The module-level instance of the guide (``from whisper_vram import gpu_manager``).
gpu_manager = GpuManager()
