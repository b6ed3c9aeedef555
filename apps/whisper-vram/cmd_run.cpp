// whisper-vram run: waits until a job's memory can be reserved, then runs the job on that GPU.
//
// Exit statuses: the child's own exit status; 128+N when the child was killed by signal N;
// 124 timed out waiting; 127 COMMAND could not be executed; 1 the job can never fit on any listed
// GPU; 2 usage error (including no COMMAND); 3 GPU information unavailable; 128+N when run itself
// was interrupted by signal N while waiting.
//
// The child gets CUDA_VISIBLE_DEVICES=<GPU UUID>: a UUID names the same GPU whatever the child's
// CUDA_DEVICE_ORDER (CUDA's default FASTEST_FIRST order is not NVML's PCI order, so an index could
// name another GPU) and whatever CUDA_VISIBLE_DEVICES run itself was started with (an index would be
// relative to it). Inside the child the GPU is then cuda:0.
//
// The job runs as job_runner.hpp says (process group, guardian, forwarded signals, its stderr
// passed through while a tail is kept). While it runs, a sampler reads the GPU's per-process memory
// (memory_sampler.hpp): when the job's peak exceeded its reservation, run warns (stderr and the
// JSON outcome); with --record it appends a record to the measurement history. When the job fails
// and its stderr's tail shows a CUDA out-of-memory error, run prints re-plan advice (replan.hpp).

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <iostream>

#include "commands.hpp"
#include "job_runner.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/text_escape.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/facade/run_outcome.hpp"
#include "whisper_vram/gpu/memory_sampler.hpp"
#include "whisper_vram/json/json.hpp"
#include "whisper_vram/planner/planner.hpp"
#include "whisper_vram/planner/replan.hpp"
#include "whisper_vram/planner/slurm.hpp"
#include "whisper_vram/sched/scheduler.hpp"

