#include "whisper_vram/core/gpu_catalog.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <vector>

#include "core/text.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/models.hpp"
#include "whisper_vram/core/units.hpp"

namespace whisper_vram {
namespace {

constexpr std::uint64_t gib = bytes_per_gib;

// Memory: NVIDIA's product pages (marketed GB, read as GiB per the guide's convention).
// Compute capability: NVIDIA's "CUDA GPUs - Compute Capability" table.
constexpr auto catalog = std::to_array<gpu_model>({
    // GeForce 10/16 (Pascal 6.1, Turing 7.5)
    {"GTX 1070", 8 * gib, 6, 1, "GeForce"},
    {"GTX 1080", 8 * gib, 6, 1, "GeForce"},
    {"GTX 1080 Ti", 11 * gib, 6, 1, "GeForce"},
    {"GTX 1650", 4 * gib, 7, 5, "GeForce"},
    {"GTX 1660", 6 * gib, 7, 5, "GeForce"},
    {"GTX 1660 Super", 6 * gib, 7, 5, "GeForce"},
    {"GTX 1660 Ti", 6 * gib, 7, 5, "GeForce"},
    // GeForce 20 (Turing 7.5)
    {"RTX 2060", 6 * gib, 7, 5, "GeForce"},
    {"RTX 2070", 8 * gib, 7, 5, "GeForce"},
    {"RTX 2080", 8 * gib, 7, 5, "GeForce"},
    {"RTX 2080 Ti", 11 * gib, 7, 5, "GeForce"},
    // GeForce 30 (Ampere 8.6)
    {"RTX 3050", 8 * gib, 8, 6, "GeForce"},
    {"RTX 3060 8GB", 8 * gib, 8, 6, "GeForce"},
    {"RTX 3060 12GB", 12 * gib, 8, 6, "GeForce"},
    {"RTX 3060 Ti", 8 * gib, 8, 6, "GeForce"},
    {"RTX 3070", 8 * gib, 8, 6, "GeForce"},
    {"RTX 3070 Ti", 8 * gib, 8, 6, "GeForce"},
    {"RTX 3080 10GB", 10 * gib, 8, 6, "GeForce"},
    {"RTX 3080 12GB", 12 * gib, 8, 6, "GeForce"},
    {"RTX 3080 Ti", 12 * gib, 8, 6, "GeForce"},
    {"RTX 3090", 24 * gib, 8, 6, "GeForce"},
    {"RTX 3090 Ti", 24 * gib, 8, 6, "GeForce"},
    // GeForce 40 (Ada 8.9)
    {"RTX 4060", 8 * gib, 8, 9, "GeForce"},
    {"RTX 4060 Ti 8GB", 8 * gib, 8, 9, "GeForce"},
    {"RTX 4060 Ti 16GB", 16 * gib, 8, 9, "GeForce"},
    {"RTX 4070", 12 * gib, 8, 9, "GeForce"},
    {"RTX 4070 Super", 12 * gib, 8, 9, "GeForce"},
    {"RTX 4070 Ti", 12 * gib, 8, 9, "GeForce"},
    {"RTX 4070 Ti Super", 16 * gib, 8, 9, "GeForce"},
    {"RTX 4080", 16 * gib, 8, 9, "GeForce"},
    {"RTX 4080 Super", 16 * gib, 8, 9, "GeForce"},
    {"RTX 4090", 24 * gib, 8, 9, "GeForce"},
    // GeForce 50 (Blackwell 12.0)
    {"RTX 5060 Ti 16GB", 16 * gib, 12, 0, "GeForce"},
    {"RTX 5070", 12 * gib, 12, 0, "GeForce"},
    {"RTX 5070 Ti", 16 * gib, 12, 0, "GeForce"},
    {"RTX 5080", 16 * gib, 12, 0, "GeForce"},
    {"RTX 5090", 32 * gib, 12, 0, "GeForce"},
    // Workstation
    {"RTX A4000", 16 * gib, 8, 6, "Workstation"},
    {"RTX A5000", 24 * gib, 8, 6, "Workstation"},
    {"RTX A6000", 48 * gib, 8, 6, "Workstation"},
    {"RTX 6000 Ada", 48 * gib, 8, 9, "Workstation"},
    // Datacenter
    {"P100", 16 * gib, 6, 0, "Datacenter"},
    {"V100 16GB", 16 * gib, 7, 0, "Datacenter"},
    {"V100 32GB", 32 * gib, 7, 0, "Datacenter"},
    {"T4", 16 * gib, 7, 5, "Datacenter"},
    {"A10", 24 * gib, 8, 6, "Datacenter"},
    {"A10G", 24 * gib, 8, 6, "Datacenter"},
    {"A40", 48 * gib, 8, 6, "Datacenter"},
    {"A100 40GB", 40 * gib, 8, 0, "Datacenter"},
    {"A100 80GB", 80 * gib, 8, 0, "Datacenter"},
    {"L4", 24 * gib, 8, 9, "Datacenter"},
    {"L40S", 48 * gib, 8, 9, "Datacenter"},
    {"H100", 80 * gib, 9, 0, "Datacenter"},
    {"H200", 141 * gib, 9, 0, "Datacenter"},
});

constexpr auto guide_cards =
    std::to_array<std::string_view>({"GTX 1660", "RTX 3060 8GB", "RTX 3070", "RTX 3080 10GB", "RTX 3090", "RTX 4090"});

// Lower-case, without "nvidia"/"geforce"/"tesla", spaces, hyphens and underscores:
// "NVIDIA GeForce RTX 3060 Ti" → "rtx3060ti"; "Tesla V100-SXM2-16GB" → "v100sxm216gb".
std::string normalise(std::string_view name) {
    std::string key = detail::to_lower(name);
    for (const std::string_view word : {"nvidia", "geforce", "tesla"}) {
        for (auto pos = key.find(word); pos != std::string::npos; pos = key.find(word)) key.erase(pos, word.size());
    }
    std::erase_if(key, [](char c) { return c == ' ' || c == '-' || c == '_'; });
    return key;
}

// The name without its memory-variant word ("RTX 3060 12GB" → "rtx3060"), normalised.
std::string base_key(std::string_view catalog_name) {
    const auto space = catalog_name.rfind(' ');
    if (space != std::string_view::npos) {
        const std::string_view last = catalog_name.substr(space + 1);
        const bool memory_word = last.size() > 2 && last.ends_with("GB") &&
                                 std::all_of(last.begin(), last.end() - 2, [](char c) { return c >= '0' && c <= '9'; });
        if (memory_word) return normalise(catalog_name.substr(0, space));
    }
    return normalise(catalog_name);
}

std::vector<std::string> catalog_names() {
    std::vector<std::string> names;
    names.reserve(catalog.size());
    for (const auto& gpu : catalog) names.emplace_back(gpu.name);
    return names;
}

}  // namespace

std::span<const gpu_model> gpu_catalog() noexcept { return catalog; }

std::span<const std::string_view> guide_gpu_names() noexcept { return guide_cards; }

const gpu_model& find_gpu_model(std::string_view name) {
    const std::string key = normalise(name);
    for (const auto& gpu : catalog) {
        if (normalise(gpu.name) == key) return gpu;
    }
    // A name that stands for several memory variants.
    std::vector<std::string> variants;
    for (const auto& gpu : catalog) {
        if (base_key(gpu.name) == key && normalise(gpu.name) != key) variants.emplace_back(gpu.name);
    }
    if (variants.size() == 1) {
        for (const auto& gpu : catalog) {
            if (gpu.name == variants.front()) return gpu;
        }
    }
    if (!variants.empty()) {
        throw usage_error(
            fmt::format("GPU '{}' comes in several memory variants: say which one: {}", name, detail::join(variants)));
    }
    const auto names = catalog_names();
    const auto nearest = nearest_name(name, names);
    throw usage_error(fmt::format("unknown GPU '{}'{}. Known GPUs: {}", name,
                                  nearest.empty() ? "" : fmt::format(": did you mean '{}'?", nearest),
                                  detail::join(names)));
}

const gpu_model* match_nvml_name(std::string_view nvml_name, std::uint64_t total_bytes) noexcept {
    try {
        const std::string key = normalise(nvml_name);
        // Longest matching base name wins ("rtx3060ti" before "rtx3060"); among its memory
        // variants the one closest to the reported total.
        const gpu_model* best = nullptr;
        std::size_t best_length = 0;
        std::uint64_t best_gap = 0;
        for (const auto& gpu : catalog) {
            const std::string base = base_key(gpu.name);
            const auto pos = key.find(base);
            if (pos == std::string::npos) continue;
            // The base must end the name or be followed by a non-alphanumeric suffix that is not
            // a model-number continuation ("rtx3060" must not match "rtx3060ti").
            const std::string rest = key.substr(pos + base.size());
            const bool suffix_ok = rest.empty() || rest.starts_with("pcie") || rest.starts_with("sxm") ||
                                   rest.starts_with("nvl") || rest.starts_with("hbm") || rest.starts_with("laptop") ||
                                   rest.starts_with("generation") ||
                                   (rest.front() >= '0' && rest.front() <= '9' && rest.find("gb") != std::string::npos);
            if (!suffix_ok) continue;
            const std::uint64_t gap =
                gpu.memory_bytes > total_bytes ? gpu.memory_bytes - total_bytes : total_bytes - gpu.memory_bytes;
            if (best == nullptr || base.size() > best_length || (base.size() == best_length && gap < best_gap)) {
                best = &gpu;
                best_length = base.size();
                best_gap = gap;
            }
        }
        return best;
    } catch (...) {
        return nullptr;
    }
}

}  // namespace whisper_vram
