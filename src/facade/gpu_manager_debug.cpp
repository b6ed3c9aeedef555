// gpu_manager: the guide's get_cuda_debug_info.

#include "whisper_vram/facade/gpu_manager.hpp"

namespace whisper_vram {

cuda_debug_info gpu_manager::get_cuda_debug_info() const { return get_cuda_debug_info(options_.debug); }

cuda_debug_info gpu_manager::get_cuda_debug_info(const debug_environment& environment) const {
    // Simulated GPUs: report them, NVML is not consulted. NVML or "none": load NVML afresh so the
    // report shows each step (paths tried, dlerror, init code), which the probe does not keep.
    if (probe_->source() == probe_source::simulated) return describe_probe_snapshot(probe_->snapshot(), environment);
    return collect_cuda_debug_info(environment);
}

}  // namespace whisper_vram
