#include <cstdlib>

#include "whisper_vram/gpu/gpu_probe.hpp"
#include "whisper_vram/gpu/gpu_selection.hpp"
#include "whisper_vram/gpu/nvml_probe.hpp"

namespace whisper_vram {

probe_options probe_options_from_environment() {
    probe_options options;
    if (const char* spec = std::getenv("WHISPER_VRAM_SIMULATE"); spec != nullptr && *spec != '\0')
        options.simulate = spec;
    if (const char* path = std::getenv("WHISPER_VRAM_NVML_LIBRARY"); path != nullptr && *path != '\0') {
        options.nvml_library = path;
    }
    return options;
}

std::unique_ptr<gpu_probe> make_probe(const probe_options& options) {
    if (options.simulate) return make_simulated_probe(*options.simulate);
    // NVML when it loads and initialises; otherwise the "none" probe carrying the reason.
    return make_nvml_probe(options.nvml_library);
}

std::optional<std::string> cuda_visible_devices_from_environment() {
    if (const char* value = std::getenv("CUDA_VISIBLE_DEVICES"); value != nullptr) return std::string(value);
    return std::nullopt;
}

}  // namespace whisper_vram
