// The one place the process environment is read (see environment.hpp).

#include "whisper_vram/facade/environment.hpp"

#include <unistd.h>

#include <cstdlib>

namespace whisper_vram {
namespace {

std::optional<std::string> variable(const char* name) {
    if (const char* value = std::getenv(name); value != nullptr) return std::string(value);
    return std::nullopt;
}

}  // namespace

environment read_environment() {
    environment env;
    env.simulate = variable("WHISPER_VRAM_SIMULATE");
    env.state_dir = variable("WHISPER_VRAM_STATE_DIR");
    env.nvml_library = variable("WHISPER_VRAM_NVML_LIBRARY");
    env.cuda_visible_devices = variable("CUDA_VISIBLE_DEVICES");
    env.cuda_device_order = variable("CUDA_DEVICE_ORDER");
    env.xdg_runtime_dir = variable("XDG_RUNTIME_DIR");
    env.engine = variable("WHISPER_VRAM_ENGINE");
    env.calibration = variable("WHISPER_VRAM_CALIBRATION");
    env.cuda_module_loading = variable("CUDA_MODULE_LOADING");
    env.uid = static_cast<unsigned>(::getuid());
    return env;
}

}  // namespace whisper_vram
