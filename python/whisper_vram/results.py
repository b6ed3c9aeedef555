"""The dictionaries whisper_vram returns, as ``TypedDict`` types for type checkers.

At run time they are plain ``dict`` objects with the same keys as the ``whisper-vram`` CLI's
``--json`` output (both come from the C++ library's JSON). Memory figures are GiB floats (the
guide's "GB" are GiB) with ``*_bytes`` integers beside them. Keys that appear only in some answers
(an engine's ``beam_size``, a GPU's ``state_detail``…) are declared in a ``total=False`` base class.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

try:
    from typing import TypedDict
except ImportError:  # pragma: no cover - Python < 3.8 has no TypedDict; the package needs 3.9
    TypedDict = dict  # type: ignore[misc,assignment]

__all__ = [
    "BestModelResult", "CheckGpu", "CheckResult", "CheckSuggestion", "ConcurrentTaskDetails", "CudaDebugInfo",
    "GpuInfo", "GpuMemoryInfo", "LeaseInfo", "MemoryEstimate", "Preset", "RecommendResult", "ReleaseResult",
    "ReserveResult", "SolveResult",
]


class _MemoryEstimateOptional(TypedDict, total=False):
    beam_size: int                 # engines only, when given
    gpu: str                       # engines only, when given (a GPU model name)
    flash_attention: bool          # engines only, when given
    host_memory: float             # engines that also need host memory
    host_memory_bytes: int
    # calibrated estimates only (GpuManager(calibration=...)): the engine's own figures
    # {total_required, recommended, total_required_bytes, recommended_bytes} and how
    # {profile, group, runs, held_out_error_pct, extrapolated, factor, offset_bytes}
    uncalibrated: Dict[str, Any]
    calibration: Dict[str, Any]


class MemoryEstimate(_MemoryEstimateOptional):
    """calculate_memory_usage's answer (also ``CheckResult['required']``)."""

    model: str
    precision: str
    segment_duration: float
    batch_size: int
    engine: str
    margin: float
    unit: str                       # "GiB"
    breakdown: Dict[str, float]     # the components in order (guide: base_model, audio_processing, ...)
    total_required: float
    recommended: float              # total_required × (1 + margin)
    breakdown_bytes: Dict[str, int]
    total_required_bytes: int
    recommended_bytes: int
    notes: List[str]


class _GpuInfoOptional(TypedDict, total=False):
    state_detail: str               # why the GPU is not "ok"
    cuda_index: int                 # in get_cuda_debug_info's list


class GpuInfo(_GpuInfoOptional):
    """One GPU of get_gpu_memory_info (None = not known)."""

    index: int                      # CUDA index (the order of CUDA_VISIBLE_DEVICES), as gpu_ids
    nvml_index: int                 # NVML (PCI bus) index
    name: str
    uuid: str
    pci_bus_id: str
    total: float
    used: float
    free: float
    total_bytes: int
    used_bytes: int
    free_bytes: int
    reserved_bytes: Optional[int]
    utilization_gpu_percent: Optional[int]
    utilization_memory_percent: Optional[int]
    compute_capability: Optional[str]
    mig_enabled: Optional[bool]
    mig_devices: List[Dict[str, Any]]
    processes: List[Dict[str, Any]]
    processes_known: bool
    state: str                      # "ok", or why the GPU cannot be used
    catalog_name: Optional[str]


class _GpuMemoryInfoOptional(TypedDict, total=False):
    reason: str                     # when no GPU information could be read


class GpuMemoryInfo(_GpuMemoryInfoOptional):
    """get_gpu_memory_info's answer."""

    source: str                     # "nvml" or "simulated"
    gpus: List[GpuInfo]


class CheckGpu(TypedDict):
    """One listed GPU of check_gpu_memory_sufficient."""

    index: int                      # CUDA index
    nvml_index: int
    name: str
    uuid: str
    state: str
    total: float
    free: float
    ledger_reserved: float          # outstanding whisper-vram reservations (0 with ignore_reservations)
    available: float                # planned on: admittable (free less reservations) or free
    required: float                 # sized for this GPU's card
    shortfall: float
    total_bytes: int
    free_bytes: int
    ledger_reserved_bytes: int
    available_bytes: int
    required_bytes: int
    shortfall_bytes: int
    fits: bool
    supported: bool                 # False: the engine refuses the request on this card (reason says why)
    reason: Optional[str]
    notes: List[str]                # the estimate's notes for this card (e.g. float16 run as float32)


class CheckSuggestion(TypedDict):
    """A single change that makes the job fit the tightest GPU, re-estimated."""

    change: str
    config: Dict[str, Any]          # model, segment_duration, batch_size, precision
    recommended: float
    recommended_bytes: int
    text: str


