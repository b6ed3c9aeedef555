#pragma once
/// @file gpu_catalog.hpp
/// NVIDIA GPU models: names (as NVML/nvidia-smi print them and as users type them), usable memory
/// (the `memory.total` NVML reports), the marketed size, compute capability. Pure data.
///
/// Everything that plans on a catalog card uses gpu_model::memory_bytes, the usable figure (a T4
/// reports 15360 MiB, not 16 GiB). Only the guide's own claims (its presets, "RTX 3090, 24GB") are
/// judged on gpu_model::marketed_bytes, the marketed size read as GiB as the guide does.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace whisper_vram {

/// One GPU model (one row per product that plans differently: form factors that report the same
/// memory and compute capability, e.g. H100 PCIe and SXM, share a row and its NVML names).
struct gpu_model {
    std::string_view name;  ///< catalog name, e.g. "RTX 3060 12GB", "A100 80GB", "T4"
    /// Usable memory: `memory.total` as NVML / nvidia-smi report it in the card's default
    /// configuration (ECC on for datacenter cards), the lowest figure seen when drivers differ.
    /// 0 for unified-memory devices (Jetson, GB10): nothing fixed to plan on (see unified_memory()).
    std::uint64_t memory_bytes = 0;
    int cc_major = 0;                  ///< CUDA compute capability, major
    int cc_minor = 0;                  ///< CUDA compute capability, minor
    std::string_view family;           ///< "GeForce", "Workstation", "Datacenter" or "Unified"
    std::string_view marketed_label;   ///< the size as sold, e.g. "16GB"; "unified" for Jetson/GB10
    std::uint64_t marketed_bytes = 0;  ///< marketed GB read as GiB (the guide's convention); 0 if unified
    /// Where memory_bytes comes from: "measured: nvidia-smi …" (gpu-skus sheet) or "assumed: …"
    /// (derived, conservatively, where no nvidia-smi output was seen).
    std::string_view usable_memory_source;
    std::string_view nvml_names;  ///< names as NVML/nvidia-smi print them, '|'-separated
    std::string_view aliases;     ///< other names users type ("H100 SXM"), '|'-separated

    /// True for devices whose memory is shared with the CPU: plans on them need an explicit size.
    [[nodiscard]] constexpr bool unified_memory() const noexcept { return memory_bytes == 0; }
    /// True when memory_bytes was derived rather than read in an nvidia-smi output.
    [[nodiscard]] bool usable_memory_assumed() const noexcept { return usable_memory_source.starts_with("assumed"); }
};

/// Every catalog GPU, in a stable order (GeForce, workstation, datacenter, unified memory).
std::span<const gpu_model> gpu_catalog() noexcept;

/// The names of @p gpu as NVML prints them (split from gpu_model::nvml_names).
std::vector<std::string_view> nvml_names_of(const gpu_model& gpu);

/// The six cards of the guide's per-GPU table, in its order.
std::span<const std::string_view> guide_gpu_names() noexcept;

/// Finds a GPU by name, forgivingly: the catalog name, a name as NVML/nvidia-smi print it
/// ("Tesla V100S-PCIE-32GB", "NVIDIA H100 80GB HBM3", "GeForce GTX 1080"), a name truncated by
/// the nvidia-smi table ("Tesla P100-PCIE...") or as users write it ("v100s", "a100 80gb",
/// "h100-sxm", "rtx4090"). Case, spaces, hyphens and the "NVIDIA"/"GeForce"/"Tesla" prefixes do
/// not matter. A name that covers several memory variants ("RTX 3060") is an error listing them.
/// @throws usage_error naming the bad name, the nearest match and the known names.
const gpu_model& find_gpu_model(std::string_view name);

/// Matches a name as NVML reports it ("NVIDIA GeForce RTX 3090", "NVIDIA A100-SXM4-80GB",
/// "Tesla T4", "Orin (nvgpu)") plus the reported total memory to a catalog row; nullptr when
/// nothing matches. Memory variants sharing an NVML name are told apart by the total memory.
const gpu_model* match_nvml_name(std::string_view nvml_name, std::uint64_t total_bytes) noexcept;

/// The memory to plan on for a catalog card: its usable memory_bytes.
/// @throws usage_error for a unified-memory device (no fixed GPU memory): the message says to
/// pass the memory explicitly (--memory SIZE, or a size such as "16GiB" in --simulate).
std::uint64_t planning_memory_bytes(const gpu_model& gpu);

}  // namespace whisper_vram
