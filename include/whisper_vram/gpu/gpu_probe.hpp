#pragma once
/// @file gpu_probe.hpp
/// The GPU probe interface and its value types. Implementations: NVML loaded at run time
/// (nvml_probe.hpp), simulated GPUs (below), and "none" with the reason.
/// Expected conditions (no driver, GPU lost, memory not reported) are values, not exceptions.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace whisper_vram {

/// CUDA compute capability.
struct compute_capability {
    int major = 0;
    int minor = 0;
};

/// A process using a GPU.
struct gpu_process {
    std::uint32_t pid = 0;
    std::optional<std::uint64_t> used_bytes;  ///< nullopt when NVML reports "not available"
    std::string name;                         ///< executable name when readable, else empty
};

/// A MIG instance of a GPU (memory as the MIG device handle reports it).
struct mig_device {
    unsigned index = 0;
    std::string uuid;
    std::uint64_t total_bytes = 0;
    std::uint64_t used_bytes = 0;
    std::uint64_t free_bytes = 0;
};

/// Health of one GPU's readings.
enum class gpu_state {
    ok,              ///< memory figures valid
    unified_memory,  ///< no dedicated framebuffer (memory NOT_SUPPORTED); figures are zero
    lost,            ///< GPU fell off the bus (NVML_ERROR_GPU_IS_LOST)
    error,           ///< another per-GPU failure; see state_detail
};

/// Name of a gpu_state ("ok", "unified_memory", "lost", "error").
std::string_view to_string(gpu_state state) noexcept;

/// One GPU as seen at one instant.
struct gpu_device {
    unsigned index = 0;      ///< NVML index (simulated: position in the spec)
    std::string name;        ///< as NVML reports it, or the catalog/simulated name
    std::string uuid;        ///< "GPU-…"
    std::string pci_bus_id;  ///< "00000000:01:00.0"
    std::uint64_t total_bytes = 0;
    std::uint64_t used_bytes = 0;
    std::uint64_t free_bytes = 0;
    std::optional<std::uint64_t> reserved_bytes;  ///< driver/firmware reserve (NVML memory v2)
    std::optional<unsigned> utilization_gpu_percent;
    std::optional<unsigned> utilization_memory_percent;
    std::optional<compute_capability> capability;
    std::optional<bool> mig_enabled;  ///< nullopt when the GPU does not support MIG
    std::vector<mig_device> mig_devices;
    std::vector<gpu_process> processes;
    bool processes_known = false;  ///< false when the process list could not be read
    gpu_state state = gpu_state::ok;
    std::string state_detail;  ///< why, when state is not ok
    std::string catalog_name;  ///< matching gpu_catalog row, empty when none
};

/// Where a snapshot came from.
enum class probe_source { nvml, simulated, none };

/// Name of a probe_source ("nvml", "simulated", "none").
std::string_view to_string(probe_source source) noexcept;

/// All GPUs at one instant, or why there are none.
struct gpu_snapshot {
    probe_source source = probe_source::none;
    std::vector<gpu_device> gpus;
    std::string unavailable_reason;  ///< set when source is none
    /// True when GPU information could be read (source is nvml or simulated).
    [[nodiscard]] bool available() const noexcept { return source != probe_source::none; }
};

/// A source of GPU snapshots.
class gpu_probe {
public:
    virtual ~gpu_probe() = default;
    /// Reads every GPU now. Never throws for expected conditions (no driver, GPU lost).
    virtual gpu_snapshot snapshot() = 0;
    /// Which implementation this is.
    [[nodiscard]] virtual probe_source source() const noexcept = 0;
};

/// Parses a simulation spec: comma-separated GPUs, each a catalog name ("RTX 3090") or a size
/// ("24GiB", "8GB" = GiB, "12288MiB"), with an optional ":used=SIZE".
/// @throws usage_error naming the bad entry and the accepted forms.
std::vector<gpu_device> parse_simulation_spec(std::string_view spec);

/// A probe that always returns the GPUs of @p spec (see parse_simulation_spec()).
/// @throws usage_error for a bad spec.
std::unique_ptr<gpu_probe> make_simulated_probe(std::string_view spec);

/// A probe with no GPUs whose snapshot carries @p reason.
std::unique_ptr<gpu_probe> make_unavailable_probe(std::string reason);

/// Options of make_probe(); built by the edges from their environment value (probe_options_from() in
/// facade/gpu_manager.hpp), never read here.
struct probe_options {
    std::optional<std::string> simulate;      ///< WHISPER_VRAM_SIMULATE / --simulate
    std::optional<std::string> nvml_library;  ///< WHISPER_VRAM_NVML_LIBRARY
};

/// The probe the options call for: simulated when a spec is given, else NVML, else "none".
std::unique_ptr<gpu_probe> make_probe(const probe_options& options);

}  // namespace whisper_vram
