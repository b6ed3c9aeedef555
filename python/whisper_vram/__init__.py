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

from typing import Any, Dict, Optional

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
        return self._core().calculate_memory_usage(
            model_name, segment_duration, batch_size, precision, engine, margin, beam_size, gpu, flash_attention
        )

    # ---- GPU information ----------------------------------------------------------------------

    def get_gpu_memory_info(self) -> Dict[str, Any]:
        """Every GPU now: ``{'source': 'nvml'|'simulated', 'gpus': [{'index', 'name', 'uuid',
        'total', 'used', 'free', ... , 'total_bytes', ...}]}`` (GiB floats and byte integers).

        Raises GpuUnavailableError (with the reason) when no GPU information can be read.
        """
        return self._core().get_gpu_memory_info()


#: The module-level instance of the guide (``from whisper_vram import gpu_manager``).
gpu_manager = GpuManager()
