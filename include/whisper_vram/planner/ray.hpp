#pragma once
/// @file ray.hpp
/// Ray from whisper-vram's numbers, pure (no I/O): the `ray start --resources` JSON of a node
/// (`whisper-vram ray resources`) and the `num_gpus=` / `resources=` of a task (`ray request`).
///
/// The scheme, and why. Ray custom resources are node-level numbers: a node advertising
/// {"gpu_memory_gib": 48} for two 24 GiB GPUs accepts a 30 GiB task that fits on neither GPU.
/// What Ray does keep per GPU is its own GPU resource: each GPU is one instance, a fractional
/// `num_gpus` below 1 is served from ONE GPU, and Ray sets the task's CUDA_VISIBLE_DEVICES to it.
/// So a task asks for memory on one GPU with `num_gpus = recommended / GPU memory` (rounded UP to
/// Ray's 0.0001), and the node key `gpu_memory_<unit>` (granules, rounded up) as a second, node-wide
/// account. The per-GPU keys `gpu_memory_<unit>_<i>` (GPU i's granules) are for a task that pins
/// itself to GPU i (it asks for that key, `num_gpus=0`, and sets CUDA_VISIBLE_DEVICES=i itself):
/// Ray cannot say "on any one GPU" with custom resources, so mixing the two ways on a node would
/// count the same memory twice — use one per cluster.
///
/// Sources (Ray documentation, "Resources" page of Ray Core, doc/source/ray-core/scheduling/
/// resources.rst, as of Ray 2.x; Ray cannot be installed here to check): custom resources are
/// given to `ray start --resources='<JSON>'`; "Fractional Resource Requirements": fractions are
/// allowed for GPUs and custom resources, with a precision of 0.0001; a fractional GPU request is
/// placed on one GPU, and keeping to the share of its memory is the user's job (Ray does not fence).

#include <cstdint>
#include <string>
#include <vector>

#include "whisper_vram/gpu/gpu_probe.hpp"

namespace whisper_vram {

/// Ray's resource precision: quantities are multiples of 1/10000 (Ray docs, "Fractional Resource
/// Requirements"); num_gpus is counted in these units.
inline constexpr std::uint64_t ray_fraction_units = 10000;

/// The custom resource key for a granule: "gpu_memory_gib" (1 GiB, the default), "gpu_memory_mib"
/// (1 MiB), else "gpu_memory_<N>mib".
/// @throws usage_error when @p granule_bytes is not a positive whole number of MiB.
std::string ray_memory_key(std::uint64_t granule_bytes);

/// One GPU's part of a node's Ray resources.
struct ray_gpu_memory {
    unsigned index = 0;  ///< position among the visible GPUs (Ray numbers GPUs the same way)
    std::string name;
    std::uint64_t total_bytes = 0;
    std::uint64_t granules = 0;  ///< floor(total / granule); 0 when not counted
    bool counted = false;        ///< false for a lost GPU, one with an error or without its own memory
    std::string reason;          ///< why not counted
};

/// A node's custom resources for `ray start --resources`.
struct ray_node_resources {
    std::uint64_t granule_bytes = 0;
    std::string key;  ///< ray_memory_key(granule_bytes)
    std::vector<ray_gpu_memory> gpus;
    std::uint64_t total_granules = 0;  ///< the node key: the sum of the counted GPUs' granules
};

/// The resources of @p gpus in granules of @p granule_bytes (rounded down: never offer memory a
/// GPU does not have).
/// @throws usage_error for a bad granule (see ray_memory_key()).
ray_node_resources ray_resources_for(const std::vector<gpu_device>& gpus, std::uint64_t granule_bytes);

/// The JSON `ray start --resources` takes, one line, keys in order (the node key, then each counted
/// GPU's): {"gpu_memory_gib": 158, "gpu_memory_gib_0": 79, "gpu_memory_gib_1": 79}.
std::string ray_start_resources_json(const ray_node_resources& r);

/// A task's Ray options for a job of @p recommended_bytes on GPUs of @p gpu_bytes.
struct ray_task_request {
    std::uint64_t recommended_bytes = 0;
    std::uint64_t gpu_bytes = 0;  ///< the GPU memory num_gpus is a fraction of
    std::uint64_t granule_bytes = 0;
    std::string key;                   ///< ray_memory_key(granule_bytes)
    std::uint64_t granules = 0;        ///< ceil(recommended / granule)
    std::uint64_t num_gpus_units = 0;  ///< ceil(recommended × 10000 / gpu_bytes): num_gpus × 10000
    /// False when the job needs more than one GPU's memory (num_gpus would exceed 1): Ray would
    /// hand it whole GPUs, and a Whisper job runs on one.
    [[nodiscard]] bool fits() const noexcept { return num_gpus_units <= ray_fraction_units; }
};

/// The request for @p recommended_bytes (> 0) on GPUs of @p gpu_bytes, in granules of @p granule_bytes.
/// @throws usage_error for a zero size, a bad granule, or a GPU above 2^64 / 10000 bytes.
ray_task_request ray_request_for(std::uint64_t recommended_bytes, std::uint64_t gpu_bytes, std::uint64_t granule_bytes);

/// @p units / 10000 in decimal without trailing zeros: 1251 → "0.1251", 5000 → "0.5", 10000 → "1".
std::string format_ray_fraction(std::uint64_t units);

/// The options as Python keyword arguments, for `@ray.remote(...)` or `.options(...)`:
/// `num_gpus=0.1251, resources={"gpu_memory_gib": 11}`.
std::string ray_task_options(const ray_task_request& r);

}  // namespace whisper_vram
