// whisper-vram gpus: the GPUs as CUDA programs number them (CUDA_VISIBLE_DEVICES applied), with
// memory, utilisation, MIG instances and processes; the guide's get_gpu_memory_info.

#include <fmt/format.h>

#include "commands.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/gpu/gpu_selection.hpp"
#include "whisper_vram/json/json.hpp"

namespace whisper_vram::cli {
namespace {

struct gpus_options {
    std::optional<std::string> simulate;
    bool json = false;
};

std::string one_line(std::string text) {
    for (char& c : text) {
        if (c == '\n' || c == '\r') c = ' ';
    }
    return text;
}

std::string percent(const std::optional<unsigned>& value) { return value ? fmt::format("{}%", *value) : "-"; }

// Reservation figures of each visible GPU (the admission rule `run` uses); none when the ledger
// cannot be read (a warning says why: the GPUs are still shown).
std::optional<std::vector<gpu_capacity>> ledger_view(const gpu_manager& manager,
                                                     const std::vector<visible_gpu>& visible, const context& c) {
    try {
        return manager.gpu_capacities(visible);
    } catch (const state_error& e) {
        c.err << "whisper-vram: warning: reservations not shown: " << e.what() << '\n';
        return std::nullopt;
    }
}

void print_table(std::ostream& out, const gpu_snapshot& snapshot, const std::vector<visible_gpu>& visible,
                 const std::optional<std::string>& cuda_visible_devices,
                 const std::optional<std::vector<gpu_capacity>>& capacities) {
    out << fmt::format("source: {}\n", to_string(snapshot.source));
    if (cuda_visible_devices) {
        out << fmt::format("CUDA_VISIBLE_DEVICES='{}': {} of {} GPUs visible\n", *cuda_visible_devices, visible.size(),
                           snapshot.gpus.size());
    }
    if (visible.empty()) {
        out << "no GPU is visible\n";
        return;
    }
    text_table table({"cuda", "nvml", "name", "total GiB", "used GiB", "free GiB", "reserved GiB", "admittable GiB",
                      "gpu util", "cc", "state", "uuid"});
    for (std::size_t i = 0; i < visible.size(); ++i) {
        const auto& v = visible[i];
        const auto& g = v.device;
        const bool figures = g.state == gpu_state::ok || g.state == gpu_state::error;
        const gpu_capacity* cap = capacities ? &(*capacities)[i] : nullptr;
        table.add_row({std::to_string(v.cuda_index), std::to_string(g.index), g.name.empty() ? "?" : g.name,
                       figures ? gib2(bytes_to_gib(g.total_bytes)) : "-",
                       figures ? gib2(bytes_to_gib(g.used_bytes)) : "-",
                       figures ? gib2(bytes_to_gib(g.free_bytes)) : "-",
                       cap != nullptr ? gib2(bytes_to_gib(cap->reserved_bytes)) : "-",
                       cap != nullptr && figures ? gib2(bytes_to_gib(cap->available_bytes)) : "-",
                       percent(g.utilization_gpu_percent),
                       g.capability ? fmt::format("{}.{}", g.capability->major, g.capability->minor) : "-",
                       std::string(to_string(g.state)), g.uuid});
        for (const auto& m : g.mig_devices) {
            table.add_row({"", "", fmt::format("  MIG {}", m.index), gib2(bytes_to_gib(m.total_bytes)),
                           gib2(bytes_to_gib(m.used_bytes)), gib2(bytes_to_gib(m.free_bytes)), "", "", "", "", "",
                           m.uuid});
        }
    }
    out << table.render();
    if (capacities) {
        out << "reserved: outstanding whisper-vram reservations (ledger); admittable: what `run` would reserve now\n"
               "(free less reservations not yet in use).\n";
    }
    for (const auto& v : visible) {
        const auto& g = v.device;
        if (!g.state_detail.empty()) out << fmt::format("GPU {}: {}\n", v.cuda_index, g.state_detail);
        for (const auto& p : g.processes) {
            out << fmt::format("GPU {}: pid {} {} {}\n", v.cuda_index, p.pid, p.name.empty() ? "?" : p.name,
                               p.used_bytes ? gib2(bytes_to_gib(*p.used_bytes)) + " GiB" : "memory not reported");
        }
    }
}

exit_status run_gpus(const gpus_options& o, const context& c) {
    const gpu_manager manager = make_manager(c, o.simulate);
    const gpu_snapshot snapshot = manager.get_gpu_memory_info();
    // No driver / NVML unusable: GPU information is unavailable (exit 3, one line on stderr).
    if (!snapshot.available()) throw gpu_unavailable_error(one_line(snapshot.unavailable_reason));
    const auto& cuda_visible_devices = c.env.cuda_visible_devices;
    const auto visible = visible_gpus(snapshot, cuda_visible_devices);
    const auto capacities = ledger_view(manager, visible, c);
    if (o.json) {
        nlohmann::ordered_json j;
        j["source"] = std::string(to_string(snapshot.source));
        j["cuda_visible_devices"] =
            cuda_visible_devices ? nlohmann::ordered_json(*cuda_visible_devices) : nlohmann::ordered_json();
        j["gpu_count"] = snapshot.gpus.size();
        nlohmann::ordered_json gpus = nlohmann::ordered_json::array();
        for (std::size_t i = 0; i < visible.size(); ++i) {
            if (capacities) {
                gpus.push_back(to_json(visible[i], (*capacities)[i]));
            } else {
                auto g = to_json(visible[i]);
                for (const char* key :
                     {"ledger_reserved", "ledger_reserved_bytes", "admittable", "admittable_bytes", "reservations"}) {
                    g[key] = nullptr;
                }
                gpus.push_back(std::move(g));
            }
        }
        j["gpus"] = std::move(gpus);
        print_json(c.out, j);
    } else {
        print_table(c.out, snapshot, visible, cuda_visible_devices, capacities);
    }
    return exit_status::ok;
}

}  // namespace

void setup_gpus(CLI::App& app, command_action& action) {
    const auto [command, options] =
        add_command(app, action, "gpus", "GPUs with free/used memory, as CUDA programs number them", run_gpus);
    add_simulate_option(*command, options->simulate);
    command->add_flag(
        "--json", options->json,
        "print {source, cuda_visible_devices, gpu_count, gpus:[… ledger_reserved_bytes, admittable_bytes]}");
    add_footer(
        *command,
        "Indices are CUDA indices (CUDA_VISIBLE_DEVICES applied); 'nvml' is NVML's index (nvidia-smi's).\n"
        "reserved: outstanding whisper-vram reservations (the ledger in WHISPER_VRAM_STATE_DIR); admittable: what\n"
        "`run` would reserve now (free less reservations not yet in use), what check and recommend plan on.\n"
        "Exit status 3 with a one-line reason when no NVIDIA driver/NVML is usable.",
        {"whisper-vram gpus", "whisper-vram gpus --json", "whisper-vram gpus --simulate \"RTX 3090:used=2GiB,8GiB\""});
}

}  // namespace whisper_vram::cli
