"""whisper_vram: GPU memory for OpenAI Whisper, with the guide's ``gpu_manager`` API.

Backed by the whisper-vram C++ library. Every example of the guide runs unchanged except the
import line::

    from whisper_vram import gpu_manager

    result = gpu_manager.calculate_memory_usage("medium")
    print(f"total: {result['total_required']:.2f}GB")      # total: 4.22GB

Memory figures are GiB floats (the guide's "GB" are GiB) with ``*_bytes`` integers beside them;
the dictionaries' keys are typed in :mod:`whisper_vram.results`. Bad input raises ``ValueError``
with the same message as the ``whisper-vram`` CLI; missing GPU information raises
:class:`GpuUnavailableError`. ``WHISPER_VRAM_SIMULATE`` (or ``GpuManager(simulate="8GiB")``)
replaces the real GPUs with simulated ones. What the library has to say besides its answers (a
damaged ledger repaired…) comes as a ``RuntimeWarning`` through :mod:`warnings`.

The signatures below are the package's only ones (``py.typed``); the compiled part has its stub,
``_core.pyi``.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Union

from . import _core
from ._core import GpuUnavailableError
from .results import (BestModelResult, CheckResult, ConcurrentTaskDetails, CudaDebugInfo, GpuMemoryInfo, LeaseInfo,
                      MemoryEstimate, Preset, RecommendResult, ReleaseResult, ReserveResult, SolveResult)

try:
    from typing import TypedDict
except ImportError:  # pragma: no cover
    TypedDict = dict  # type: ignore[misc,assignment]

__all__ = ["GpuManager", "GpuUnavailableError", "Lease", "ReservationError", "ReservationTimeoutError", "gpu_manager",
           "__version__"]

#: The version of whisper-vram (``whisper-vram --version``), from the C++ library.
__version__: str = _core.__version__


class _EstimateOptions(TypedDict, total=False):
    """The estimate options the C++ core reads (a missing key takes the guide's default)."""

    model_name: str
    segment_duration: float
    batch_size: int
    precision: str
    engine: Optional[str]
    margin: float
    beam_size: Optional[int]
    gpu: Optional[str]
    flash_attention: Optional[bool]
    cuda_module_loading: Optional[str]
    language: Optional[str]
    align: Optional[bool]
    diarize: bool
    staged: bool


def _engine_options(engine: Optional[str], margin: float, beam_size: Optional[int], gpu: Optional[str],
                    flash_attention: Optional[bool], cuda_module_loading: Optional[str], language: Optional[str],
                    align: Optional[bool], diarize: bool, staged: bool) -> _EstimateOptions:
    """The keywords every planning method shares with the CLI's estimate options."""
    return _EstimateOptions(engine=engine, margin=margin, beam_size=beam_size, gpu=gpu,
                            flash_attention=flash_attention, cuda_module_loading=cuda_module_loading,
                            language=language, align=align, diarize=diarize, staged=staged)


class GpuManager:
    """The guide's ``gpu_manager``: memory estimates, GPU information, checks, planning, concurrency.

    ``simulate`` is a GPU simulation spec ("8GiB", "RTX 3090,24GiB:used=2GiB"); ``None`` uses
    ``WHISPER_VRAM_SIMULATE`` when set, else the real GPUs through NVML. ``engine`` is the default
    engine of every method (``engine=None`` there); ``None`` uses ``WHISPER_VRAM_ENGINE`` when set,
    else the guide's formula. ``CUDA_MODULE_LOADING`` (LAZY, EAGER, DEFAULT = LAZY) is the default of
    ``cuda_module_loading`` for engine estimates. ``calibration`` is a calibration profile
    (``whisper-vram calibrate``) every engine estimate applies (``"none"``: uncalibrated; ``None``:
    ``WHISPER_VRAM_CALIBRATION`` when set, else ``calibration.json`` in the state folder when it
    exists); a calibrated estimate keeps the engine's own figures under ``uncalibrated`` and says how
    under ``calibration``; the guide's formula is never calibrated. Inside a Slurm job with shards
    (``SLURM_JOB_ID`` and ``SLURM_SHARDS_ON_NODE`` set), every reservation is capped at the job's
    shards × ``shard_granule``, the GPU memory of one shard as the cluster's gres.conf was written
    (``whisper-vram slurm gres-conf --granule``; "1GiB", "512MiB", a bare number is GiB; ``None``:
    1GiB), as ``whisper-vram run --shard-granule`` does. The C++ core is created on first use, so
    the environment is read then (and a bad engine, a bad ``shard_granule``, or a missing or
    corrupt profile, raises ValueError then).
    """

    def __init__(self, simulate: Optional[str] = None, engine: Optional[str] = None,
                 calibration: Optional[str] = None, shard_granule: Optional[str] = None) -> None:
        self._simulate = simulate
        self._engine = engine
        self._calibration = calibration
        self._shard_granule = shard_granule
        self._impl: Optional[_core.Manager] = None

    def _native(self) -> _core.Manager:
        if self._impl is None:
            self._impl = _core.Manager(self._simulate, self._engine, self._calibration, self._shard_granule)
        return self._impl

    # ---- estimates ----------------------------------------------------------------------------

    def calculate_memory_usage(self, model_name: str, segment_duration: float = 30, batch_size: int = 1,
                               precision: str = "float16", *, engine: Optional[str] = None, margin: float = 0.2,
                               beam_size: Optional[int] = None, gpu: Optional[str] = None,
                               flash_attention: Optional[bool] = None, cuda_module_loading: Optional[str] = None,
                               language: Optional[str] = None, align: Optional[bool] = None,
                               diarize: bool = False, staged: bool = False) -> MemoryEstimate:
        """Memory a Whisper job needs, as the guide computes it (or an engine-aware estimate).

        Returns a dict with ``total_required`` and ``recommended`` (GiB floats, recommended =
        total × (1 + margin)), ``breakdown`` (the components in order: for the guide
        base_model, audio_processing, batch_overhead, pytorch_overhead), the inputs
        (``model``, ``precision``, ``segment_duration``, ``batch_size``, ``engine``, ``margin``),
        ``*_bytes`` integers and ``notes``.

        ``engine`` is one of: guide, openai-whisper, transformers, faster-whisper, whisper.cpp, whisperx
        (None: the manager's default, see :class:`GpuManager`; the guide's formula unless set;
        ``beam_size``, ``gpu`` — a GPU model name such as "T4" —, ``flash_attention`` and
        ``cuda_module_loading`` — "lazy" or "eager"; None: ``CUDA_MODULE_LOADING``, else not stated,
        sized as eager, the safe side — apply to the other engines only; ``language`` (default
        "en"), ``align`` (default True), ``diarize`` and ``staged`` (size WhisperX's CLI, which frees
        each stage's models before the next; default: every model resident, as its README's Python
        example) to whisperx only, whose command-line default batch is 16: pass ``batch_size=16`` for
        its README's example).

        Raises ValueError for an unknown model, a bad precision, a non-positive segment, etc.
        """
        return self._native().calculate(_EstimateOptions(
            model_name=model_name, segment_duration=segment_duration, batch_size=batch_size, precision=precision,
            engine=engine, margin=margin, beam_size=beam_size, gpu=gpu, flash_attention=flash_attention,
            cuda_module_loading=cuda_module_loading, language=language, align=align, diarize=diarize,
            staged=staged))

    def check_gpu_memory_sufficient(self, model_name: str, gpu_ids: Optional[Sequence[Union[int, str]]] = None,
                                    segment_duration: float = 30, batch_size: int = 1, precision: str = "float16",
                                    *, engine: Optional[str] = None, margin: float = 0.2, beam_size: Optional[int] = None,
                                    gpu: Optional[str] = None, flash_attention: Optional[bool] = None,
                                    cuda_module_loading: Optional[str] = None, language: Optional[str] = None,
                                    align: Optional[bool] = None, diarize: bool = False, staged: bool = False,
                                    ignore_reservations: bool = False) -> CheckResult:
        """Does the configuration fit on each listed GPU? (The guide's check.)

        ``gpu_ids``: CUDA indices (as PyTorch numbers them, after CUDA_VISIBLE_DEVICES), UUIDs
        (or a unique prefix) or PCI bus ids; None = every visible GPU. Each GPU runs its own copy,
        so ``sufficient`` is True only when every listed GPU fits (recommended ≤ available). Each
        GPU is sized for its own card (its compute capability: e.g. CTranslate2 runs float16 as
        float32 below CC 7.0); available is the admittable memory — free less outstanding
        whisper-vram reservations, as ``reserve`` and ``whisper-vram run`` admit — or, with
        ``ignore_reservations``, the free memory (``memory_basis`` says which).

        Returns ``{'sufficient', 'message', 'optimization_suggestions': [str, ...],
        'suggestions': [{'change', 'config': {...}, 'recommended'}, ...], 'gpus': [...],
        'required': {...calculate_memory_usage result...}, ...}``. Every suggestion is a single
        change re-estimated to fit the tightest GPU.

        Raises ValueError for bad input or a GPU id that does not exist, GpuUnavailableError when
        no GPU information can be read.
        """
        options = _engine_options(engine, margin, beam_size, gpu, flash_attention, cuda_module_loading, language,
                                  align, diarize, staged)
        options.update(model_name=model_name, segment_duration=segment_duration, batch_size=batch_size,
                       precision=precision)
        return self._native().check(options, gpu_ids, ignore_reservations)

    # ---- GPU information ----------------------------------------------------------------------

    def get_gpu_memory_info(self) -> GpuMemoryInfo:
        """Every GPU now: ``{'source': 'nvml'|'simulated', 'gpus': [{'index', 'nvml_index', 'name',
        'uuid', 'total', 'used', 'free', ... , 'total_bytes', ...}]}`` (GiB floats and byte integers).
        The GPUs are those a CUDA program sees, in CUDA's order: ``index`` is the CUDA index (what
        ``gpu_ids`` take everywhere, after CUDA_VISIBLE_DEVICES), ``nvml_index`` NVML's.

        Raises GpuUnavailableError (with the reason) when no GPU information can be read.
        """
        return self._native().gpu_memory_info()

    def get_cuda_debug_info(self) -> CudaDebugInfo:
        """The guide's CUDA debug report as a JSON-serialisable dict: NVML library paths tried and
        loaded (with errors), driver / NVML / CUDA driver versions, CUDA_VISIBLE_DEVICES,
        CUDA_DEVICE_ORDER, per-GPU details and notes. Never raises for a missing driver: the
        report says what is missing.
        """
        return self._native().cuda_debug_info()

    # ---- planning -----------------------------------------------------------------------------

    def assign_optimal_model(self, available_memory: Optional[float] = None, segment_duration: float = 30, batch_size: int = 1,
                             precision: str = "float16", *, engine: Optional[str] = None, english_only: bool = False,
                             margin: float = 0.2, beam_size: Optional[int] = None, gpu: Optional[str] = None,
                             flash_attention: Optional[bool] = None, cuda_module_loading: Optional[str] = None,
                             language: Optional[str] = None, align: Optional[bool] = None,
                             diarize: bool = False, staged: bool = False) -> str:
        """The guide's assign_optimal_model: the largest model whose recommended memory fits in
        ``available_memory`` GiB (ladder large > medium > small > base > tiny for the guide;
        engines add turbo and, with ``english_only``, the distil models). Returns the model name;
        "tiny" when nothing fits, as the guide does (use :meth:`best_model` to see ``fits``).
        """
        return self.best_model(available_memory, segment_duration, batch_size, precision, engine=engine,
                               english_only=english_only, margin=margin, beam_size=beam_size, gpu=gpu,
                               flash_attention=flash_attention, cuda_module_loading=cuda_module_loading,
                               language=language, align=align, diarize=diarize, staged=staged)["model"]

    def best_model(self, available_memory: Optional[float] = None, segment_duration: float = 30, batch_size: int = 1,
                   precision: str = "float16", *, engine: Optional[str] = None, english_only: bool = False,
                   margin: float = 0.2, beam_size: Optional[int] = None, gpu: Optional[str] = None,
                   flash_attention: Optional[bool] = None, cuda_module_loading: Optional[str] = None,
                   language: Optional[str] = None, align: Optional[bool] = None,
                   diarize: bool = False, staged: bool = False) -> BestModelResult:
        """Like :meth:`assign_optimal_model` but the whole answer:
        ``{'model', 'fits', 'recommended', 'memory', 'ladder', 'message', ...}``."""
        options = _engine_options(engine, margin, beam_size, gpu, flash_attention, cuda_module_loading, language,
                                  align, diarize, staged)
        options.update(segment_duration=segment_duration, batch_size=batch_size, precision=precision)
        return self._native().best_model(available_memory, options, english_only)

    def solve_max_segment(self, model_name: str, available_memory: Optional[float] = None, batch_size: int = 1,
                          precision: str = "float16", *, engine: Optional[str] = None,
                          margin: float = 0.2, beam_size: Optional[int] = None, gpu: Optional[str] = None,
                          flash_attention: Optional[bool] = None, cuda_module_loading: Optional[str] = None,
                          language: Optional[str] = None, align: Optional[bool] = None,
                          diarize: bool = False, staged: bool = False) -> SolveResult:
        """Longest segment (whole seconds) whose recommended memory fits in ``available_memory``
        GiB: ``{'value', 'fits', ...inputs...}``; ``fits`` False (value 0) when even 1 s does not.
        ``available_memory`` None plans on the usable memory of the card ``gpu`` names (the CLI's
        ``--gpu``), as in every planning method."""
        options = _engine_options(engine, margin, beam_size, gpu, flash_attention, cuda_module_loading, language,
                                  align, diarize, staged)
        options.update(model_name=model_name, batch_size=batch_size, precision=precision)
        return self._native().solve("max_segment", options, available_memory)

    def solve_max_batch(self, model_name: str, available_memory: Optional[float] = None, segment_duration: float = 30,
                        precision: str = "float16", *, engine: Optional[str] = None,
                        margin: float = 0.2, beam_size: Optional[int] = None, gpu: Optional[str] = None,
                        flash_attention: Optional[bool] = None, cuda_module_loading: Optional[str] = None,
                        language: Optional[str] = None, align: Optional[bool] = None,
                        diarize: bool = False, staged: bool = False) -> SolveResult:
        """Largest batch size that fits in ``available_memory`` GiB: ``{'value', 'fits', ...}``."""
        options = _engine_options(engine, margin, beam_size, gpu, flash_attention, cuda_module_loading, language,
                                  align, diarize, staged)
        options.update(model_name=model_name, segment_duration=segment_duration, precision=precision)
        return self._native().solve("max_batch", options, available_memory)

    def solve_max_concurrent(self, model_name: str, available_memory: Optional[float] = None, segment_duration: float = 30,
                             batch_size: int = 1, precision: str = "float16", *, engine: Optional[str] = None,
                             margin: float = 0.2, beam_size: Optional[int] = None, gpu: Optional[str] = None,
                             flash_attention: Optional[bool] = None, cuda_module_loading: Optional[str] = None,
                             language: Optional[str] = None, align: Optional[bool] = None,
                             diarize: bool = False, staged: bool = False) -> SolveResult:
        """How many such tasks fit side by side in ``available_memory`` GiB (each with its own
        margin): ``{'value', 'fits', ...}``."""
        options = _engine_options(engine, margin, beam_size, gpu, flash_attention, cuda_module_loading, language,
                                  align, diarize, staged)
        options.update(model_name=model_name, segment_duration=segment_duration, batch_size=batch_size,
                       precision=precision)
        return self._native().solve("max_concurrent", options, available_memory)

    def solve_min_memory(self, model_name: str, segment_duration: float = 30, batch_size: int = 1,
                         precision: str = "float16", *, engine: Optional[str] = None,
                         margin: float = 0.2, beam_size: Optional[int] = None, gpu: Optional[str] = None,
                         flash_attention: Optional[bool] = None, cuda_module_loading: Optional[str] = None,
                         language: Optional[str] = None, align: Optional[bool] = None,
                         diarize: bool = False, staged: bool = False) -> SolveResult:
        """The smallest GPU memory that fits (= recommended): ``{'value' (GiB), 'value_bytes', ...}``."""
        options = _engine_options(engine, margin, beam_size, gpu, flash_attention, cuda_module_loading, language,
                                  align, diarize, staged)
        options.update(model_name=model_name, segment_duration=segment_duration, batch_size=batch_size,
                       precision=precision)
        return self._native().solve("min_memory", options, None)

    def recommend(self, gpus: Optional[Union[str, Sequence[str]]] = None, precision: str = "float16", *,
                  engine: Optional[str] = None, english_only: bool = False, margin: float = 0.2,
                  beam_size: Optional[int] = None, flash_attention: Optional[bool] = None,
                  cuda_module_loading: Optional[str] = None, language: Optional[str] = None,
                  align: Optional[bool] = None, diarize: bool = False, staged: bool = False,
                  ignore_reservations: bool = False) -> RecommendResult:
        """Per-GPU recommendations (the guide's "suggestions per GPU", computed): for each GPU the
        best model at 30 s, its longest segment, how many 30 s tasks fit, and the same for int8.
        ``gpus``: catalog names ("RTX 3090", ["T4", "A10"]); None = the GPUs this manager sees
        (each sized for its card, planned on its admittable memory: free less outstanding
        whisper-vram reservations; with ``ignore_reservations`` on its free memory). Batched
        engines (faster-whisper, whisperx, transformers) also get ``max_batch``, the largest batch
        for the card. Returns ``{'gpus': [{'gpu', 'memory', 'model', 'max_segment',
        'max_concurrent', 'max_batch', 'int8': {...}, ...}], 'memory_basis', ...}``."""
        options = _engine_options(engine, margin, beam_size, None, flash_attention, cuda_module_loading, language,
                                  align, diarize, staged)
        options.update(precision=precision)
        return self._native().recommend(gpus, options, english_only, ignore_reservations)

    def presets(self) -> List[Preset]:
        """The guide's three presets (high_performance, balanced, efficient), each with its memory
        and whether it fits its own target GPU."""
        return self._native().presets()


    # ---- concurrency --------------------------------------------------------------------------

    def can_run_concurrent_task(self, model_name: str, current_tasks: Sequence[Any]) -> bool:
        """The guide's can_run_concurrent_task with the corrected accounting.

        ``current_tasks`` are the running tasks, as in the guide (``[{'model': 'medium'}, ...]``
        or model names). Their memory is already in the GPU's ``used`` (and so missing from
        ``free``), so they are NOT added again, as the guide's sample does: the new task may start
        when its recommended memory fits in the first visible GPU's free memory minus outstanding
        reservations not yet allocated. See :meth:`can_run_concurrent_task_details` for the numbers
        (including the guide's double-counting answer).
        """
        return bool(self.can_run_concurrent_task_details(model_name, current_tasks)["can_run"])

    def can_run_concurrent_task_details(self, model_name: str, current_tasks: Sequence[Any]) -> ConcurrentTaskDetails:
        """:meth:`can_run_concurrent_task` with its numbers: ``{'can_run', 'model', 'new_task',
        'free', 'ledger_reserved_bytes', 'available', 'guide_result', 'message', ...}``."""
        # A string or dict would iterate as letters or keys ("unknown model 'a'"); a number not at all.
        if isinstance(current_tasks, (str, bytes, dict)) or not hasattr(current_tasks, "__iter__"):
            raise ValueError(f"current_tasks {current_tasks!r} is invalid: must be a list of running tasks, "
                             "e.g. [{'model': 'medium'}] or ['medium']")
        return self._native().can_run_concurrent_task(model_name, list(current_tasks))

    def reserve(self, model_name: str, gpu_ids: Optional[Sequence[Union[int, str]]] = None,
                timeout: Optional[float] = None, segment_duration: float = 30, batch_size: int = 1,
                precision: str = "float16", *, engine: Optional[str] = None, margin: float = 0.2,
                policy: str = "best-fit", beam_size: Optional[int] = None, gpu: Optional[str] = None,
                flash_attention: Optional[bool] = None, cuda_module_loading: Optional[str] = None,
                language: Optional[str] = None, align: Optional[bool] = None, diarize: bool = False,
                staged: bool = False) -> "Lease":
        """Reserves the configuration's recommended memory on one of ``gpu_ids`` (None = every
        visible GPU; placement ``policy`` "best-fit" or "most-free"), waiting in FIFO order up to
        ``timeout`` seconds (None = no limit, 0 = do not wait). The wait releases the GIL and
        checks for signals between polls: Ctrl-C raises KeyboardInterrupt (nothing is reserved).

        Use it as a context manager; the reservation is released on exit (or by
        ``lease.release()``, or when the lease is garbage-collected)::

            with gpu_manager.reserve("large", gpu_ids=[0], timeout=60) as lease:
                print(lease.gpu_uuid)       # run the job on this GPU

        Reservations are shared with ``whisper-vram run`` and other processes through the ledger
        in ``WHISPER_VRAM_STATE_DIR``. Each GPU is offered the size its card needs (an engine's
        estimate depends on the compute capability; a GPU whose card refuses the precision is left
        out). Raises ReservationTimeoutError when the timeout passes,
        ReservationError when the task can never fit on any listed GPU, GpuUnavailableError
        without GPU information, ValueError for bad input.
        """
        options = _engine_options(engine, margin, beam_size, gpu, flash_attention, cuda_module_loading, language,
                                  align, diarize, staged)
        options.update(model_name=model_name, segment_duration=segment_duration, batch_size=batch_size,
                       precision=precision)
        result, held = self._native().reserve(options, gpu_ids, timeout, policy)
        if held is None:
            status = result.get("status")
            if status == "timed_out":
                raise ReservationTimeoutError(result["message"], result)
            if status == "gpu_unavailable":
                raise GpuUnavailableError(result["message"])
            raise ReservationError(result["message"], result)
        return Lease(held, result)

    # ---- memory release -----------------------------------------------------------------------

    def release_all_memory(self) -> ReleaseResult:
        """The guide's release_all_memory. This library holds no CUDA memory of its own, so it drops
        this process's reservations, calls the hooks registered with
        :meth:`register_release_hook` (e.g. a server freeing its models and emptying the CUDA
        cache), and reports free memory per GPU before and after plus what it cannot free
        (memory held by CUDA contexts and caching allocators, other processes' reservations).
        """
        return self._native().release_all_memory()

    def register_release_hook(self, name: str, hook: Callable[[], None]) -> None:
        """Registers ``hook`` (no arguments) to be called by :meth:`release_all_memory`; a hook of
        the same ``name`` replaces the earlier one. Example::

            gpu_manager.register_release_hook("torch", torch.cuda.empty_cache)
        """
        self._native().register_release_hook(name, hook)


class ReservationError(RuntimeError):
    """A reservation could not be granted (e.g. the task can never fit on any listed GPU).
    ``result`` holds the details (status, message, requested bytes, …)."""

    def __init__(self, message: str, result: ReserveResult) -> None:
        super().__init__(message)
        self.result = result


class ReservationTimeoutError(ReservationError, TimeoutError):
    """The reservation was not granted before the timeout."""


class Lease:
    """A granted reservation (from :meth:`GpuManager.reserve`); a context manager that releases
    it on exit."""

    def __init__(self, core_lease: _core.Lease, result: ReserveResult) -> None:
        self._lease = core_lease
        #: The reservation result: status, message, requested bytes, GPU, waited seconds.
        self.result = result

    @property
    def active(self) -> bool:
        """True until released: by :meth:`release`, the context manager, or someone else dropping
        the reservation (:meth:`GpuManager.release_all_memory`, ``whisper-vram release-all
        --force``, ``whisper-vram tasks release``). Asks the ledger each time."""
        return bool(self._lease.active)

    @property
    def info(self) -> LeaseInfo:
        """``{'id', 'gpu_uuid', 'gpu_index', 'cuda_index', 'gpu_name', 'bytes', 'gib', 'model'}``."""
        return self._lease.info

    @property
    def gpu_uuid(self) -> str:
        """UUID of the GPU reserved on (use it as CUDA_VISIBLE_DEVICES for a child process)."""
        return self._lease.info["gpu_uuid"]

    @property
    def cuda_index(self) -> int:
        """Index of the GPU in this process's CUDA numbering (``torch.device(f"cuda:{i}")``)."""
        return self._lease.info["cuda_index"]

    def release(self) -> None:
        """Releases the reservation (idempotent)."""
        self._lease.release()

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __repr__(self) -> str:
        info = self.info
        state = "active" if self.active else "released"
        return f"<Lease {info['model']} {info['gib']:.2f} GiB on GPU {info['cuda_index']} ({state})>"


#: The module-level instance of the guide (``from whisper_vram import gpu_manager``).
gpu_manager = GpuManager()
