from typing import Any, Dict, Optional

class GpuUnavailableError(RuntimeError): ...

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
    def get_gpu_memory_info(self) -> Dict[str, Any]: ...

gpu_manager: GpuManager
