#pragma once
/// @file cuda_debug.hpp
/// The guide's get_cuda_debug_info: how NVML was loaded (or why not), driver/NVML/CUDA versions,
/// the CUDA environment variables, and every GPU. A report, never an error: every failure is a
/// field of the result.

#include <optional>
#include <string>
#include <vector>

#include "whisper_vram/gpu/gpu_probe.hpp"
#include "whisper_vram/gpu/gpu_selection.hpp"
#include "whisper_vram/gpu/nvml_probe.hpp"

namespace whisper_vram {

/// The environment the report describes, read by the edges (see debug_environment_from() in gpu_manager.hpp).
struct debug_environment {
    std::optional<std::string> nvml_library;          ///< WHISPER_VRAM_NVML_LIBRARY
    std::optional<std::string> cuda_visible_devices;  ///< CUDA_VISIBLE_DEVICES (nullopt = unset)
    std::optional<std::string> cuda_device_order;     ///< CUDA_DEVICE_ORDER (nullopt = unset)
};

/// The report.
struct cuda_debug_info {
    probe_source source = probe_source::none;  ///< nvml, simulated, or none (NVML unusable)
    // -- loading (empty for simulated GPUs: NVML is not consulted) --
    std::vector<library_attempt> library_attempts;   ///< dlopen attempts in order, with dlerror text
    std::optional<std::string> loaded_library;       ///< the candidate that opened
    std::optional<std::string> loaded_library_file;  ///< the file the dynamic linker mapped for it
    nvml_status nvml = nvml_status::library_not_found;
    std::string nvml_error;                     ///< one line when nvml is not ok
    std::string missing_symbol;                 ///< when nvml is missing_symbol
    std::string init_symbol;                    ///< nvmlInitWithFlags / nvmlInit_v2 / nvmlInit
    std::optional<int> init_return;             ///< nvmlReturn_t of the init call
    std::vector<std::string> resolved_symbols;  ///< "purpose=symbol" (see nvml_probe::resolved_symbols)
    bool stub_library = false;                  ///< the loaded library looks like a CUDA toolkit stub
    nvml_system_info system;                    ///< driver / NVML / CUDA driver versions
    // -- environment --
    debug_environment environment;
    // -- GPUs --
    gpu_snapshot snapshot;             ///< every GPU NVML (or the simulation) reports
    std::vector<visible_gpu> visible;  ///< the GPUs CUDA programs see, CUDA-numbered
    std::vector<std::string> notes;    ///< plain-English findings (stub, device order…)
};

/// Loads NVML afresh (recording every attempt), initialises it, and reads versions and GPUs.
/// Never throws for driver conditions.
cuda_debug_info collect_cuda_debug_info(const debug_environment& environment);

/// The report for GPUs that come from another probe (simulated, or any non-NVML probe): says so,
/// and lists @p snapshot's GPUs; NVML is not loaded.
cuda_debug_info describe_probe_snapshot(const gpu_snapshot& snapshot, const debug_environment& environment);

}  // namespace whisper_vram
