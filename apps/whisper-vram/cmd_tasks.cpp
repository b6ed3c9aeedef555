// whisper-vram tasks: the live reservations (and waiting requests) in the ledger.

#include <fmt/format.h>

#include "commands.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/sched/ledger.hpp"

namespace whisper_vram::cli {
namespace {

struct tasks_options {
    bool json = false;
};

exit_status run_tasks(const tasks_options& o, const context& c) {
    const auto dir = state_dir(c.env);
    file_ledger ledger(dir, nullptr, warnings_to(c));
    const auto state = ledger.read();
    if (o.json) {
        nlohmann::ordered_json tasks = nlohmann::ordered_json::array();
        for (const auto& r : state.reservations) tasks.push_back(to_json(r));
        nlohmann::ordered_json waiting = nlohmann::ordered_json::array();
        for (const auto& w : state.waiters) waiting.push_back(to_json(w));
        print_json(c.out, {{"tasks", tasks}, {"waiting", waiting}, {"state_dir", dir.string()}});
        return exit_status::ok;
    }
    if (state.reservations.empty()) {
        c.out << fmt::format("no reservations ({})\n", (dir / "ledger").string());
    } else {
        text_table table({"pid", "gpu", "uuid", "model", "GiB", "since (UTC)", "child"});
        for (const auto& r : state.reservations) {
            table.add_row({std::to_string(r.holder.pid), std::to_string(r.gpu_index), r.gpu_uuid, r.model,
                           gib2(bytes_to_gib(r.bytes)), format_utc_iso8601(r.since_ms),
                           r.child_pid != 0 ? std::to_string(r.child_pid) : "-"});
        }
        c.out << table.render();
    }
    if (!state.waiters.empty()) {
        c.out << "waiting (first in, first served):\n";
        text_table table({"pid", "model", "GiB", "since (UTC)", "gpus"});
        for (const auto& w : state.waiters) {
            std::string gpus;
            for (const auto& g : w.gpu_uuids) gpus += (gpus.empty() ? "" : ",") + g;
            table.add_row({std::to_string(w.holder.pid), w.model, gib2(bytes_to_gib(w.bytes)),
                           format_utc_iso8601(w.since_ms), gpus});
        }
        c.out << table.render();
    }
    return exit_status::ok;
}

}  // namespace

void setup_tasks(CLI::App& app, command_action& action) {
    const auto [command, options] = add_command(
        app, action, "tasks", "live GPU memory reservations (whisper-vram run jobs and library leases)", run_tasks);
    command->add_flag("--json", options->json,
                      R"(print {"tasks": [{pid, gpu, model, bytes, since, ...}], "waiting": [...]})");
    add_footer(*command,
               "Dead holders' reservations are dropped on every access. Ledger: WHISPER_VRAM_STATE_DIR, else\n"
               "$XDG_RUNTIME_DIR/whisper-vram, else /tmp/whisper-vram-$UID.",
               {"whisper-vram tasks", "whisper-vram tasks --json"});
}

}  // namespace whisper_vram::cli
