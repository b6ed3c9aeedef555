// whisper-vram debug: the guide's get_cuda_debug_info. A report: it exits 0 whatever it finds,
// also without a GPU or a driver (only bad input, e.g. a malformed --simulate, is exit 2).

#include <fmt/format.h>

#include "commands.hpp"
#include "process_group.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/text_escape.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/gpu/cuda_debug.hpp"

namespace whisper_vram::cli {
namespace {

struct debug_options {
    std::optional<std::string> simulate;
    bool json = false;
};

std::string or_unset(const std::optional<std::string>& value) {
    return value ? fmt::format("'{}'", escape_for_terminal(*value)) : "(unset)";
}

void print_report(std::ostream& out, const cuda_debug_info& info) {
    out << fmt::format("source: {}\n", to_string(info.source));
    if (info.source == probe_source::simulated) {
        out << "NVML: not consulted (simulated GPUs)\n";
    } else {
        out << fmt::format("NVML: {}{}\n", to_string(info.nvml),
                           info.nvml_error.empty() ? "" : " - " + escape_for_terminal(info.nvml_error));
        for (const auto& a : info.library_attempts) {
            out << fmt::format("  tried {}: {}\n", escape_for_terminal(a.path),
                               a.loaded ? "loaded" : escape_for_terminal(a.error));
        }
        if (info.loaded_library_file) {
            out << fmt::format("  library file: {}{}\n", escape_for_terminal(*info.loaded_library_file),
                               info.stub_library ? " (toolkit stub?)" : "");
        }
        if (info.init_return) {
            out << fmt::format("  init: {} -> {} ({})\n", info.init_symbol, nvml_return_name(*info.init_return),
                               nvml_return_text(*info.init_return));
        }
        const auto& s = info.system;
        out << fmt::format("driver version: {}\n",
                           s.driver_version.value_or(s.driver_version_error.empty() ? "-" : s.driver_version_error));
        out << fmt::format("NVML version: {}\n",
                           s.nvml_version.value_or(s.nvml_version_error.empty() ? "-" : s.nvml_version_error));
        if (s.cuda_driver_version) {
            out << fmt::format("CUDA driver version: {}.{} ({})\n", *s.cuda_driver_version / 1000,
                               (*s.cuda_driver_version % 1000) / 10, s.cuda_driver_version_symbol);
        } else {
            out << fmt::format("CUDA driver version: {}\n",
                               s.cuda_driver_version_error.empty() ? "-" : s.cuda_driver_version_error);
        }
    }
    out << fmt::format("CUDA_VISIBLE_DEVICES: {}\n", or_unset(info.environment.cuda_visible_devices));
    out << fmt::format("CUDA_DEVICE_ORDER: {}\n", or_unset(info.environment.cuda_device_order));
    out << fmt::format("WHISPER_VRAM_NVML_LIBRARY: {}\n", or_unset(info.environment.nvml_library));
    out << fmt::format("GPUs: {} ({} visible to CUDA programs)\n", info.snapshot.gpus.size(), info.visible.size());
    if (!info.snapshot.gpus.empty()) {
        text_table table(
            {"nvml", "cuda", "name", "uuid", "pci bus id", "total GiB", "free GiB", "cc", "mig", "processes", "state"});
        for (const auto& g : info.snapshot.gpus) {
            std::string cuda = "-";
            for (const auto& v : info.visible) {
                if (v.device.index == g.index) cuda = std::to_string(v.cuda_index);
            }
            table.add_row(
                {std::to_string(g.index), cuda, g.name, g.uuid, g.pci_bus_id, gib2(bytes_to_gib(g.total_bytes)),
                 gib2(bytes_to_gib(g.free_bytes)),
                 g.capability ? fmt::format("{}.{}", g.capability->major, g.capability->minor) : "-",
                 g.mig_enabled ? (*g.mig_enabled ? fmt::format("on ({})", g.mig_devices.size()) : "off") : "-",
                 g.processes_known ? std::to_string(g.processes.size()) : "?", std::string(to_string(g.state))});
        }
        out << table.render();
    }
    for (const auto& note : info.notes) out << fmt::format("note: {}\n", escape_for_terminal(note));
}

exit_status run_debug(const debug_options& o, const context& c) {
    // A report exits 0 whatever the environment holds: a bad WHISPER_VRAM_SIMULATE becomes a note
    // (the report then describes NVML); only a bad --simulate on the command line is exit 2.
    std::optional<std::string> ignored;
    std::optional<gpu_manager> manager;
    try {
        manager.emplace(make_manager(c, o.simulate));
    } catch (const usage_error& e) {
        if (o.simulate || !c.env.simulate) throw;
        environment without = c.env;
        without.simulate.reset();
        manager.emplace(make_manager(context{c.out, c.err, without}, std::nullopt));
        ignored = e.what();
    }
    cuda_debug_info info = manager->get_cuda_debug_info(
        debug_environment{c.env.nvml_library, c.env.cuda_visible_devices, c.env.cuda_device_order});
    if (ignored) info.notes.push_back(escape_invalid_utf8(*ignored + "; this report ignores it"));
    info.notes.push_back(escape_invalid_utf8(cgroup_availability()));
    if (o.json) {
        print_json(c.out, to_json(info));
    } else {
        print_report(c.out, info);
    }
    return exit_status::ok;  // a report: finding no driver is an answer, not a failure
}

}  // namespace

void setup_debug(CLI::App& app, command_action& action) {
    const auto [command, options] = add_command(
        app, action, "debug", "CUDA/NVML debug report: library, versions, environment, GPUs (exit 0)", run_debug);
    add_simulate_option(*command, options->simulate);
    command->add_flag("--json", options->json, "print the report as one JSON object (the guide's get_cuda_debug_info)");
    add_footer(*command, "Always exits 0: a missing driver, a toolkit stub or a lost GPU is part of the report.",
               {"whisper-vram debug", "whisper-vram debug --json",
                "WHISPER_VRAM_NVML_LIBRARY=/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1 whisper-vram debug"});
}

}  // namespace whisper_vram::cli
