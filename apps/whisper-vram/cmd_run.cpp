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
// No orphans (process_group.hpp): the job leads a process group of its own; SIGINT, SIGTERM,
// SIGHUP and SIGQUIT sent to run are forwarded to that group; when run's terminal is its
// foreground, the job's group gets the terminal (Ctrl-C, Ctrl-Z reach the job as in a shell). A
// guardian forked before the job ends the group when run dies by any signal, SIGKILL included.
// When the job's leader exits, what is left of its group is ended too (SIGTERM, --kill-grace,
// SIGKILL) before the reservation is released. The order after fork: the group is recorded in
// the ledger (child_pid = pgid) and the guardian told, and only then does the job exec (it waits
// on a pipe), so the reservation outlives every process of the job.

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <iostream>

#include "commands.hpp"
#include "process_group.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/text_escape.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/facade/run_outcome.hpp"
#include "whisper_vram/json/json.hpp"
#include "whisper_vram/planner/slurm.hpp"
#include "whisper_vram/sched/scheduler.hpp"

namespace whisper_vram::cli {
namespace {

volatile std::sig_atomic_t g_signal = 0;  // last forwarded signal received
volatile pid_t g_group = 0;               // the job's process group, 0 before fork

constexpr std::array forwarded_signals{SIGINT, SIGTERM, SIGHUP, SIGQUIT};

// Forwards a signal to the job's group. The job is not in run's process group, so a signal the
// terminal sends to run's group does not reach it twice.
void on_signal(int sig) {
    g_signal = sig;
    const pid_t group = g_group;
    if (group > 0) ::kill(-group, sig);
}

void install_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sa.sa_flags = 0;  // no SA_RESTART: waitpid returns EINTR and re-checks
    sigemptyset(&sa.sa_mask);
    for (const int sig : forwarded_signals) ::sigaction(sig, &sa, nullptr);
}

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
    std::vector<std::string> command;
};

constexpr double max_seconds = 366.0 * 86400;  // a year and a day: beyond it, a typo

// Decimal seconds only: digits, at most one '.', digits ("10", "0.5", "2."); no sign, exponent,
// hex (strtod would read "0x10" as 16), inf or nan.
std::chrono::milliseconds parse_seconds(const std::string& text, std::string_view option) {
    bool digit = false;
    bool dot = false;
    bool ok = !text.empty();
    for (const char ch : text) {
        if (ch >= '0' && ch <= '9') {
            digit = true;
        } else if (ch == '.' && !dot) {
            dot = true;
        } else {
            ok = false;
        }
    }
    double seconds = 0;
    if (ok && digit) {
        const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
        ok = ec == std::errc{} && ptr == text.data() + text.size() && seconds <= max_seconds;
    } else {
        ok = false;
    }
    if (!ok) {
        throw usage_error(fmt::format("{} '{}' is invalid: decimal seconds from 0 to {:.0f}, e.g. 600 or 0.5", option,
                                      escape_for_terminal(text), max_seconds));
    }
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(seconds * 1000.0)));
}

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

// One status line on stderr while waiting: rewritten in place on a terminal (at most 4 times a
// second), plain lines otherwise (the first at once, then at most one every 10 s).
class status_line {
public:
    // Rewritten in place only when it goes to the process's own stderr and that is a terminal.
    explicit status_line(std::ostream& err) : err_(err), tty_(&err == &std::cerr && ::isatty(STDERR_FILENO) == 1) {}
    void show(const wait_progress& p, const std::string& model) {
        const auto now = std::chrono::steady_clock::now();
        const auto gap = tty_ ? std::chrono::milliseconds(250) : std::chrono::milliseconds(10000);
        if (shown_ && now - last_ < gap) return;
        last_ = now;
        shown_ = true;
        const std::string line = fmt::format(
            "whisper-vram run: waiting {:.0f} s for {} ({}): {} available on GPU {}{}",
            static_cast<double>(p.waited.count()) / 1000.0, format_gib(p.needed_bytes), escape_for_terminal(model),
            format_gib(p.best_available_bytes), p.best_gpu_index,
            p.queue_position > 0 ? fmt::format(", {} request(s) ahead in the queue", p.queue_position) : std::string());
        if (tty_) {
            err_ << '\r' << line << "\033[K" << std::flush;
        } else {
            err_ << line << '\n' << std::flush;
        }
    }
    void finish() {
        if (shown_ && tty_) err_ << "\r\033[K" << std::flush;
    }

private:
    std::ostream& err_;
    bool tty_;
    bool shown_ = false;
    std::chrono::steady_clock::time_point last_{};
};

