// whisper-vram release-all: the guide's release_all_memory for the ledger — drops every reservation.
// Exit 0 when dropped (or none), 1 when live holders hold reservations and --force was not given
// (nothing dropped; an expected condition, reported like "does not fit", not a usage mistake).

#include <fmt/format.h>
#include <iostream>

#include "commands.hpp"
#include "whisper_vram/core/units.hpp"

namespace whisper_vram::cli {
namespace {

struct release_all_options {
    bool force = false;
    bool json = false;
};

int run_release_all(const release_all_options& o) {
    auto manager = make_manager(std::nullopt);
    const auto report = manager.get_scheduler().release_all_reservations(o.force);
    if (o.json) {
        print_json(to_json(report));
        return report.refused ? 1 : 0;
    }
    const auto list = [](const std::vector<reservation_record>& records) {
        text_table table({"pid", "gpu", "model", "GiB", "since (UTC)"});
        for (const auto& r : records) {
            table.add_row({std::to_string(r.holder.pid), std::to_string(r.gpu_index), r.model,
                           gib2(bytes_to_gib(r.bytes)), format_utc_iso8601(r.since_ms)});
        }
        std::cout << table.render();
    };
    if (!report.reaped.empty()) {
        fmt::print("reaped {} reservation(s) of dead holders:\n", report.reaped.size());
        list(report.reaped);
    }
    if (report.refused) {
        std::uint64_t bytes = 0;
        for (const auto& r : report.live) bytes += r.bytes;
        fmt::print("{} reservation(s) of live holders would be dropped ({}):\n", report.live.size(), format_gib(bytes));
        list(report.live);
        std::cerr << "whisper-vram release-all: holders are still alive; nothing dropped (use --force to drop their "
                     "reservations; their processes keep running and keep their memory)\n";
        return 1;
    }
    fmt::print("dropped {} reservation(s) ({})\n", report.dropped.size(), format_gib(report.dropped_bytes()));
    if (!report.dropped.empty()) list(report.dropped);
    return 0;
}

}  // namespace

void setup_release_all(CLI::App& app, command_action& action) {
    auto options = std::make_shared<release_all_options>();
    auto* command =
        app.add_subcommand("release-all", "drop every GPU memory reservation in the ledger (release_all_memory)");
    command->add_flag("--force", options->force, "also drop reservations whose holders are still running");
    command->add_flag("--json", options->json, "print the report as JSON");
    command->footer(
        "Reservations are bookkeeping: dropping one frees no GPU memory a running job has allocated; it only\n"
        "lets other jobs be admitted. Without --force, exits 1 and lists what would be dropped when holders are "
        "alive.\n"
        "Examples:\n"
        "  whisper-vram release-all\n"
        "  whisper-vram release-all --force --json");
    command->callback([options, &action] { action = [options] { return run_release_all(*options); }; });
}

}  // namespace whisper_vram::cli
