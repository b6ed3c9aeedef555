#include <fmt/format.h>

#include "core/text.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/gpu_catalog.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/gpu/gpu_probe.hpp"

namespace whisper_vram {
namespace {

class simulated_probe final : public gpu_probe {
public:
    explicit simulated_probe(std::vector<gpu_device> gpus) : gpus_(std::move(gpus)) {}
    gpu_snapshot snapshot() override { return gpu_snapshot{probe_source::simulated, gpus_, {}}; }
    [[nodiscard]] probe_source source() const noexcept override { return probe_source::simulated; }

private:
    std::vector<gpu_device> gpus_;
};

class unavailable_probe final : public gpu_probe {
public:
    explicit unavailable_probe(std::string reason) : reason_(std::move(reason)) {}
    gpu_snapshot snapshot() override { return gpu_snapshot{probe_source::none, {}, reason_}; }
    [[nodiscard]] probe_source source() const noexcept override { return probe_source::none; }

private:
    std::string reason_;
};

bool looks_like_size(std::string_view text) {
    return !text.empty() && ((text[0] >= '0' && text[0] <= '9') || text[0] == '.');
}

const char* const spec_forms =
    "accepted: comma-separated GPUs, each a catalog name (\"RTX 3090\") or a size (24GiB, 8GB = GiB, 12288MiB), "
    "optionally followed by :used=SIZE, e.g. \"RTX 3090:used=2GiB,8GiB\"";

}  // namespace

std::string_view to_string(gpu_state state) noexcept {
    static constexpr auto names = std::to_array<std::string_view>({"ok", "unified_memory", "lost", "error"});
    return detail::enum_name(names, state);
}

std::string_view to_string(probe_source source) noexcept {
    static constexpr auto names = std::to_array<std::string_view>({"nvml", "simulated", "none"});
    return detail::enum_name(names, source);
}

std::vector<gpu_device> parse_simulation_spec(std::string_view spec) {
    std::vector<gpu_device> gpus;
    if (detail::trim(spec).empty()) throw usage_error(fmt::format("empty GPU simulation spec; {}", spec_forms));
    for (const std::string_view raw_entry : detail::split(spec, ',')) {
        const std::string_view entry = detail::trim(raw_entry);
        if (entry.empty()) throw usage_error(fmt::format("empty GPU in simulation spec '{}'; {}", spec, spec_forms));
        const auto fields = detail::split(entry, ':');
        const std::string_view what = detail::trim(fields.front());
        if (what.empty()) {  // ":used=1": find_gpu_model would answer "unknown GPU '': did you mean 'T4'?"
            throw usage_error(fmt::format("simulated GPU '{}' has no name or size before ':'; {}", entry, spec_forms));
        }
        gpu_device gpu;
        gpu.index = static_cast<unsigned>(gpus.size());
        if (looks_like_size(what)) {
            gpu.total_bytes = parse_size_bytes(what, "simulated GPU size");
            if (gpu.total_bytes == 0) {
                throw usage_error(fmt::format("simulated GPU '{}' has no memory; {}", entry, spec_forms));
            }
            gpu.name = fmt::format("Simulated GPU {}", format_gib(gpu.total_bytes));
        } else {
            const gpu_model& model = find_gpu_model(what);
            gpu.total_bytes = planning_memory_bytes(model);  // usable memory; unified memory: a usage_error
            gpu.name = std::string(model.name);
            gpu.catalog_name = std::string(model.name);
            gpu.capability = compute_capability{model.cc_major, model.cc_minor};
        }
        for (std::size_t i = 1; i < fields.size(); ++i) {
            const std::string_view option = detail::trim(fields[i]);
            if (!option.starts_with("used=")) {
                throw usage_error(
                    fmt::format("unknown option '{}' for simulated GPU '{}'; {}", option, entry, spec_forms));
            }
            if (i > 1) {  // "8GiB:used=1GiB:used=2GiB": the last one silently won
                throw usage_error(fmt::format("simulated GPU '{}' gives used= more than once; {}", entry, spec_forms));
            }
            gpu.used_bytes = parse_size_bytes(option.substr(5), "simulated used memory");
        }
        if (gpu.used_bytes > gpu.total_bytes) {
            throw usage_error(fmt::format("simulated GPU '{}': used {} exceeds its total {}", entry,
                                          format_gib(gpu.used_bytes), format_gib(gpu.total_bytes)));
        }
        gpu.free_bytes = gpu.total_bytes - gpu.used_bytes;
        gpu.uuid = fmt::format("GPU-51a17a7e-0000-4000-8000-{:012x}", gpu.index);
        gpu.pci_bus_id = fmt::format("00000000:{:02X}:00.0", gpu.index + 1);
        gpu.processes_known = true;
        gpus.push_back(std::move(gpu));
    }
    return gpus;
}

std::unique_ptr<gpu_probe> make_simulated_probe(std::string_view spec) {
    return std::make_unique<simulated_probe>(parse_simulation_spec(spec));
}

std::unique_ptr<gpu_probe> make_unavailable_probe(std::string reason) {
    return std::make_unique<unavailable_probe>(std::move(reason));
}

}  // namespace whisper_vram
