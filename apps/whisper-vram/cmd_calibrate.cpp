// whisper-vram calibrate: fits corrections of the engine estimates on measured runs, shows every
// record's error before and after and the held-out error, and writes a calibration profile.

#include <fmt/format.h>

#include "commands.hpp"
#include "whisper_vram/core/calibration.hpp"
#include "whisper_vram/core/text_escape.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/facade/calibration_file.hpp"
#include "whisper_vram/json/json.hpp"

namespace whisper_vram::cli {
namespace {

struct calibrate_options {
    std::vector<std::string> files;
    std::optional<std::string> out;
    bool json = false;
};

std::string pct(double value) { return fmt::format("{:+.1f}%", value); }

std::string held_text(const std::optional<double>& value, bool mean) {
    if (!value) return "n/a: one record";
    return mean ? fmt::format("{:.1f}%", *value) : pct(*value);
}

exit_status run_calibrate(const calibrate_options& o, const context& c) {
    // Every file is read and every record checked before anything is written.
    std::vector<located_record> records;
    for (const auto& file : o.files) {
        auto more = read_history_file(file);
        records.insert(records.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    }
    if (records.empty()) {
        throw usage_error(
            fmt::format("no records in {}: allowed: JSON Lines files with at least one measurement record",
                        escape_for_terminal(fmt::format("{}", fmt::join(o.files, ", ")))));
    }
    const calibration_profile profile = fit_calibration(records);
    const std::filesystem::path out =
        o.out ? std::filesystem::path(*o.out) : state_dir_from(c.env) / default_calibration_file_name;
    const auto document = to_json(profile);
    write_calibration_profile(out, document.dump(2) + "\n");

    if (o.json) {
        auto j = document;
        j["written_to"] = out.string();
        print_json(c.out, j);
        return exit_status::ok;
    }
    c.out << fmt::format("calibrate: {} record{} from {} file{}\n", records.size(), records.size() == 1 ? "" : "s",
                         o.files.size(), o.files.size() == 1 ? "" : "s");
    c.out << fmt::format("rule: {}\n\n", calibration_rule_text());
    text_table table({"record", "engine", "model", "precision", "batch", "beam", "gpu", "measured GiB", "estimate GiB",
                      "error", "calibrated GiB", "error", "held-out"});
    for (const auto& r : profile.records) {
        table.add_row({escape_for_terminal(fmt::format("{}:{}", r.file, r.line)), r.engine,
                       escape_for_terminal(r.model), escape_for_terminal(r.precision), std::to_string(r.batch_size),
                       std::to_string(r.beam_size), escape_for_terminal(r.gpu_name), gib2(bytes_to_gib(r.peak_bytes)),
                       gib2(bytes_to_gib(r.estimate_bytes)), pct(r.error_before_pct),
                       gib2(bytes_to_gib(r.calibrated_bytes)), pct(r.error_after_pct),
                       held_text(r.held_out_error_pct, false)});
    }
    c.out << table.render() << "\n";
    for (const auto& g : profile.groups) {
        c.out << fmt::format(
            "{}: {} from {} run{}: calibrated = {:.4f} x estimate {:+.3f} GiB, safety lift {:.3f} GiB; estimates "
            "covered {:.2f}-{:.2f} GiB; held-out error {}\n",
            g.label(), to_string(g.kind), g.runs, g.runs == 1 ? "" : "s", g.factor,
            g.offset_bytes / static_cast<double>(bytes_per_gib),
            g.safety_lift_bytes / static_cast<double>(bytes_per_gib), bytes_to_gib(g.min_estimate_bytes),
            bytes_to_gib(g.max_estimate_bytes), held_text(g.held_out_error_pct, true));
    }
    c.out << fmt::format(
        "\nprofile written to {}; estimates use it with --calibration {} (or WHISPER_VRAM_CALIBRATION; the state "
        "folder's {} is used by default). The guide's formula is never calibrated.\n",
        escape_for_terminal(out.string()), escape_for_terminal(out.string()), default_calibration_file_name);
    return exit_status::ok;
}

}  // namespace

void setup_calibrate(CLI::App& app, command_action& action) {
    const auto [command, options] =
        add_command(app, action, "calibrate",
                    "fit corrections of the engine estimates on measured runs (measurement records) and write a "
                    "calibration profile",
                    run_calibrate);
    command->add_option("files", options->files, "measurement history files (JSON Lines, one record a line)")
        ->required();
    command->add_option("--out", options->out,
                        "profile to write (default: calibration.json in the state folder, which estimates use by "
                        "default); never replaces a file that is not a calibration profile");
    command->add_flag("--json", options->json, "print the profile as JSON (with written_to)");
    add_footer(*command, "Nothing is written when a record is bad (exit 2 with file:line, field and what is allowed).",
               {"whisper-vram calibrate measurements.jsonl --out profile.json",
                "whisper-vram calc --engine faster-whisper --model large-v3 --calibration profile.json"});
}

}  // namespace whisper_vram::cli