class CheckResult(TypedDict):
    """check_gpu_memory_sufficient's answer."""

    sufficient: bool
    message: str
    optimization_suggestions: List[str]
    suggestions: List[CheckSuggestion]
    gpus: List[CheckGpu]
    required: MemoryEstimate        # on the GPU that needs the most
    source: str
    memory_basis: str               # "admittable" or "free" (ignore_reservations)


class ConcurrentTaskDetails(TypedDict):
    """can_run_concurrent_task_details's answer."""

    can_run: bool
    model: str
    new_task: float
    new_task_bytes: int
    current_tasks: List[str]
    current_tasks_memory: float
    current_tasks_bytes: int
    gpu: Dict[str, Any]             # index, uuid
    free: float
    free_bytes: int
    ledger_reserved_bytes: int     # reservations in the ledger (not the driver's reserve)
    available: float
    available_bytes: int
    guide_result: bool              # the guide's sample answer (it counts running tasks twice)
    message: str


class CudaDebugInfo(TypedDict):
    """get_cuda_debug_info's answer (JSON-serialisable)."""

    source: str
    nvml: Dict[str, Any]            # status, error, library_candidates, loaded_library, ...
    driver_version: Optional[str]
    nvml_version: Optional[str]
    cuda_driver_version: Optional[str]
    cuda_driver_version_raw: Optional[int]
    cuda_driver_version_source: Optional[str]
    errors: Dict[str, str]
    environment: Dict[str, Optional[str]]
    gpu_count: int
    visible_gpu_count: int
    gpus: List[GpuInfo]
    notes: List[str]


class ReserveResult(TypedDict):
    """reserve's answer (``Lease.result``, ``ReservationError.result``)."""

    status: str                     # "granted", "timed_out", "never_fits", "cancelled", "gpu_unavailable"
    granted: bool
    message: str
    requested: float
    requested_bytes: int
    waited_seconds: float
    lease: Dict[str, Any]
    best_available: float
    best_available_bytes: int
    queue_position: int
    reason: str


class LeaseInfo(TypedDict):
    """``Lease.info``: the reservation held."""

    id: int
    gpu_uuid: str
    gpu_index: int                  # NVML index
    cuda_index: int                 # index in this process's CUDA numbering
    gpu_name: str
    bytes: int
    gib: float
    model: str


class ReleaseResult(TypedDict):
    """release_all_memory's answer."""

    reservations_dropped: List[Any]
    reservations_dropped_bytes: int
    hooks_called: List[str]
    hook_errors: List[Any]
    gpus: List[Dict[str, Any]]      # free_before, free_after, freed (+ _bytes) per GPU
    cannot_free: List[str]


class BestModelResult(TypedDict):
    """best_model's answer (assign_optimal_model returns its ``model``)."""

    model: str
    fits: bool
    recommended: float
    memory: float                   # the available memory asked about
    recommended_bytes: int
    memory_bytes: int
    engine: str
    precision: str
    segment_duration: float
    batch_size: int
    ladder: List[Any]               # the models tried, largest first
    notes: List[str]
    message: str


class _SolveResultOptional(TypedDict, total=False):
    value_bytes: int                # min_memory
    memory: Optional[float]         # the available memory (not for min_memory)
    memory_bytes: Optional[int]
    total: float                    # max_concurrent: value × recommended
    total_bytes: int
    next_step_recommended_bytes: Optional[int]


class SolveResult(_SolveResultOptional):
    """The solve_* methods' answer."""

    quantity: str                   # "max_segment", "max_batch", "max_concurrent", "min_memory"
    value: float                    # seconds, a batch size, a task count or GiB (``unit``)
    fits: bool
    unit: str
    model: str
    engine: str
    precision: str
    segment_duration: float
    batch_size: int
    margin: float
    recommended: Optional[float]
    recommended_bytes: Optional[int]
    notes: List[str]
    message: str


class RecommendResult(TypedDict):
    """recommend's answer: a plan per GPU."""

    source: str
    memory_basis: str               # "card" (catalog), "admittable" (free less reservations) or "free"
    engine: str
    precision: str
    segment_duration: float
    batch_size: int
    # gpu, memory, free, ledger_reserved, model, fits, max_segment, max_concurrent, max_batch (batched
    # engines, else None), int8: {...}, ...
    gpus: List[Dict[str, Any]]


class Preset(TypedDict):
    """One of the guide's presets, with its memory and whether it fits its target GPU."""

    name: str
    model: str
    segment_duration: float
    batch_size: int
    precision: str
    max_concurrent: int
    target_gpu: str
    total_required: float
    recommended: float
    total_required_all: float
    recommended_all: float
    total_required_bytes: int
    recommended_bytes: int
    total_required_all_bytes: int
    recommended_all_bytes: int
    target_memory: float
    target_memory_bytes: int
    fits_target: bool
    max_concurrent_on_target: int
    max_segment_on_target: float
    message: str
