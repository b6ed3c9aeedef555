// Ray resources from whisper-vram's numbers (see ray.hpp for the scheme and its sources). Pure.

#include "whisper_vram/planner/ray.hpp"

#include <fmt/format.h>

#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/planner/kubernetes.hpp"

namespace whisper_vram {

std::string ray_memory_key(std::uint64_t granule_bytes) {
    if (granule_bytes == 0 || granule_bytes % bytes_per_mib != 0) {
        throw usage_error(
            fmt::format("--granule {} bytes is not a whole number of MiB: give e.g. 1GiB (the default), 512MiB or 1MiB",
                        granule_bytes));
    }
    if (granule_bytes == bytes_per_gib) return "gpu_memory_gib";
    if (granule_bytes == bytes_per_mib) return "gpu_memory_mib";
    return fmt::format("gpu_memory_{}mib", granule_bytes / bytes_per_mib);
}

ray_node_resources ray_resources_for(const std::vector<gpu_device>& gpus, std::uint64_t granule_bytes) {
    ray_node_resources r;
    r.granule_bytes = granule_bytes;
    r.key = ray_memory_key(granule_bytes);
    for (std::size_t i = 0; i < gpus.size(); ++i) {
        const auto& g = gpus[i];
        ray_gpu_memory m;
        m.index = static_cast<unsigned>(i);
        m.name = g.name;
        m.total_bytes = g.total_bytes;
        if (g.state != gpu_state::ok) {
            m.reason = fmt::format("GPU state {}", to_string(g.state));
        } else if (g.total_bytes < granule_bytes) {
            m.reason = "less memory than one granule";
        } else {
            m.counted = true;
            m.granules = g.total_bytes / granule_bytes;  // down: never offer memory the GPU does not have
            r.total_granules += m.granules;              // ≤ total bytes / 1 MiB each: no overflow
        }
        r.gpus.push_back(std::move(m));
    }
    return r;
}

std::string ray_start_resources_json(const ray_node_resources& r) {
    std::string json = fmt::format("{{\"{}\": {}", r.key, r.total_granules);
    for (const auto& g : r.gpus) {
        if (g.counted) json += fmt::format(", \"{}_{}\": {}", r.key, g.index, g.granules);
    }
    return json + "}";
}

ray_task_request ray_request_for(std::uint64_t recommended_bytes, std::uint64_t gpu_bytes,
                                 std::uint64_t granule_bytes) {
    if (recommended_bytes == 0) throw usage_error("a Ray request needs a recommended memory above 0 bytes");
    if (gpu_bytes == 0) throw usage_error("a Ray request needs a GPU memory above 0 bytes");
    if (gpu_bytes > UINT64_MAX / ray_fraction_units) {
        throw usage_error(fmt::format(
            "GPU memory {} bytes is beyond what a Ray fraction can be computed for (2^64/10000)", gpu_bytes));
    }
    ray_task_request r;
    r.recommended_bytes = recommended_bytes;
    r.gpu_bytes = gpu_bytes;
    r.granule_bytes = granule_bytes;
    r.key = ray_memory_key(granule_bytes);
    r.granules = ceil_units(recommended_bytes, granule_bytes);
    // ceil(recommended × 10000 / gpu) without overflow: whole GPUs, then the remainder (< gpu, so
    // remainder × 10000 fits by the check above).
    const std::uint64_t whole = recommended_bytes / gpu_bytes;
    const std::uint64_t remainder = recommended_bytes % gpu_bytes;
    r.num_gpus_units = ceil_units(remainder * ray_fraction_units, gpu_bytes);
    // whole > 0 means more than one GPU: fits() is false; saturate instead of overflowing.
    r.num_gpus_units =
        whole >= UINT64_MAX / ray_fraction_units - 1 ? UINT64_MAX : whole * ray_fraction_units + r.num_gpus_units;
    return r;
}

std::string format_ray_fraction(std::uint64_t units) {
    std::string text = fmt::format("{}.{:04}", units / ray_fraction_units, units % ray_fraction_units);
    while (text.back() == '0') text.pop_back();
    if (text.back() == '.') text.pop_back();
    return text;
}

std::string ray_task_options(const ray_task_request& r) {
    return fmt::format("num_gpus={}, resources={{\"{}\": {}}}", format_ray_fraction(r.num_gpus_units), r.key,
                       r.granules);
}

}  // namespace whisper_vram
