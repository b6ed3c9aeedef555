// The admission rule and placement (pure): see scheduler.hpp for the rule and why it counts each
// reservation once.

#include <fmt/format.h>
#include <algorithm>
#include <array>

#include "core/text.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/sched/scheduler.hpp"

namespace whisper_vram {

gpu_capacity admission_capacity(const gpu_device& gpu, const std::vector<reservation_record>& reservations) {
    gpu_capacity c;
    c.gpu_uuid = gpu.uuid;
    c.gpu_index = gpu.index;
    c.gpu_name = gpu.name;
    c.total_bytes = gpu.total_bytes;
    c.free_bytes = std::min(gpu.free_bytes, gpu.total_bytes);
    if (gpu.state != gpu_state::ok) {
        c.usable = false;
        c.unusable_reason = fmt::format("GPU state {}{}{}", to_string(gpu.state), gpu.state_detail.empty() ? "" : ": ",
                                        gpu.state_detail);
    } else if (gpu.total_bytes == 0) {
        c.usable = false;
        c.unusable_reason = "no dedicated GPU memory reported";
    }
    const std::uint64_t used = c.total_bytes - c.free_bytes;  // NVML used + driver reserve
    for (const auto& r : reservations) {
        if (r.gpu_uuid != gpu.uuid) continue;
        ++c.reservation_count;
        // seen(r): NVML per-process usage of the holder and its child, where visible.
        std::uint64_t seen = 0;
        if (gpu.processes_known) {
            for (const auto& p : gpu.processes) {
                if (p.used_bytes && (p.pid == r.holder.pid || (r.child_pid != 0 && p.pid == r.child_pid))) {
                    seen = saturating_add(seen, *p.used_bytes);
                }
            }
        }
        // Saturating sums: two records of 2^63 bytes add up to "everything", never to 0.
        c.reserved_bytes = saturating_add(c.reserved_bytes, r.bytes);
        c.seen_managed_bytes = saturating_add(c.seen_managed_bytes, std::min(seen, r.bytes));
        c.counted_managed_bytes = saturating_add(c.counted_managed_bytes, std::max(seen, r.bytes));
    }
    c.unmanaged_used_bytes = used > c.seen_managed_bytes ? used - c.seen_managed_bytes : 0;
    // available = total − unmanaged − Σ reserved = free + Σ min(seen, reserved) − Σ reserved (≥ 0).
    const std::uint64_t occupied = saturating_add(c.unmanaged_used_bytes, c.reserved_bytes);
    c.available_bytes = c.usable && occupied < c.total_bytes ? c.total_bytes - occupied : 0;
    return c;
}

bool admits(const gpu_capacity& capacity, std::uint64_t bytes) noexcept {
    return capacity.usable && bytes <= capacity.available_bytes;
}

std::string_view to_string(placement_policy policy) noexcept {
    static constexpr auto names = std::to_array<std::string_view>({"best-fit", "most-free"});
    return detail::enum_name(names, policy);
}

placement_policy parse_placement_policy(std::string_view text) {
    std::string key = detail::to_lower(detail::trim(text));
    std::replace(key.begin(), key.end(), '_', '-');
    if (key == "best-fit") return placement_policy::best_fit;
    if (key == "most-free") return placement_policy::most_free;
    throw usage_error(fmt::format("placement policy '{}' is unknown; accepted: best-fit, most-free", text));
}

std::optional<std::size_t> choose_gpu(const std::vector<gpu_capacity>& gpus, std::uint64_t bytes,
                                      placement_policy policy) {
    std::optional<std::size_t> best;
    for (std::size_t i = 0; i < gpus.size(); ++i) {
        if (!admits(gpus[i], bytes)) continue;
        if (!best) {
            best = i;
            continue;
        }
        const auto& a = gpus[i];
        const auto& b = gpus[*best];
        const bool better = policy == placement_policy::best_fit ? a.available_bytes < b.available_bytes
                                                                 : a.available_bytes > b.available_bytes;
        const bool tie = a.available_bytes == b.available_bytes;
        if (better || (tie && a.gpu_index < b.gpu_index)) best = i;
    }
    return best;
}

// ---- results (here, not in scheduler.cpp, so that the pure JSON layer can name them) -----------

std::string_view to_string(reserve_status status) noexcept {
    static constexpr auto names =
        std::to_array<std::string_view>({"granted", "timed_out", "never_fits", "cancelled", "gpu_unavailable"});
    return detail::enum_name(names, status);
}

std::uint64_t reservations_release::dropped_bytes() const noexcept {
    std::uint64_t sum = 0;
    for (const auto& r : dropped) sum = saturating_add(sum, r.bytes);
    return sum;
}

}  // namespace whisper_vram
