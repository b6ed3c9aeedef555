// The one place the process environment is read (see environment.hpp).

#include "whisper_vram/facade/environment.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include <cstdlib>

#include "core/text.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/sched/ledger.hpp"

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
    env.slurm_job_id = variable("SLURM_JOB_ID");
    env.slurm_shards_on_node = variable("SLURM_SHARDS_ON_NODE");
    env.uid = static_cast<unsigned>(::getuid());
    // Kubernetes, in a pod (k8s advertise).
    env.kubernetes_service_host = variable("KUBERNETES_SERVICE_HOST");
    env.kubernetes_service_port = variable("KUBERNETES_SERVICE_PORT");
    return env;
}

std::filesystem::path state_dir_from(const environment& env) {
    // The default folder: the answer without WHISPER_VRAM_STATE_DIR, else named in the messages only.
    const auto fallback = [&env] { return default_state_dir(std::nullopt, env.xdg_runtime_dir, env.uid); };
    if (!env.state_dir) return fallback();
    if (env.state_dir->empty()) {
        throw usage_error(
            fmt::format("WHISPER_VRAM_STATE_DIR is set but empty: give an absolute path, or unset it "
                        "for the default state folder {}",
                        escape_for_terminal(fallback().string())));
    }
    std::filesystem::path dir(*env.state_dir);
    if (dir.is_relative()) {
        throw usage_error(
            fmt::format("WHISPER_VRAM_STATE_DIR '{}' is a relative path (it would name another folder "
                        "in each working directory): give an absolute path, e.g. {}",
                        escape_for_terminal(*env.state_dir), escape_for_terminal(fallback().string())));
    }
    return dir;
}

}  // namespace whisper_vram