namespace whisper_vram::cli {
namespace {

struct run_options {
    std::string model;
    estimate_options estimate;
    std::optional<std::string> gpus;
    std::optional<std::string> timeout;
    std::optional<std::string> kill_grace;
    std::string policy = "best-fit";
    std::optional<std::string> simulate;
    std::optional<std::string> json_out;
    std::optional<std::string> json_fd;
    std::string shard_granule = "1GiB";  // Slurm shard size: the in-job cap is SLURM_SHARDS_ON_NODE x this
    bool record = false;
    std::optional<std::string> out;
    std::vector<std::string> command;
};

std::optional<std::chrono::milliseconds> parse_timeout(const std::optional<std::string>& text) {
    if (!text) return std::nullopt;
    return parse_seconds(*text, "--timeout");
}

// Where the outcome JSON goes: a file (created/truncated, 0644 less the umask) or an open fd.
class json_sink {
public:
    json_sink(const std::optional<std::string>& path, const std::optional<std::string>& fd_text) {
        if (path && fd_text) throw usage_error("run: give --json-out PATH or --json-fd N, not both");
        if (path) {
            if (path->empty()) throw usage_error("--json-out '' is invalid: give a file path");
            path_ = *path;
            // Opened now: a path that cannot be written is an error before the job runs, not after.
            fd_ = ::open(path->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
            if (fd_ < 0) {
                throw usage_error(fmt::format("--json-out '{}' cannot be opened for writing: {}",
                                              escape_for_terminal(*path), std::strerror(errno)));
            }
            owned_ = true;
        } else if (fd_text) {
            int fd = -1;
            const auto* first = fd_text->data();
            const auto* last = first + fd_text->size();
            const auto [ptr, ec] = std::from_chars(first, last, fd);
            if (fd_text->empty() || ec != std::errc{} || ptr != last || fd < 0) {
                throw usage_error(fmt::format("--json-fd '{}' is invalid: a file descriptor number, e.g. 3",
                                              escape_for_terminal(*fd_text)));
            }
            const int flags = ::fcntl(fd, F_GETFL);
            if (flags < 0 || (flags & O_ACCMODE) == O_RDONLY) {
                throw usage_error(fmt::format("--json-fd {} is not a file descriptor open for writing", fd));
            }
            if (fd == STDOUT_FILENO) throw usage_error("--json-fd 1 is the job's stdout; use another descriptor");
            // Not the job's: close-on-exec (the job's stdout stays its own).
            ::fcntl(fd, F_SETFD, ::fcntl(fd, F_GETFD) | FD_CLOEXEC);
            fd_ = fd;
        }
    }
    ~json_sink() {
        if (owned_ && fd_ >= 0) ::close(fd_);
    }
    json_sink(const json_sink&) = delete;
    json_sink& operator=(const json_sink&) = delete;
    json_sink(json_sink&&) = delete;
    json_sink& operator=(json_sink&&) = delete;

    // Writes the outcome (one JSON document, a newline); a failure is a warning: the job has run.
    void write(const run_outcome& outcome, std::ostream& err) const {
        if (fd_ < 0) return;
        const std::string text = to_json(outcome).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + '\n';
        const char* data = text.data();
        std::size_t left = text.size();
        while (left > 0) {
            const ssize_t n = ::write(fd_, data, left);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                err << fmt::format("whisper-vram run: warning: cannot write the JSON outcome to {}: {}\n",
                                   path_.empty() ? fmt::format("fd {}", fd_) : escape_for_terminal(path_),
                                   std::strerror(errno));
                return;
            }
            data += n;
            left -= static_cast<std::size_t>(n);
        }
    }

private:
    int fd_ = -1;
    bool owned_ = false;
    std::string path_;
};

// The advice after an out-of-memory failure, printed and kept in the outcome.
void advise(run_outcome& outcome, const estimate_request& job, const lease_info& info, const std::string& message,
            gpu_manager& manager, scheduler& sched, const context& c) {
    oom_situation situation;
    situation.gpu_index = info.gpu_index;
    situation.gpu_name = info.gpu_name;
    estimate_request sized = job;
    for (const auto& cap : sched.capacities()) {
        if (cap.gpu_index != info.gpu_index) continue;
        situation.available_bytes = cap.available_bytes;
        situation.other_jobs = static_cast<unsigned>(cap.reservation_count);
        situation.other_jobs_bytes = cap.reserved_bytes;
    }
    for (const auto& d : manager.get_gpu_memory_info().gpus) {
        if (d.index == info.gpu_index) sized = request_for_gpu(job, d);
    }
    if (outcome.measurement) {
        for (const auto& g : outcome.measurement->gpus) {
            if (g.index == info.gpu_index && g.peak_bytes > 0) situation.peak_bytes = g.peak_bytes;
        }
    }
    oom_advice advice = replan_after_oom(sized, situation, message);
    c.err << fmt::format("whisper-vram run: the job ran out of GPU memory on GPU {} ({}): {}\n", info.gpu_index,
                         escape_for_terminal(info.gpu_name), escape_for_terminal(advice.message));
    c.err << fmt::format(
        "whisper-vram run: re-plan ({} recommended was reserved; {} admittable there now), each "
        "change alone:\n",
        format_gib(info.bytes), format_gib(situation.available_bytes));
    for (const auto& s : advice.suggestions) c.err << "  - " << s.text << '\n';
    for (const auto& n : advice.notes) c.err << "  note: " << n << '\n';
    outcome.advice = std::move(advice);
}

exit_status run_job(const run_options& o, const context& c) {
    if (o.command.empty()) {
        throw usage_error("run: no COMMAND given; usage: whisper-vram run --model M [options] -- COMMAND [ARGS...]");
    }
    // --gpus '' is an error as it is for check (split_list: "has an empty item"), not "every GPU".
    // (The scheduler reads a blank id list as every GPU; other empty items it refuses itself.)
    if (o.gpus && o.gpus->find_first_not_of(" \t") == std::string::npos) (void)split_list(*o.gpus, "--gpus");
    if (o.out && !o.record) throw usage_error("run: --out FILE is the history of --record; give --record too");
    const estimate_request job = to_request(o.estimate, o.model);
    const memory_estimate declared = estimate(job);  // a bad configuration is reported before anything else
    const auto timeout = parse_timeout(o.timeout);
    const auto grace = o.kill_grace ? parse_seconds(*o.kill_grace, "--kill-grace") : std::chrono::milliseconds(5000);
    const auto policy = parse_placement_policy(o.policy);
    const json_sink json(o.json_out, o.json_fd);
    const std::string history = o.record ? history_path(o.out, c.env) : std::string();
    auto manager =
        make_manager(c, o.simulate, ledger_use::state_folder, parse_shard_granule(o.shard_granule, "--shard-granule"));
    // Sized for each listed GPU's card (compute capability): gpu_manager::sized_reserve_request.
    reserve_request request = manager.sized_reserve_request(job, o.gpus.value_or(""));
    request.timeout = timeout;
    request.policy = policy;
    auto& sched = manager.get_scheduler();

    run_outcome outcome;
    outcome.command = o.command;
    outcome.requested_bytes = request.bytes;
    const auto finish = [&](exit_status status) {
        outcome.exit_status = to_int(status);
        json.write(outcome, c.err);
        return status;
    };

    install_forwarding_handlers();
    auto result = wait_for_reservation(sched, request, c.err);
    outcome.reservation_status = result.status;
    outcome.reservation_message = result.message;
    outcome.waited = result.waited;
    if (result.status != reserve_status::granted) return finish(refused_reservation(result, c.err, "run"));
    lease held = std::move(result.granted_lease);
    const lease_info info = held.info();
    outcome.placement = info;

    memory_sampler sampler(manager.probe(), {info.gpu_index}, default_sample_interval);
    job_spec spec;
    spec.command = o.command;
    spec.grace = grace;
    spec.held = &held;
    spec.environment = {{"CUDA_VISIBLE_DEVICES", info.gpu_uuid},
                        {"WHISPER_VRAM_GPU", info.gpu_uuid},
                        {"WHISPER_VRAM_GPU_INDEX", std::to_string(info.gpu_index)},
                        {"WHISPER_VRAM_RESERVED_BYTES", std::to_string(info.bytes)}};
    const std::string started_at = rfc3339_now();
    (void)sampler.take_baseline();
    spec.on_started = [&](pid_t pgid) { sampler.start(pgid); };
    spec.on_leader_exited = [&] { outcome.measurement = sampler.stop(); };
    const job_result ran = run_in_group(spec, c);
    if (!outcome.measurement) outcome.measurement = sampler.stop();
    record_job(outcome, ran);
    if (ran.end == run_end::cannot_execute) {
        outcome.exec_error = ran.exec_error;
        return finish(exit_status::cannot_execute);
    }
    const gpu_measurement* measured = nullptr;
    for (const auto& g : outcome.measurement->gpus) {
        if (g.index == info.gpu_index) measured = &g;
    }
    if (measured != nullptr && measured->peak_bytes > info.bytes) {
        outcome.peak_over_reservation = true;
        const std::string warning = fmt::format(
            "the job's peak {} ({}) on GPU {} exceeded its reservation {}: the estimate is low for this job "
            "(an out-of-memory or an over-committed GPU is next)",
            format_gib(measured->peak_bytes), to_string(measured->method), info.gpu_index, format_gib(info.bytes));
        c.err << "whisper-vram run: warning: " << warning << '\n';
        outcome.warnings.push_back(warning);
    }
    if (o.record && measured != nullptr) {
        record_inputs in;
        in.estimate = &declared;
        in.cuda_module_loading = job.cuda_module_loading;
        in.gpu = measured;
        in.duration = ran.ran;
        in.exit_status = to_int(ran.status);
        in.time = started_at;
        try {
            append_record(history, in);
        } catch (const std::exception& ex) {  // the job has run: its status stands
            const std::string warning = fmt::format("no record written: {}", ex.what());
            c.err << "whisper-vram run: warning: " << warning << '\n';
            outcome.warnings.push_back(warning);
        }
    }
    if (ran.status != exit_status::ok) {
        if (const auto message = find_out_of_memory_message(ran.stderr_tail)) {
            advise(outcome, job, info, *message, manager, sched, c);
        }
    }
    return finish(ran.status);
}

}  // namespace
void setup_run(CLI::App& app, command_action& action) {
    const auto [command, options] = add_command(
        app, action, "run", "wait until a job's GPU memory can be reserved, then run the job on that GPU", run_job);
    command->add_option("--model", options->model, "model name, e.g. large-v3, medium")->required();
    add_estimate_options(*command, options->estimate);
    command->add_option("--gpus", options->gpus,
                        "GPUs the job may use: CUDA indices, UUIDs or PCI ids (default: all visible)");
    command->add_option("--timeout", options->timeout, "give up after SECONDS of waiting (exit 124; default: wait)");
    command->add_option("--policy", options->policy, "placement: best-fit (default) or most-free");
    command->add_option("--kill-grace", options->kill_grace,
                        "SECONDS between SIGTERM and SIGKILL when the job's process group is ended (default 5)");
    command->add_option("--json-out", options->json_out,
                        "write the placement and outcome as JSON to PATH (stdout is the job's)");
    command->add_option("--json-fd", options->json_fd, "write the placement and outcome as JSON to file descriptor N");
    command->add_option("--shard-granule", options->shard_granule,
                        "inside a Slurm job: GPU memory per shard (default 1GiB); reservations are capped at "
                        "SLURM_SHARDS_ON_NODE x this");
    command->add_flag("--record", options->record,
                      "append a record of the job's measured peak to the measurement history "
                      "(measurements.jsonl in the state folder, or --out)");
    command->add_option("--out", options->out, "with --record: the JSON-lines history to append to");
    add_simulate_option(*command, options->simulate);
    command->add_option("command", options->command, "the job: COMMAND [ARGS...], after --");
    add_footer(*command,
               "The job runs with CUDA_VISIBLE_DEVICES=<GPU UUID>, WHISPER_VRAM_GPU=<UUID>, "
               "WHISPER_VRAM_GPU_INDEX=<NVML index>.\n"
               "Exit status: the job's (128+N if killed by signal N); 124 timeout; 127 cannot execute; 1 never fits;\n"
               "2 usage error; 3 GPU information unavailable. Reservations live in WHISPER_VRAM_STATE_DIR.\n"
               "The job runs in a process group of its own: signals to run reach the whole group, and when run\n"
               "dies (any signal, SIGKILL included) or the job's leader exits, the group is ended (SIGTERM,\n"
               "--kill-grace, SIGKILL) before the reservation is released.\n"
               "The job's stderr is a pipe that run copies unchanged to its own stderr (so the job's isatty(2)\n"
               "is false), keeping the last lines: when the job fails with a CUDA out-of-memory error, run prints\n"
               "re-plan advice (each change alone, re-estimated for that GPU). run samples the job's GPU memory\n"
               "(NVML, every 50 ms) and warns when its peak exceeded the reservation.",
               {"whisper-vram run --model large --precision float16 -- python transcribe.py a.wav",
                "whisper-vram run --model medium --gpus 0,1 --timeout 600 --policy most-free -- ./job.sh",
                "whisper-vram run --model small --json-out run.json -- ./job.sh",
                "whisper-vram run --model small --record -- ./job.sh"});
}

}  // namespace whisper_vram::cli
