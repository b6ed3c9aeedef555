// gpu_manager: the guide's get_cuda_debug_info.

#include "core/text.hpp"
#include "whisper_vram/facade/gpu_manager.hpp"

namespace whisper_vram {
namespace {

void escape(std::string& text) { text = escape_invalid_utf8(text); }
void escape(std::optional<std::string>& text) {
    if (text) escape(*text);
}

// The report holds text from the environment (paths, CUDA_VISIBLE_DEVICES) and from the driver:
// bytes that are not UTF-8 become "\xNN" text, so the report prints, serialises to JSON and
// crosses into Python whatever the environment holds. Done after collecting: loading NVML needs
// the path's real bytes.
cuda_debug_info printable(cuda_debug_info info) {
    escape(info.environment.nvml_library);
    escape(info.environment.cuda_visible_devices);
    escape(info.environment.cuda_device_order);
    for (auto& a : info.library_attempts) {
        escape(a.path);
        escape(a.error);
    }
    escape(info.loaded_library_file);
    escape(info.nvml_error);
    for (auto& g : info.snapshot.gpus) {
        escape(g.name);
        escape(g.uuid);
        escape(g.pci_bus_id);
    }
    for (auto& v : info.visible) {
        escape(v.device.name);
        escape(v.device.uuid);
        escape(v.device.pci_bus_id);
    }
    escape(info.snapshot.unavailable_reason);
    for (auto& note : info.notes) escape(note);
    return info;
}

}  // namespace

cuda_debug_info gpu_manager::get_cuda_debug_info() const { return get_cuda_debug_info(options_.debug); }

cuda_debug_info gpu_manager::get_cuda_debug_info(const debug_environment& environment) const {
    // Simulated GPUs: report them, NVML is not consulted. NVML or "none": load NVML afresh so the
    // report shows each step (paths tried, dlerror, init code), which the probe does not keep.
    if (probe_->source() == probe_source::simulated) {
        return printable(describe_probe_snapshot(probe_->snapshot(), environment));
    }
    return printable(collect_cuda_debug_info(environment));
}

}  // namespace whisper_vram
