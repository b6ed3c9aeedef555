// whisper-vram measure: runs a job as `run` does (job_runner.hpp) and reports what it really used
// on the GPU — per GPU its peak (the job's process tree, else the device's used memory above the
// baseline), when, and beside it the estimate of the declared configuration with the error in % —
// then appends one record to the measurement history.
//
// Exit status: the job's (128+N when killed by signal N, 127 when it cannot be executed), unless
// measure failed before starting it: 2 usage error, 3 GPU information unavailable, and with
// --reserve 1 never fits / 124 timed out waiting.

#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "commands.hpp"
#include "job_runner.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/text_escape.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/gpu/gpu_selection.hpp"
#include "whisper_vram/gpu/memory_sampler.hpp"
#include "whisper_vram/json/json.hpp"

namespace whisper_vram::cli {
namespace {

struct measure_options {
    std::optional<std::string> model;
    estimate_options estimate;
    std::optional<std::string> gpus;
    std::string interval = "50";
    std::optional<std::string> out;
    bool json = false;
    bool reserve = false;
    std::optional<std::string> timeout;
    std::optional<std::string> kill_grace;
    std::optional<std::string> simulate;
    std::vector<std::string> command;
};

std::chrono::milliseconds parse_interval(const std::string& text) {
    int value = 0;
    const auto* first = text.data();
    const auto* last = first + text.size();
    const auto [ptr, ec] = std::from_chars(first, last, value);
    if (text.empty() || ec != std::errc{} || ptr != last || value < min_sample_interval.count() ||
        value > max_sample_interval.count()) {
        throw usage_error(fmt::format("--interval-ms '{}' is invalid: whole milliseconds from {} to {}, e.g. 50",
                                      escape_for_terminal(text), min_sample_interval.count(),
                                      max_sample_interval.count()));
    }
    return std::chrono::milliseconds(value);
}

// (estimate − measured) / measured, in %: positive when the estimate is above what was used.
std::optional<double> error_percent(const memory_estimate& e, std::uint64_t peak) {
    if (peak == 0) return std::nullopt;
    return (static_cast<double>(e.total_required_bytes) - static_cast<double>(peak)) / static_cast<double>(peak) *
           100.0;
}

std::string seconds(std::chrono::milliseconds ms) {
    return fmt::format("{:.2f} s", static_cast<double>(ms.count()) / 1000.0);
}

exit_status run_measure(const measure_options& o, const context& c) {
    if (o.command.empty()) {
        throw usage_error(
            "measure: no COMMAND given; usage: whisper-vram measure [--model M] [options] -- COMMAND [ARGS...]");
    }
    if (o.gpus && o.gpus->find_first_not_of(" \t") == std::string::npos) (void)split_list(*o.gpus, "--gpus");
    if (o.reserve && !o.model) throw usage_error("measure: --reserve needs --model (the reservation is its estimate)");
    if (!o.reserve && o.timeout) throw usage_error("measure: --timeout is the wait for --reserve; give --reserve too");
    const auto interval = parse_interval(o.interval);
    std::optional<estimate_request> job;
    std::optional<memory_estimate> declared;
    if (o.model) {
        job = to_request(o.estimate, *o.model);
        declared = estimate(*job);
    }
    const auto grace = o.kill_grace ? parse_seconds(*o.kill_grace, "--kill-grace") : std::chrono::milliseconds(5000);
    const std::string history = history_path(o.out, c.env);
    auto manager = make_manager(c, o.simulate, o.reserve ? ledger_use::state_folder : ledger_use::none);
    const gpu_snapshot snapshot = manager.get_gpu_memory_info();
    if (!snapshot.available()) {
        std::string reason = snapshot.unavailable_reason;
        for (char& ch : reason) {
            if (ch == '\n') ch = ' ';
        }
        throw gpu_unavailable_error("measure: GPU information is unavailable: " + reason);
    }
    const auto selected = select_gpus(visible_gpus(snapshot, c.env.cuda_visible_devices), o.gpus.value_or(""));
    std::vector<unsigned> indices;
    indices.reserve(selected.size());
    for (const auto& g : selected) indices.push_back(g.device.index);

    install_forwarding_handlers();
    job_spec spec;
    spec.command = o.command;
    spec.subcommand = "measure";
    spec.grace = grace;
    lease held;
    if (o.reserve) {
        reserve_request request = manager.sized_reserve_request(*job, o.gpus.value_or(""));
        if (o.timeout) request.timeout = parse_seconds(*o.timeout, "--timeout");
        auto result = wait_for_reservation(manager.get_scheduler(), request, c.err);
        if (result.status != reserve_status::granted) return refused_reservation(result, c.err, "measure");
        held = std::move(result.granted_lease);
        const auto& info = held.info();
        indices = {info.gpu_index};
        spec.held = &held;
        spec.environment = {{"CUDA_VISIBLE_DEVICES", info.gpu_uuid},
                            {"WHISPER_VRAM_GPU", info.gpu_uuid},
                            {"WHISPER_VRAM_GPU_INDEX", std::to_string(info.gpu_index)},
                            {"WHISPER_VRAM_RESERVED_BYTES", std::to_string(info.bytes)}};
    }
    memory_sampler sampler(manager.probe(), indices, interval);
    std::optional<measurement_report> report;
    const std::string started_at = rfc3339_now();
    (void)sampler.take_baseline();
    spec.on_started = [&](pid_t pgid) { sampler.start(pgid); };
    spec.on_leader_exited = [&] { report = sampler.stop(); };
    const job_result ran = run_in_group(spec, c);
    if (!report) report = sampler.stop();

    // The record: the GPU the job used most (the first when it used none).
    const gpu_measurement* used = nullptr;
    for (const auto& g : report->gpus) {
        if (used == nullptr || g.peak_bytes > used->peak_bytes) used = &g;
    }
    std::optional<std::string> recorded;
    std::string not_recorded;
    if (ran.end == run_end::cannot_execute) {
        not_recorded = "the command could not be executed";
    } else if (!declared) {
        not_recorded = "no --model: a record needs the configuration (engine, model, precision, batch)";
    } else if (used == nullptr) {
        not_recorded = "no GPU was sampled";
    } else {
        record_inputs in;
        in.estimate = &*declared;
        in.cuda_module_loading = job->cuda_module_loading;
        in.gpu = used;
        in.duration = ran.ran;
        in.exit_status = to_int(ran.status);
        in.time = started_at;
        try {
            append_record(history, in);
            recorded = history;
        } catch (const std::exception& ex) {
            not_recorded = ex.what();
        }
    }

    if (o.json) {
        nlohmann::ordered_json j;
        j["command"] = o.command;
        j["outcome"] = std::string(to_string(ran.end));
        j["exit_status"] = to_int(ran.status);
        j["measurement"] = to_json(*report);
        j["estimate"] = declared ? to_json(*declared) : nlohmann::ordered_json(nullptr);
        nlohmann::ordered_json errors = nlohmann::ordered_json::array();
        for (const auto& g : report->gpus) {
            const auto e = declared ? error_percent(*declared, g.peak_bytes) : std::nullopt;
            errors.push_back({{"index", g.index}, {"error_percent", e ? nlohmann::ordered_json(*e) : nullptr}});
        }
        j["errors"] = errors;
        j["record_path"] = recorded ? nlohmann::ordered_json(*recorded) : nlohmann::ordered_json(nullptr);
        j["not_recorded"] = not_recorded;
        print_json(c.out, j);
    } else {
        text_table table({"GPU", "name", "method", "baseline GiB", "peak GiB", "peak at", "estimate GiB", "error"});
        for (const auto& g : report->gpus) {
            const auto e = declared ? error_percent(*declared, g.peak_bytes) : std::nullopt;
            table.add_row({std::to_string(g.index), g.name, std::string(to_string(g.method)),
                           gib2(bytes_to_gib(g.baseline_bytes)), gib2(bytes_to_gib(g.peak_bytes)), seconds(g.peak_at),
                           declared ? gib2(bytes_to_gib(declared->total_required_bytes)) : "-",
                           e ? fmt::format("{:+.1f}%", *e) : "-"});
        }
        c.out << table.render();
        c.out << fmt::format("job: {} (exit status {}), ran {}; {} samples every {} ms, {} missed\n",
                             to_string(ran.end), to_int(ran.status), seconds(ran.ran), report->samples,
                             report->interval.count(), report->misses);
        for (const auto& g : report->gpus) {
            for (const auto& n : g.notes) c.out << fmt::format("note: GPU {}: {}\n", g.index, n);
        }
        if (declared) {
            c.out << fmt::format(
                "estimate ({}, {}, batch {}, engine {}): total {} (recommended {} with the margin); "
                "error = (estimate - peak) / peak\n",
                declared->request.model, declared->request.precision, declared->request.batch_size,
                declared->request.engine, format_gib(declared->total_required_bytes),
                format_gib(declared->recommended_bytes));
        }
        if (recorded) c.out << "recorded in " << escape_for_terminal(*recorded) << '\n';
    }
    if (!not_recorded.empty() && ran.end != run_end::cannot_execute) {
        c.err << "whisper-vram measure: no record written: " << escape_for_terminal(not_recorded) << '\n';
    }
    return ran.status;
}

}  // namespace

void setup_measure(CLI::App& app, command_action& action) {
    const auto [command, options] =
        add_command(app, action, "measure", "run a job and measure its real GPU memory peak (NVML)", run_measure);
    command->add_option("--model", options->model, "the job's model: its estimate is shown beside the peak");
    add_estimate_options(*command, options->estimate);
    command->add_option("--gpus", options->gpus, "GPUs to sample: CUDA indices, UUIDs or PCI ids (default: all)");
    command->add_option("--interval-ms", options->interval, "sampling interval in ms, 10 to 10000 (default 50)");
    command->add_option(
        "--out", options->out,
        "append the record to this JSON-lines history (default: measurements.jsonl in the state folder)");
    command->add_flag("--json", options->json, "print the measurement as JSON");
    command->add_flag("--reserve", options->reserve,
                      "reserve the estimate's memory first, as run does (the job then runs on the GPU granted)");
    command->add_option("--timeout", options->timeout, "with --reserve: give up after SECONDS of waiting (exit 124)");
    command->add_option("--kill-grace", options->kill_grace,
                        "SECONDS between SIGTERM and SIGKILL when the job's process group is ended (default 5)");
    add_simulate_option(*command, options->simulate);
    command->add_option("command", options->command, "the job: COMMAND [ARGS...], after --");
    add_footer(*command,
               "The job runs as with `run` (process group, signals forwarded, stderr passed through). The peak\n"
               "is the sum of NVML's per-process memory over the job's process tree (method process_tree), or,\n"
               "where per-process figures are not visible, the device's used memory above the baseline taken\n"
               "just before the start (device_delta). Error = (estimate total - peak) / peak.\n"
               "Exit status: the job's; 2 usage error; 3 GPU information unavailable.",
               {"whisper-vram measure --model large-v3 --engine faster-whisper -- python transcribe.py a.wav",
                "whisper-vram measure --model small --gpus 0 --interval-ms 20 --out runs.jsonl --json -- ./job.sh"});
}

}  // namespace whisper_vram::cli
