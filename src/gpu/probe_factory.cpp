#include "whisper_vram/gpu/gpu_probe.hpp"
#include "whisper_vram/gpu/nvml_probe.hpp"

namespace whisper_vram {

std::unique_ptr<gpu_probe> make_probe(const probe_options& options) {
    if (options.simulate) return make_simulated_probe(*options.simulate);
    // NVML when it loads and initialises; otherwise the "none" probe carrying the reason.
    return make_nvml_probe(options.nvml_library);
}

}  // namespace whisper_vram
