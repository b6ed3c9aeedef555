from typing import Any, Callable, Dict, List, Optional, Sequence, Union

class GpuUnavailableError(RuntimeError): ...

class ReservationError(RuntimeError):
    result: Dict[str, Any]
    def __init__(self, message: str, result: Dict[str, Any]) -> None: ...

class ReservationTimeoutError(ReservationError, TimeoutError): ...

class Lease:
    result: Dict[str, Any]
    @property
    def active(self) -> bool: ...
    @property
    def info(self) -> Dict[str, Any]: ...
    @property
    def gpu_uuid(self) -> str: ...
    @property
    def cuda_index(self) -> int: ...
    def release(self) -> None: ...
    def __enter__(self) -> Lease: ...
    def __exit__(self, *exc: Any) -> None: ...

class GpuManager:
    def __init__(self, simulate: Optional[str] = ...) -> None: ...
    def calculate_memory_usage(
        self,
        model_name: str,
        segment_duration: float = ...,
        batch_size: int = ...,
        precision: str = ...,
        *,
        engine: str = ...,
        margin: float = ...,
        beam_size: Optional[int] = ...,
        gpu: Optional[str] = ...,
        flash_attention: Optional[bool] = ...,
    ) -> Dict[str, Any]: ...
    def check_gpu_memory_sufficient(
        self,
        model_name: str,
        gpu_ids: Optional[Sequence[Union[int, str]]] = ...,
        segment_duration: float = ...,
        batch_size: int = ...,
        precision: str = ...,
        *,
        engine: str = ...,
        margin: float = ...,
        beam_size: Optional[int] = ...,
        gpu: Optional[str] = ...,
        flash_attention: Optional[bool] = ...,
    ) -> Dict[str, Any]: ...
    def get_gpu_memory_info(self) -> Dict[str, Any]: ...
    def get_cuda_debug_info(self) -> Dict[str, Any]: ...
    def assign_optimal_model(
        self,
        available_memory: float,
        segment_duration: float = ...,
        batch_size: int = ...,
        precision: str = ...,
        *,
        engine: str = ...,
        english_only: bool = ...,
        margin: float = ...,
    ) -> str: ...
    def best_model(
        self,
        available_memory: float,
        segment_duration: float = ...,
        batch_size: int = ...,
        precision: str = ...,
        *,
        engine: str = ...,
        english_only: bool = ...,
        margin: float = ...,
    ) -> Dict[str, Any]: ...
    def solve_max_segment(self, model_name: str, available_memory: float, batch_size: int = ...,
                          precision: str = ..., *, engine: str = ..., margin: float = ...) -> Dict[str, Any]: ...
    def solve_max_batch(self, model_name: str, available_memory: float, segment_duration: float = ...,
                        precision: str = ..., *, engine: str = ..., margin: float = ...) -> Dict[str, Any]: ...
    def solve_max_concurrent(self, model_name: str, available_memory: float, segment_duration: float = ...,
                             batch_size: int = ..., precision: str = ..., *, engine: str = ...,
                             margin: float = ...) -> Dict[str, Any]: ...
    def solve_min_memory(self, model_name: str, segment_duration: float = ..., batch_size: int = ...,
                         precision: str = ..., *, engine: str = ..., margin: float = ...) -> Dict[str, Any]: ...
    def recommend(self, gpus: Optional[Union[str, Sequence[str]]] = ..., precision: str = ..., *,
                  engine: str = ..., english_only: bool = ..., margin: float = ...) -> Dict[str, Any]: ...
    def presets(self) -> List[Dict[str, Any]]: ...
    def can_run_concurrent_task(self, model_name: str, current_tasks: Sequence[Any]) -> bool: ...
    def can_run_concurrent_task_details(self, model_name: str, current_tasks: Sequence[Any]) -> Dict[str, Any]: ...
    def reserve(
        self,
        model_name: str,
        gpu_ids: Optional[Sequence[Union[int, str]]] = ...,
        timeout: Optional[float] = ...,
        segment_duration: float = ...,
        batch_size: int = ...,
        precision: str = ...,
        *,
        engine: str = ...,
        margin: float = ...,
        policy: str = ...,
    ) -> Lease: ...
    def release_all_memory(self) -> Dict[str, Any]: ...
    def register_release_hook(self, name: str, hook: Callable[[], None]) -> None: ...

gpu_manager: GpuManager
