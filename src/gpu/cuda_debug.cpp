// The guide's get_cuda_debug_info: a report of how NVML loads, the versions, the CUDA
// environment variables and the GPUs. Every failure is a field, never an exception.

#include "whisper_vram/gpu/cuda_debug.hpp"

#include <fmt/format.h>
#include <algorithm>

namespace whisper_vram {
namespace {

void add_gpu_notes(cuda_debug_info& info) {
    for (const auto& gpu : info.snapshot.gpus) {
        if (gpu.state == gpu_state::unified_memory) {
            info.notes.push_back(
                fmt::format("GPU {} ({}) uses unified memory: it has no dedicated framebuffer and NVML "
                            "reports no memory size, so memory figures are 0 and fit checks cannot use it",
                            gpu.index, gpu.name));
        } else if (gpu.state == gpu_state::lost) {
            info.notes.push_back(
                fmt::format("GPU {} has fallen off the bus (NVML_ERROR_GPU_IS_LOST): reset it or reboot; "
                            "its readings are missing",
                            gpu.index));
        } else if (gpu.state == gpu_state::error) {
            info.notes.push_back(fmt::format("GPU {}: {}", gpu.index, gpu.state_detail));
        }
    }
}

void add_environment_notes(cuda_debug_info& info) {
    info.visible = visible_gpus(info.snapshot, info.environment.cuda_visible_devices);
    if (info.environment.cuda_visible_devices) {
        info.notes.push_back(
            fmt::format("CUDA_VISIBLE_DEVICES='{}': CUDA programs see {} of {} GPUs, numbered from 0 in "
                        "the listed order",
                        *info.environment.cuda_visible_devices, info.visible.size(), info.snapshot.gpus.size()));
    }
    const bool pci_order = info.environment.cuda_device_order && *info.environment.cuda_device_order == "PCI_BUS_ID";
    const auto& gpus = info.snapshot.gpus;
    const bool mixed =
        std::any_of(gpus.begin(), gpus.end(), [&](const gpu_device& g) { return g.name != gpus.front().name; });
    if (!pci_order && mixed) {
        info.notes.emplace_back(
            "CUDA_DEVICE_ORDER is not PCI_BUS_ID and the GPUs differ: CUDA then numbers the fastest GPU first, so a "
            "CUDA index may not be the NVML index shown here; set CUDA_DEVICE_ORDER=PCI_BUS_ID to make them agree");
    }
}

bool looks_like_stub(const cuda_debug_info& info) {
    const auto in_stubs = [](const std::optional<std::string>& path) {
        return path && path->find("/stubs/") != std::string::npos;
    };
    if (in_stubs(info.loaded_library) || in_stubs(info.loaded_library_file)) return true;
    // A real driver's nvmlInit fails with DRIVER_NOT_LOADED / NO_PERMISSION / LIB_RM_VERSION_MISMATCH;
    // "a library is missing" or "function not found" from init itself is how a link-time stub
    // answers (openucx/ucx#9232; not reproduced here).
    return info.nvml == nvml_status::init_failed && info.init_return &&
           (*info.init_return == 12 || *info.init_return == 13);
}

}  // namespace

cuda_debug_info collect_cuda_debug_info(const debug_environment& environment) {
    cuda_debug_info info;
    info.environment = environment;
    library_load_result loaded = load_nvml_library(environment.nvml_library);
    info.library_attempts = loaded.attempts;
    if (!loaded.library) {
        info.source = probe_source::none;
        info.nvml = nvml_status::library_not_found;
        std::string tried;
        for (const auto& a : loaded.attempts) tried += fmt::format("{}{}", tried.empty() ? "" : "; ", a.error);
        info.nvml_error = fmt::format("NVIDIA driver library not found: {}", tried);
        info.notes.emplace_back(
            "no NVIDIA driver library could be loaded: this machine has no NVIDIA driver, or its "
            "libnvidia-ml.so.1 is not on the library path (set WHISPER_VRAM_NVML_LIBRARY to its path)");
        info.snapshot = gpu_snapshot{probe_source::none, {}, info.nvml_error};
        add_environment_notes(info);
        return info;
    }
    info.loaded_library = loaded.library->path();
    info.loaded_library_file = loaded.library->resolved_path();
    auto opened = nvml_probe::open(std::move(loaded.library));
    info.nvml = opened.status;
    info.nvml_error = opened.reason;
    info.missing_symbol = opened.missing_symbol;
    info.init_symbol = opened.init_symbol;
    info.init_return = opened.init_return;
    if (opened.status == nvml_status::ok) {
        info.source = probe_source::nvml;
        info.resolved_symbols = opened.probe->resolved_symbols();
        info.system = opened.probe->system_info();
        info.snapshot = opened.probe->snapshot();
    } else {
        info.source = probe_source::none;
        info.snapshot = gpu_snapshot{probe_source::none, {}, opened.reason};
    }
    info.stub_library = looks_like_stub(info);
    if (info.stub_library) {
        info.notes.push_back(
            fmt::format("the loaded library {} looks like the CUDA toolkit's link-time stub, not the "
                        "driver's libnvidia-ml.so.1: install the NVIDIA driver or point "
                        "WHISPER_VRAM_NVML_LIBRARY at the driver's library",
                        info.loaded_library_file.value_or(info.loaded_library.value_or("?"))));
    }
    if (info.nvml == nvml_status::init_failed && info.init_return) {
        switch (*info.init_return) {
            case 9:
                info.notes.emplace_back(
                    "the NVIDIA kernel module is not loaded (no GPU, or the driver is not running)");
                break;
            case 18:
                info.notes.emplace_back(
                    "the NVML library and the kernel driver have different versions, usually after a "
                    "driver upgrade without a reboot: reboot (or reload the nvidia kernel modules)");
                break;
            case 4:
                info.notes.emplace_back(
                    "no permission to open the NVIDIA devices (/dev/nvidia*): check the user's groups or the "
                    "container's device access");
                break;
            default:
                break;
        }
    }
    add_gpu_notes(info);
    add_environment_notes(info);
    return info;
}

cuda_debug_info describe_probe_snapshot(const gpu_snapshot& snapshot, const debug_environment& environment) {
    cuda_debug_info info;
    info.environment = environment;
    info.source = snapshot.source;
    info.snapshot = snapshot;
    info.nvml_error = "NVML not consulted";
    if (snapshot.source == probe_source::simulated) {
        info.notes.push_back(
            fmt::format("simulated GPUs (--simulate / WHISPER_VRAM_SIMULATE): NVML was not loaded; the {} "
                        "GPU(s) below are the simulation",
                        snapshot.gpus.size()));
    }
    add_gpu_notes(info);
    add_environment_notes(info);
    return info;
}

}  // namespace whisper_vram
