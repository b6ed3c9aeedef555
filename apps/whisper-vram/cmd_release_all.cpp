// whisper-vram release-all: the guide's release_all_memory for the ledger — drops every reservation.
// Exit 0 when dropped (or none), 1 when live holders hold reservations and --force was not given
// (nothing dropped; an expected condition, reported like "does not fit", not a usage mistake).

#include <fmt/format.h>

#include "commands.hpp"
#include "whisper_vram/core/text_escape.hpp"
#include "whisper_vram/core/units.hpp"

namespace whisper_vram::cli {
namespace {

struct release_all_options {
    bool force = false;
    bool json = false;
};

exit_status run_release_all(const release_all_options& o, const context& c) {
    auto manager = make_manager(c, std::nullopt, ledger_use::state_folder);
    const auto report = manager.get_scheduler().release_all_reservations(o.force);
    if (o.json) {
        print_json(c.out, to_json(report));
        return report.refused ? exit_status::does_not_fit : exit_status::ok;
    }
    const auto list = [&c](const std::vector<reservation_record>& records) {
        text_table table({"pid", "gpu", "model", "GiB", "since (UTC)"});
        for (const auto& r : records) {
            table.add_row({std::to_string(r.holder.pid), std::to_string(r.gpu_index), escape_for_terminal(r.model),
                           gib2(bytes_to_gib(r.bytes)), format_utc_iso8601(r.since_ms)});
        }
        c.out << table.render();
    };
    if (!report.reaped.empty()) {
        c.out << fmt::format("reaped {} reservation(s) of dead holders:\n", report.reaped.size());
        list(report.reaped);
    }
    if (report.refused) {
        std::uint64_t bytes = 0;
        for (const auto& r : report.live) bytes += r.bytes;
        c.out << fmt::format("{} reservation(s) of live holders would be dropped ({}):\n", report.live.size(),
                             format_gib(bytes));
        list(report.live);
        c.err << "whisper-vram release-all: holders are still alive; nothing dropped (use --force to drop their "
                 "reservations; their processes keep running and keep their memory)\n";
        return exit_status::does_not_fit;
    }
    c.out << fmt::format("dropped {} reservation(s) ({})\n", report.dropped.size(), format_gib(report.dropped_bytes()));
    if (!report.dropped.empty()) list(report.dropped);
    return exit_status::ok;
}

}  // namespace

void setup_release_all(CLI::App& app, command_action& action) {
    const auto [command, options] =
        add_command(app, action, "release-all", "drop every GPU memory reservation in the ledger (release_all_memory)",
                    run_release_all);
    command->add_flag("--force", options->force, "also drop reservations whose holders are still running");
    command->add_flag("--json", options->json, "print the report as JSON");
    add_footer(
        *command,
        "Reservations are bookkeeping: dropping one frees no GPU memory a running job has allocated; it only\n"
        "lets other jobs be admitted. Without --force, exits 1 and lists what would be dropped when holders are alive.",
        {"whisper-vram release-all", "whisper-vram release-all --force --json"});
}

}  // namespace whisper_vram::cli
