// The one place the process environment is read (see environment.hpp).

#include "whisper_vram/facade/environment.hpp"

#include "whisper_vram/facade/gpu_manager.hpp"
#include "whisper_vram/gpu/gpu_selection.hpp"
#include "whisper_vram/sched/ledger.hpp"

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
    env.uid = static_cast<unsigned>(::getuid());
    return env;
}

// ---- legacy: the free functions the edges called before they passed an environment ---------------
// Each reads the environment afresh through read_environment(); remove them once apps/ (cmd_gpus,
// cmd_tasks) takes these values from its one environment value.

std::optional<std::string> cuda_visible_devices_from_environment() { return read_environment().cuda_visible_devices; }

std::filesystem::path state_dir_from_environment() {
    const environment env = read_environment();
    return default_state_dir(env.state_dir, env.xdg_runtime_dir, env.uid);
}

}  // namespace whisper_vram
