#pragma once
/// @file gpu_catalog.hpp
/// NVIDIA GPU models: name, memory, compute capability. Pure data. Memory is the marketed size
/// read as GiB (the guide's convention: a "24GB" card is sized as 24 GiB).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace whisper_vram {

/// One GPU model.
struct gpu_model {
    std::string_view name;           ///< catalog name, e.g. "RTX 3060 12GB", "A100 80GB"
    std::uint64_t memory_bytes = 0;  ///< framebuffer size (marketed GB read as GiB)
    int cc_major = 0;                ///< CUDA compute capability, major
    int cc_minor = 0;                ///< CUDA compute capability, minor
    std::string_view family;         ///< "GeForce", "Datacenter", "Workstation"
};

/// Every catalog GPU, in a stable order.
std::span<const gpu_model> gpu_catalog() noexcept;

/// The six cards of the guide's per-GPU table, in its order.
std::span<const std::string_view> guide_gpu_names() noexcept;

/// Finds a GPU by name, forgivingly: case, spaces, hyphens and the "NVIDIA"/"GeForce"/"Tesla"
/// prefixes do not matter ("rtx3090", "NVIDIA GeForce RTX 3090"). A name that covers several
/// memory variants ("RTX 3060") is an error listing the variants.
/// @throws usage_error naming the bad name, the nearest match and the known names.
const gpu_model& find_gpu_model(std::string_view name);

/// Matches a name as NVML reports it ("NVIDIA GeForce RTX 3090", "NVIDIA A100-SXM4-80GB",
/// "Tesla T4") plus the reported total memory to a catalog row; nullptr when nothing matches.
/// Memory variants are told apart by the total memory.
const gpu_model* match_nvml_name(std::string_view nvml_name, std::uint64_t total_bytes) noexcept;

}  // namespace whisper_vram
