#pragma once
/// @file environment.hpp
/// Every environment variable whisper-vram honours, read in one place (read_environment(), the only
/// getenv in the project) by the edges — the CLI's main, the Python module, the service — once, and
/// passed down as values. The library below never reads the environment and never prints: what it
/// has to say besides its results goes to a warning_sink.
///
/// The library takes it as `gpu_manager(env, sink)` (facade/gpu_manager.hpp: manager_options_from(),
/// probe_options_from()), which stores what it needs once and never reads the environment again.
///
/// Adding a variable: one field here, one line in src/facade/environment.cpp, and the option it
/// feeds; the README's "Environment" table lists them.

#include <filesystem>
#include <optional>
#include <string>

#include "whisper_vram/core/warning_sink.hpp"

namespace whisper_vram {

/// The variables as they were when read (nullopt = unset; an empty value is kept as "").
struct environment {
    std::optional<std::string> simulate;              ///< WHISPER_VRAM_SIMULATE: simulated GPUs
    std::optional<std::string> state_dir;             ///< WHISPER_VRAM_STATE_DIR: ledger folder
    std::optional<std::string> nvml_library;          ///< WHISPER_VRAM_NVML_LIBRARY: the only NVML tried
    std::optional<std::string> cuda_visible_devices;  ///< CUDA_VISIBLE_DEVICES: CUDA's GPU filter
    std::optional<std::string> cuda_device_order;     ///< CUDA_DEVICE_ORDER: CUDA's numbering
    std::optional<std::string> xdg_runtime_dir;       ///< XDG_RUNTIME_DIR: default state folder's parent
    std::optional<std::string> engine;                ///< WHISPER_VRAM_ENGINE: the user's default engine
    std::optional<std::string> calibration;           ///< WHISPER_VRAM_CALIBRATION: measured-run records
    std::optional<std::string> cuda_module_loading;   ///< CUDA_MODULE_LOADING: lazy/eager kernel loading
    std::optional<std::string> slurm_job_id;          ///< SLURM_JOB_ID: set inside a Slurm job
    std::optional<std::string> slurm_shards_on_node;  ///< SLURM_SHARDS_ON_NODE: the job's shards (shard GRES)
    unsigned uid = 0;                                 ///< the real user id (default state folder name)

    // Kubernetes, in a pod (`k8s advertise` without --server: https://HOST:PORT, the service account's
    // token and CA under /var/run/secrets/kubernetes.io/serviceaccount).
    std::optional<std::string> kubernetes_service_host;  ///< KUBERNETES_SERVICE_HOST: the API service address
    std::optional<std::string> kubernetes_service_port;  ///< KUBERNETES_SERVICE_PORT: its port
};

/// Reads every variable above from the process environment, now. The only function that does.
[[nodiscard]] environment read_environment();

/// The ledger's state folder @p env names: WHISPER_VRAM_STATE_DIR when set, else
/// $XDG_RUNTIME_DIR/whisper-vram, else /tmp/whisper-vram-UID (default_state_dir()).
/// @throws usage_error when WHISPER_VRAM_STATE_DIR is set but empty, or is a relative path (it
///         would name another folder in every working directory): the message says to give an
///         absolute path or unset the variable.
[[nodiscard]] std::filesystem::path state_dir_from(const environment& env);

}  // namespace whisper_vram
