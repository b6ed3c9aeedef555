#include "whisper_vram/gpu_selection.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fmt/format.h>

#include "detail/text.hpp"
#include "whisper_vram/error.hpp"

namespace whisper_vram {
namespace {

bool parse_index(std::string_view text, unsigned& out) {
    const auto* last = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), last, out);
    return !text.empty() && ec == std::errc{} && ptr == last;
}

std::string lower_no_prefix(std::string_view text) {
    std::string key = detail::to_lower(detail::trim(text));
    return key;
}

// GPUs whose id matches @p id: UUID prefix (with or without "GPU-") or PCI bus id (with either
// domain width). Index ids are handled by the callers (their meaning differs).
std::vector<const gpu_device*> match_id(const std::vector<const gpu_device*>& gpus, std::string_view id) {
    const std::string key = lower_no_prefix(id);
    std::vector<const gpu_device*> found;
    for (const auto* gpu : gpus) {
        const std::string uuid = detail::to_lower(gpu->uuid);
        const std::string bus = detail::to_lower(gpu->pci_bus_id);
        const bool uuid_match = !key.empty() && (uuid.starts_with(key) || (uuid.starts_with("gpu-") && uuid.substr(4).starts_with(key)) ||
                                                 (key.starts_with("mig-") && std::any_of(gpu->mig_devices.begin(), gpu->mig_devices.end(), [&](const mig_device& m) { return detail::to_lower(m.uuid).starts_with(key); })));
        // NVML bus ids have an 8-digit domain ("00000000:65:00.0"); users often write 4 ("0000:65:00.0").
        const bool bus_match = !key.empty() && key.find(':') != std::string::npos &&
                               (bus == key || (bus.size() > 4 && bus.substr(4) == key) || bus.ends_with(key));
        if (uuid_match || bus_match) found.push_back(gpu);
    }
    return found;
}

std::string describe(const std::vector<visible_gpu>& visible) {
    if (visible.empty()) return "no GPU is visible";
    std::vector<std::string> items;
    for (const auto& v : visible) items.push_back(fmt::format("{} ({}, {})", v.cuda_index, v.device.name, v.device.uuid));
    return "GPUs: " + detail::join(items);
}

}  // namespace

std::vector<visible_gpu> visible_gpus(const gpu_snapshot& snapshot, const std::optional<std::string>& cuda_visible_devices) {
    std::vector<visible_gpu> visible;
    if (!cuda_visible_devices) {
        for (const auto& gpu : snapshot.gpus) visible.push_back({gpu.index, gpu});
        return visible;
    }
    std::vector<const gpu_device*> all;
    for (const auto& gpu : snapshot.gpus) all.push_back(&gpu);
    for (const std::string_view raw : detail::split(*cuda_visible_devices, ',')) {
        const std::string_view entry = detail::trim(raw);
        const gpu_device* chosen = nullptr;
        unsigned index = 0;
        if (parse_index(entry, index)) {
            const auto it = std::find_if(snapshot.gpus.begin(), snapshot.gpus.end(),
                                         [&](const gpu_device& g) { return g.index == index; });
            if (it != snapshot.gpus.end()) chosen = &*it;
        } else {
            const auto found = match_id(all, entry);
            if (found.size() == 1) chosen = found.front();
        }
        // CUDA stops at the first invalid entry; a GPU listed twice is invalid too.
        if (chosen == nullptr) break;
        if (std::any_of(visible.begin(), visible.end(), [&](const visible_gpu& v) { return v.device.uuid == chosen->uuid; })) break;
        visible.push_back({static_cast<unsigned>(visible.size()), *chosen});
    }
    return visible;
}

std::vector<visible_gpu> select_gpus(const std::vector<visible_gpu>& visible, std::string_view ids) {
    if (detail::trim(ids).empty()) return visible;
    std::vector<visible_gpu> selected;
    std::vector<const gpu_device*> devices;
    for (const auto& v : visible) devices.push_back(&v.device);
    for (const std::string_view raw : detail::split(ids, ',')) {
        const std::string_view id = detail::trim(raw);
        const visible_gpu* chosen = nullptr;
        unsigned index = 0;
        if (parse_index(id, index)) {
            const auto it = std::find_if(visible.begin(), visible.end(), [&](const visible_gpu& v) { return v.cuda_index == index; });
            if (it != visible.end()) chosen = &*it;
        } else {
            const auto found = match_id(devices, id);
            if (found.size() > 1) {
                throw usage_error(fmt::format("GPU id '{}' matches {} GPUs; give more of the UUID. {}", id, found.size(), describe(visible)));
            }
            if (found.size() == 1) {
                chosen = &*std::find_if(visible.begin(), visible.end(), [&](const visible_gpu& v) { return &v.device == found.front(); });
            }
        }
        if (chosen == nullptr) {
            throw usage_error(fmt::format("GPU id '{}' does not exist; ids are CUDA indices, UUIDs (or a unique prefix) or PCI bus ids. {}",
                                          id, describe(visible)));
        }
        if (std::none_of(selected.begin(), selected.end(), [&](const visible_gpu& v) { return v.cuda_index == chosen->cuda_index; })) {
            selected.push_back(*chosen);
        }
    }
    return selected;
}

std::optional<std::string> cuda_visible_devices_from_environment() {
    if (const char* value = std::getenv("CUDA_VISIBLE_DEVICES"); value != nullptr) return std::string(value);
    return std::nullopt;
}

}  // namespace whisper_vram