// 128 + N: ended by signal N (as the shell reports it).
exit_status signal_status(int sig) { return static_cast<exit_status>(to_int(exit_status::signal_base) + sig); }

// The terminal, when run has it as its foreground: the job's group gets it while it runs.
class terminal_handoff {
public:
    terminal_handoff() : fd_(::isatty(STDIN_FILENO) == 1 ? STDIN_FILENO : -1) {
        if (fd_ >= 0 && ::tcgetpgrp(fd_) != ::getpgrp()) fd_ = -1;  // run is in the background: keep out
    }
    [[nodiscard]] bool active() const noexcept { return fd_ >= 0; }
    // Gives the terminal to @p pgid (SIGTTOU blocked by the caller or here).
    void give(pid_t pgid) const noexcept {
        if (fd_ >= 0) with_ttou_blocked([&] { ::tcsetpgrp(fd_, pgid); });
    }
    void take_back() const noexcept { give(::getpgrp()); }

private:
    template <typename F>
    static void with_ttou_blocked(F&& f) noexcept {
        sigset_t ttou;
        sigset_t previous;
        sigemptyset(&ttou);
        sigaddset(&ttou, SIGTTOU);
        ::sigprocmask(SIG_BLOCK, &ttou, &previous);
        f();
        ::sigprocmask(SIG_SETMASK, &previous, nullptr);
    }
    int fd_;
};

int read_full(int fd, void* data, std::size_t size) {
    ssize_t got = 0;
    do {
        got = ::read(fd, data, size);
    } while (got < 0 && errno == EINTR);
    return static_cast<int>(got);
}

// The job's side of the fork (async-signal-safe calls only, up to exec).
[[noreturn]] void exec_job(char* const* argv, const sigset_t& previous, int go_fd, int error_fd, int guardian_fd,
                           bool take_terminal, pid_t parent) {
    ::close(guardian_fd);  // only run holds it: its death must reach the guardian
    ::setpgid(0, 0);
    if (take_terminal) ::tcsetpgrp(STDIN_FILENO, ::getpid());  // SIGTTOU is still blocked here
    for (const int sig : forwarded_signals) ::signal(sig, SIG_DFL);
    // If run dies (even by SIGKILL) the guardian ends the group; the leader hears it at once too.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    // Wait until run recorded the group in the ledger and told the guardian: EOF = run is gone.
    char go = 0;
    if (read_full(go_fd, &go, 1) != 1 || ::getppid() != parent) ::_exit(to_int(signal_status(SIGTERM)));
    ::close(go_fd);
    ::sigprocmask(SIG_SETMASK, &previous, nullptr);
    ::execvp(argv[0], argv);
    const int saved = errno;
    [[maybe_unused]] const auto n = ::write(error_fd, &saved, sizeof saved);
    ::_exit(to_int(exit_status::cannot_execute));
}

// Waits for the job's leader; follows it when it stops (Ctrl-Z) while it has the terminal.
int wait_leader(pid_t child, const terminal_handoff& terminal) {
    int raw = 0;
    for (;;) {
        const pid_t got = ::waitpid(child, &raw, WUNTRACED);
        if (got == child && WIFSTOPPED(raw)) {
            if (terminal.active()) {  // as a shell does: stop too, and resume the job when resumed
                terminal.take_back();
                ::kill(::getpid(), SIGSTOP);
                terminal.give(child);
                ::kill(-child, SIGCONT);
            }
            continue;
        }
        if (got == child) return raw;
        if (errno != EINTR) return 1 << 8;
    }
}

