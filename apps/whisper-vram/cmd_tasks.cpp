// whisper-vram tasks: the live reservations (and waiting requests) in the ledger; `tasks release ID`
// drops one.

#include <fmt/format.h>
#include <charconv>

#include "commands.hpp"
#include "whisper_vram/core/text_escape.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/sched/ledger.hpp"

namespace whisper_vram::cli {
namespace {

struct tasks_options {
    bool json = false;
    bool release = false;  ///< `tasks release ID`
    std::string release_id;
};

// A reservation id: decimal digits only (no sign, no hex, no blanks), 1 … 2^64 − 1.
std::uint64_t parse_reservation_id(const std::string& text) {
    std::uint64_t id = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size() || id == 0) {
        throw usage_error(
            fmt::format("tasks release: '{}' is not a reservation id; give the decimal id that "
                        "`whisper-vram tasks` lists (a positive integer)",
                        text));
    }
    return id;
}

exit_status run_release(const tasks_options& o, const context& c) {
    const auto id = parse_reservation_id(o.release_id);
    const auto dir = state_dir(c.env);
    file_ledger ledger(dir, nullptr, warnings_to(c));
    const auto dropped = release_reservation(ledger, id);
    if (!dropped) {
        throw usage_error(
            fmt::format("tasks release: no reservation has id {} in '{}'; see `whisper-vram tasks` for "
                        "the ids",
                        id, ledger.path().string()));
    }
    if (o.json) {
        print_json(c.out, {{"released", to_json(*dropped)}, {"state_dir", dir.string()}});
        return exit_status::ok;
    }
    c.out << fmt::format("released reservation {} ({} on GPU {}, pid {}, {})\n", dropped->id,
                         gib2(bytes_to_gib(dropped->bytes)) + " GiB", dropped->gpu_index, dropped->holder.pid,
                         escape_for_terminal(dropped->model));
    return exit_status::ok;
}

exit_status run_tasks(const tasks_options& o, const context& c) {
    if (o.release) return run_release(o, c);
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
        text_table table({"id", "pid", "gpu", "uuid", "model", "GiB", "since (UTC)", "child"});
        for (const auto& r : state.reservations) {
            table.add_row({std::to_string(r.id), std::to_string(r.holder.pid), std::to_string(r.gpu_index),
                           escape_for_terminal(r.gpu_uuid), escape_for_terminal(r.model), gib2(bytes_to_gib(r.bytes)),
                           format_utc_iso8601(r.since_ms), r.child_pid != 0 ? std::to_string(r.child_pid) : "-"});
        }
        c.out << table.render();
    }
    if (!state.waiters.empty()) {
        c.out << "waiting (first in, first served):\n";
        text_table table({"pid", "model", "GiB", "since (UTC)", "gpus"});
        for (const auto& w : state.waiters) {
            std::string gpus;
            for (const auto& g : w.gpu_uuids) gpus += (gpus.empty() ? "" : ",") + escape_for_terminal(g);
            table.add_row({std::to_string(w.holder.pid), escape_for_terminal(w.model), gib2(bytes_to_gib(w.bytes)),
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
                      R"(print {"tasks": [{id, pid, gpu, model, bytes, since, ...}], "waiting": [...]})");
    auto* release = command->add_subcommand("release", "drop one reservation by its id (see `whisper-vram tasks`)");
    release->add_option("id", options->release_id, "the reservation's id")->required();
    release->add_flag("--json", options->json, R"(print {"released": {id, pid, gpu, model, bytes, ...}})");
    // Runs before the parent's callback (CLI11 runs children first), which then picks run_tasks.
    release->callback([opts = options] { opts->release = true; });
    add_footer(*release,
               "Drops the reservation whoever holds it: whoever may write the state folder may change every record\n"
               "in it (the folder's permissions are the trust boundary). Frees no GPU memory the job allocated; it\n"
               "only lets other jobs be admitted. Exit 2 when no reservation has that id.",
               {"whisper-vram tasks release 7", "whisper-vram tasks release 7 --json"});
    add_footer(*command,
               "Dead holders' reservations are dropped on every access. Ledger: WHISPER_VRAM_STATE_DIR, else\n"
               "$XDG_RUNTIME_DIR/whisper-vram, else /tmp/whisper-vram-$UID.",
               {"whisper-vram tasks", "whisper-vram tasks --json", "whisper-vram tasks release 7"});
}

}  // namespace whisper_vram::cli
