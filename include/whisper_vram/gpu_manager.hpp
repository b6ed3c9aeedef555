#pragma once
/// @file gpu_manager.hpp
/// The facade: the guide's API (`gpu_manager.calculate_memory_usage(...)` etc.) over the
/// estimators, planner, probes and scheduler. The CLI and the Python module both sit on it.

#include <memory>
#include <string_view>

#include "whisper_vram/cuda_debug.hpp"
#include "whisper_vram/estimate.hpp"
#include "whisper_vram/gpu_probe.hpp"

namespace whisper_vram {

/// The guide's gpu_manager.
class gpu_manager {
public:
    /// Uses @p probe for GPU information; a null probe means make_probe(probe_options_from_environment()).
    explicit gpu_manager(std::shared_ptr<gpu_probe> probe = nullptr);

    /// The guide's calculate_memory_usage: guide formula, 20% margin.
    /// @throws usage_error on invalid input.
    [[nodiscard]] memory_estimate calculate_memory_usage(std::string_view model_name,
                                                         double segment_duration = 30.0,
                                                         int batch_size = 1,
                                                         std::string_view precision = "float16") const;

    /// Any estimate (engine, margin, beams…).
    [[nodiscard]] memory_estimate calculate(const estimate_request& request) const;

    /// The guide's get_gpu_memory_info: a snapshot of every GPU (source none when unavailable).
    [[nodiscard]] gpu_snapshot get_gpu_memory_info() const;

    // ---- gpus / debug (NVML) ----
    /// The guide's get_cuda_debug_info, for the environment as set now (WHISPER_VRAM_NVML_LIBRARY,
    /// CUDA_VISIBLE_DEVICES, CUDA_DEVICE_ORDER). With an NVML (or "none") probe it loads NVML
    /// afresh and records every step; with simulated GPUs it says so and lists them. Never throws
    /// for driver conditions; to_json(cuda_debug_info) gives the guide's dictionary.
    [[nodiscard]] cuda_debug_info get_cuda_debug_info() const;
    /// The same for an explicit @p environment.
    [[nodiscard]] cuda_debug_info get_cuda_debug_info(const debug_environment& environment) const;
    // ---- end gpus / debug ----

    /// The probe in use.
    [[nodiscard]] gpu_probe& probe() const noexcept { return *probe_; }

private:
    std::shared_ptr<gpu_probe> probe_;
};

}  // namespace whisper_vram