exit_status run_job(const run_options& o, const context& c) {
    if (o.command.empty()) {
        throw usage_error("run: no COMMAND given; usage: whisper-vram run --model M [options] -- COMMAND [ARGS...]");
    }
    // --gpus '' is an error as it is for check (split_list: "has an empty item"), not "every GPU".
    // (The scheduler reads a blank id list as every GPU; other empty items it refuses itself.)
    if (o.gpus && o.gpus->find_first_not_of(" \t") == std::string::npos) (void)split_list(*o.gpus, "--gpus");
    const estimate_request job = to_request(o.estimate, o.model);
    (void)estimate(job);  // a bad configuration is reported before anything else
    const auto timeout = parse_timeout(o.timeout);
    const auto grace = o.kill_grace ? parse_seconds(*o.kill_grace, "--kill-grace") : std::chrono::milliseconds(5000);
    const auto policy = parse_placement_policy(o.policy);
    const json_sink json(o.json_out, o.json_fd);
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

    install_handlers();
    status_line status(c.err);
    request.on_wait = [&](const wait_progress& p) { status.show(p, request.model); };
    request.cancelled = [] { return g_signal != 0; };
    auto result = sched.reserve(request);
    status.finish();
    outcome.reservation_status = result.status;
    outcome.reservation_message = result.message;
    outcome.waited = result.waited;
    switch (result.status) {
        case reserve_status::granted:
            break;
        case reserve_status::never_fits:
            c.err << "whisper-vram run: " << escape_for_terminal(result.message) << '\n';
            return finish(exit_status::does_not_fit);
        case reserve_status::gpu_unavailable:
            c.err << "whisper-vram run: " << escape_for_terminal(result.message) << '\n';
            return finish(exit_status::gpu_unavailable);
        case reserve_status::timed_out:
            c.err << "whisper-vram run: " << escape_for_terminal(result.message) << '\n';
            return finish(exit_status::timeout);
        case reserve_status::cancelled:
            c.err << "whisper-vram run: interrupted while waiting; nothing was started\n";
            return finish(signal_status(static_cast<int>(g_signal)));
    }
    lease held = std::move(result.granted_lease);
    const auto& info = held.info();
    outcome.placement = info;

    std::vector<char*> argv;
    for (const auto& arg : o.command) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    // The job's environment, prepared before fork (setenv is not async-signal-safe).
    ::setenv("CUDA_VISIBLE_DEVICES", info.gpu_uuid.c_str(), 1);
    ::setenv("WHISPER_VRAM_GPU", info.gpu_uuid.c_str(), 1);
    ::setenv("WHISPER_VRAM_GPU_INDEX", std::to_string(info.gpu_index).c_str(), 1);
    ::setenv("WHISPER_VRAM_RESERVED_BYTES", std::to_string(info.bytes).c_str(), 1);

    // Orphans of the job (its children whose parent exits) become run's children, so run can reap
    // them while it ends the group.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    job_guardian guardian(grace);
    const terminal_handoff terminal;

    int error_pipe[2];
    int go_pipe[2];
    if (::pipe2(error_pipe, O_CLOEXEC) != 0) throw error(fmt::format("run: pipe: {}", std::strerror(errno)));
    if (::pipe2(go_pipe, O_CLOEXEC) != 0) throw error(fmt::format("run: pipe: {}", std::strerror(errno)));
    sigset_t block;
    sigset_t previous;
    sigemptyset(&block);
    for (const int sig : forwarded_signals) sigaddset(&block, sig);
    sigaddset(&block, SIGTTOU);
    ::sigprocmask(SIG_BLOCK, &block, &previous);  // no forwarding before g_group is set
    const pid_t parent = ::getpid();
    const auto started = std::chrono::steady_clock::now();
    const pid_t child = ::fork();
    if (child < 0) {
        const int saved = errno;
        ::sigprocmask(SIG_SETMASK, &previous, nullptr);
        throw error(fmt::format("run: fork: {}", std::strerror(saved)));
    }
    if (child == 0) {
        ::close(error_pipe[0]);
        ::close(go_pipe[1]);
        exec_job(argv.data(), previous, go_pipe[0], error_pipe[1], guardian.write_fd(), terminal.active(), parent);
    }
    ::setpgid(child, child);  // both sides: whichever runs first, the group exists before exec
    if (terminal.active()) ::tcsetpgrp(STDIN_FILENO, child);
    g_group = child;
    outcome.pid = static_cast<std::uint32_t>(child);
    guardian.watch(child);
    ::sigprocmask(SIG_SETMASK, &previous, nullptr);
    if (g_signal != 0) ::kill(-child, g_signal);  // arrived between the grant and the fork
    ::close(error_pipe[1]);
    ::close(go_pipe[0]);
    try {
        held.attach_child(static_cast<std::uint32_t>(child));  // the ledger: live while the group lives
    } catch (const std::exception& ex) {                       // the guardian still ends the group if run dies
        c.err << "whisper-vram run: warning: " << ex.what() << '\n';
    }
    const char go = 'g';
    [[maybe_unused]] const auto sent = ::write(go_pipe[1], &go, 1);
    ::close(go_pipe[1]);
    int exec_errno = 0;
    const int got = read_full(error_pipe[0], &exec_errno, sizeof exec_errno);
    ::close(error_pipe[0]);

    const int raw = wait_leader(child, terminal);
    // What is left of the group (a backgrounded `sleep &`): ended before the reservation goes.
    if (process_group_alive(child)) {
        outcome.survivors_killed = true;
        if (!end_process_group(child, grace)) {
            c.err << fmt::format(
                "whisper-vram run: warning: process group {} did not end after SIGKILL; "
                "its reservation stays until it does\n",
                child);
        }
    }
    terminal.take_back();
    g_group = 0;
    outcome.ran = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    if (!process_group_alive(child)) {
        guardian.disarm();
        held.release();
    } else {
        // A member the kernel has not removed after SIGKILL (uninterruptible sleep): keep the
        // reservation (the ledger keeps it while the group lives) and let the guardian keep trying.
        [[maybe_unused]] auto* kept = new lease(std::move(held));  // NOLINT(cppcoreguidelines-owning-memory)
    }
    if (got == static_cast<int>(sizeof exec_errno)) {
        outcome.end = run_end::cannot_execute;
        outcome.exec_error = std::strerror(exec_errno);
        c.err << fmt::format("whisper-vram run: cannot execute '{}': {}\n", escape_for_terminal(o.command.front()),
                             outcome.exec_error);
        return finish(exit_status::cannot_execute);
    }
    if (WIFEXITED(raw)) {
        outcome.end = run_end::exited;
        outcome.exit_code = WEXITSTATUS(raw);
        return finish(static_cast<exit_status>(WEXITSTATUS(raw)));
    }
    if (WIFSIGNALED(raw)) {
        outcome.end = run_end::signaled;
        outcome.term_signal = WTERMSIG(raw);
        return finish(signal_status(WTERMSIG(raw)));
    }
    outcome.end = run_end::exited;
    return finish(exit_status::does_not_fit);  // neither: a generic failure (1)
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
    add_simulate_option(*command, options->simulate);
    command->add_option("command", options->command, "the job: COMMAND [ARGS...], after --");
    add_footer(*command,
               "The job runs with CUDA_VISIBLE_DEVICES=<GPU UUID>, WHISPER_VRAM_GPU=<UUID>, "
               "WHISPER_VRAM_GPU_INDEX=<NVML index>.\n"
               "Exit status: the job's (128+N if killed by signal N); 124 timeout; 127 cannot execute; 1 never fits;\n"
               "2 usage error; 3 GPU information unavailable. Reservations live in WHISPER_VRAM_STATE_DIR.\n"
               "The job runs in a process group of its own: signals to run reach the whole group, and when run\n"
               "dies (any signal, SIGKILL included) or the job's leader exits, the group is ended (SIGTERM,\n"
               "--kill-grace, SIGKILL) before the reservation is released.",
               {"whisper-vram run --model large --precision float16 -- python transcribe.py a.wav",
                "whisper-vram run --model medium --gpus 0,1 --timeout 600 --policy most-free -- ./job.sh",
                "whisper-vram run --model small --json-out run.json -- ./job.sh"});
}

}  // namespace whisper_vram::cli
