#include "whisper_vram/gpu/gpu_selection.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <optional>

#include "core/text.hpp"
#include "whisper_vram/core/error.hpp"

namespace whisper_vram {
namespace {

bool parse_index(std::string_view text, unsigned& out) {
    const auto* last = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), last, out);
    return !text.empty() && ec == std::errc{} && ptr == last;
}

// A PCI bus id "[domain:]bus:device.function" in hex; NVML writes an 8-digit domain
// ("00000000:65:00.0", NVML_DEVICE_PCI_BUS_ID_FMT), lspci and nvidia-smi often 4 ("0000:65:00.0").
struct pci_address {
    unsigned long domain = 0, bus = 0, device = 0, function = 0;
    bool operator==(const pci_address&) const = default;
};

bool parse_hex(std::string_view text, std::size_t max_digits, unsigned long& out) {
    if (text.empty() || text.size() > max_digits) return false;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out, 16);
    return ec == std::errc{} && ptr == text.data() + text.size();
}

std::optional<pci_address> parse_pci_bus_id(std::string_view text) {
    const auto dot = text.rfind('.');
    if (dot == std::string_view::npos) return std::nullopt;
    const auto parts = detail::split(text.substr(0, dot), ':');
    if (parts.size() != 2 && parts.size() != 3) return std::nullopt;
    pci_address a;
    const std::size_t bus_at = parts.size() - 2;
    if (parts.size() == 3 && !parse_hex(parts[0], 8, a.domain)) return std::nullopt;
    if (!parse_hex(parts[bus_at], 2, a.bus) || !parse_hex(parts[bus_at + 1], 2, a.device) ||
        !parse_hex(text.substr(dot + 1), 1, a.function)) {
        return std::nullopt;
    }
    return a;
}

// Which id forms an id may take.
enum class id_forms {
    cuda,  // CUDA_VISIBLE_DEVICES: "GPU-<uuid prefix>" or "MIG-<uuid prefix>" only (CUDA's own rules)
    user,  // --gpus: also a UUID prefix without "GPU-", and PCI bus ids
};

bool mig_matches(const gpu_device& gpu, const std::string& key) {
    return std::any_of(gpu.mig_devices.begin(), gpu.mig_devices.end(), [&](const mig_device& m) {
        return !m.uuid.empty() && detail::to_lower(m.uuid).starts_with(key);
    });
}

// GPUs whose id matches @p id: a UUID prefix, a MIG UUID prefix (its parent GPU) or, for user ids,
// a PCI bus id compared as numbers. Index ids are handled by the callers (their meaning differs).
std::vector<const gpu_device*> match_id(const std::vector<const gpu_device*>& gpus, std::string_view id,
                                        id_forms forms) {
    const std::string key = detail::to_lower(detail::trim(id));
    std::vector<const gpu_device*> found;
    if (key.empty()) return found;
    const bool gpu_key = key.starts_with("gpu-");
    const bool mig_key = key.starts_with("mig-");
    // A bare "GPU-" or "MIG-" would match everything: not an id.
    if ((gpu_key || mig_key) && key.size() == 4) return found;
    const auto pci = forms == id_forms::user ? parse_pci_bus_id(key) : std::nullopt;
    for (const auto* gpu : gpus) {
        const std::string uuid = detail::to_lower(gpu->uuid);
        bool match = false;
        if (mig_key) {
            match = mig_matches(*gpu, key);
        } else if (gpu_key) {
            match = uuid.starts_with(key);
        } else if (pci) {
            match = parse_pci_bus_id(gpu->pci_bus_id) == pci;
        } else if (forms == id_forms::user) {
            match = uuid.starts_with("gpu-") && uuid.substr(4).starts_with(key);
        }
        if (match) found.push_back(gpu);
    }
    return found;
}

std::string describe(const std::vector<visible_gpu>& visible) {
    if (visible.empty()) return "no GPU is visible";
    std::vector<std::string> items;
    items.reserve(visible.size());
    for (const auto& v : visible) {
        items.push_back(fmt::format("{} ({}, {})", v.cuda_index, v.device.name, v.device.uuid));
    }
    return "GPUs: " + detail::join(items);
}

}  // namespace

std::vector<visible_gpu> visible_gpus(const gpu_snapshot& snapshot,
                                      const std::optional<std::string>& cuda_visible_devices) {
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
            const auto found = match_id(all, entry, id_forms::cuda);
            if (found.size() == 1) chosen = found.front();  // an ambiguous prefix is invalid
        }
        // CUDA stops at the first invalid entry; a GPU listed twice is invalid too.
        if (chosen == nullptr) break;
        if (std::any_of(visible.begin(), visible.end(),
                        [&](const visible_gpu& v) { return v.device.index == chosen->index; })) {
            break;
        }
        visible.push_back({static_cast<unsigned>(visible.size()), *chosen});
    }
    return visible;
}

std::vector<visible_gpu> select_gpus(const std::vector<visible_gpu>& visible, std::string_view ids) {
    if (detail::trim(ids).empty()) return visible;
    std::vector<visible_gpu> selected;
    std::vector<const gpu_device*> devices;
    devices.reserve(visible.size());
    for (const auto& v : visible) devices.push_back(&v.device);
    for (const std::string_view raw : detail::split(ids, ',')) {
        const std::string_view id = detail::trim(raw);
        if (id.empty()) {  // "0,", ",": a typo, not "every GPU" (an empty or blank list as a whole means that)
            throw usage_error(
                fmt::format("GPU ids '{}' have an empty item; give comma-separated CUDA indices, UUIDs "
                            "(or a unique prefix) or PCI bus ids. {}",
                            ids, describe(visible)));
        }
        const visible_gpu* chosen = nullptr;
        unsigned index = 0;
        if (parse_index(id, index)) {
            const auto it = std::find_if(visible.begin(), visible.end(),
                                         [&](const visible_gpu& v) { return v.cuda_index == index; });
            if (it != visible.end()) chosen = &*it;
        } else {
            const auto found = match_id(devices, id, id_forms::user);
            if (found.size() > 1) {
                throw usage_error(fmt::format("GPU id '{}' matches {} GPUs; give more of the UUID. {}", id,
                                              found.size(), describe(visible)));
            }
            if (found.size() == 1) {
                chosen = &*std::find_if(visible.begin(), visible.end(),
                                        [&](const visible_gpu& v) { return &v.device == found.front(); });
            }
        }
        if (chosen == nullptr) {
            throw usage_error(fmt::format(
                "GPU id '{}' does not exist; ids are CUDA indices, UUIDs (or a unique prefix) or PCI bus ids. {}", id,
                describe(visible)));
        }
        if (std::none_of(selected.begin(), selected.end(),
                         [&](const visible_gpu& v) { return v.cuda_index == chosen->cuda_index; })) {
            selected.push_back(*chosen);
        }
    }
    return selected;
}

}  // namespace whisper_vram
