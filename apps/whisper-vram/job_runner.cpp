// How `run` and `measure` run a job (see job_runner.hpp).
//
// No orphans (process_group.hpp): the job leads a process group of its own; SIGINT, SIGTERM,
// SIGHUP and SIGQUIT sent to run are forwarded to that group; when run's terminal is its
// foreground, the job's group gets the terminal (Ctrl-C, Ctrl-Z reach the job as in a shell). A
// guardian forked before the job ends the group when run dies by any signal, SIGKILL included.
// When the job's leader exits, what is left of its group is ended too (SIGTERM, --kill-grace,
// SIGKILL) before the reservation is released. The order after fork: the group is recorded in
// the ledger (child_pid = pgid) and the guardian told, and only then does the job exec (it waits
// on a pipe), so the reservation outlives every process of the job.

#include "job_runner.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <csignal>
#include <cstring>
#include <iostream>
#include <mutex>
#include <thread>

#include <sys/stat.h>

#include <ctime>
#include <filesystem>
#include <fstream>

#include "process_group.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/measurement_record.hpp"
#include "whisper_vram/core/text_escape.hpp"
#include "whisper_vram/core/units.hpp"

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

constexpr double max_seconds = 366.0 * 86400;

// Reservations deliberately never released (a job member that outlived SIGKILL): reachable here
// until the process exits, and never destroyed (a lease's destructor would release it).
std::vector<lease*>& kept_leases() {
    static auto* kept = new std::vector<lease*>();  // NOLINT(cppcoreguidelines-owning-memory)
    return *kept;
}  // a year and a day: beyond it, a typo

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
                           int stderr_fd, bool take_terminal, pid_t parent) {
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
    if (stderr_fd >= 0) ::dup2(stderr_fd, STDERR_FILENO);  // the copy on fd 2 is not close-on-exec
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

constexpr std::size_t tail_bytes = std::size_t{16} * 1024;
constexpr std::size_t tail_lines = 64;

// Copies the job's stderr (the read end of its pipe) to run's stderr as it arrives, byte for
// byte, and keeps the last tail_bytes. Ends at EOF, or once drain() was called and nothing more
// arrives for 200 ms (a process outside the job's group may still hold the pipe open).
class stderr_pump {
public:
    stderr_pump(int fd, std::ostream& err, std::mutex& err_mutex)
        : fd_(fd), err_(err), mutex_(err_mutex), thread_([this] { loop(); }) {}
    ~stderr_pump() {
        drain();
        if (thread_.joinable()) thread_.join();
        ::close(fd_);
    }
    stderr_pump(const stderr_pump&) = delete;
    stderr_pump& operator=(const stderr_pump&) = delete;
    stderr_pump(stderr_pump&&) = delete;
    stderr_pump& operator=(stderr_pump&&) = delete;

    void drain() { draining_ = true; }
    // Waits for the end, then returns the tail (the last tail_lines lines).
    std::string finish() {
        drain();
        if (thread_.joinable()) thread_.join();
        std::string t = tail_.size() > tail_bytes ? tail_.substr(tail_.size() - tail_bytes) : tail_;
        std::size_t lines = 0;
        for (std::size_t i = t.size(); i-- > 0;) {
            if (t[i] == '\n' && i + 1 < t.size() && ++lines == tail_lines) return t.substr(i + 1);
        }
        return t;
    }

private:
    void loop() {
        std::array<char, 4096> buffer{};
        for (;;) {
            pollfd p{fd_, POLLIN, 0};
            const int ready = ::poll(&p, 1, 200);
            if (ready < 0 && errno == EINTR) continue;
            if (ready == 0) {
                if (draining_) return;
                continue;
            }
            const ssize_t n = ::read(fd_, buffer.data(), buffer.size());
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return;
            {
                const std::lock_guard lock(mutex_);
                err_.write(buffer.data(), n);
                err_.flush();
            }
            tail_.append(buffer.data(), static_cast<std::size_t>(n));
            if (tail_.size() > 2 * tail_bytes) tail_.erase(0, tail_.size() - tail_bytes);
        }
    }

    int fd_;
    std::ostream& err_;
    std::mutex& mutex_;
    std::atomic<bool> draining_{false};
    std::string tail_;
    std::thread thread_;
};

}  // namespace

void install_forwarding_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sa.sa_flags = 0;  // no SA_RESTART: waitpid returns EINTR and re-checks
    sigemptyset(&sa.sa_mask);
    for (const int sig : forwarded_signals) ::sigaction(sig, &sa, nullptr);
}

int received_signal() noexcept { return static_cast<int>(g_signal); }

exit_status signal_status(int sig) noexcept { return static_cast<exit_status>(to_int(exit_status::signal_base) + sig); }

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

reserve_result wait_for_reservation(scheduler& sched, reserve_request& request, std::ostream& err) {
    status_line status(err);
    request.on_wait = [&](const wait_progress& p) { status.show(p, request.model); };
    request.cancelled = [] { return g_signal != 0; };
    auto result = sched.reserve(request);
    status.finish();
    return result;
}

exit_status refused_reservation(const reserve_result& result, std::ostream& err, std::string_view command) {
    switch (result.status) {
        case reserve_status::granted:
            return exit_status::ok;
        case reserve_status::never_fits:
            err << "whisper-vram " << command << ": " << escape_for_terminal(result.message) << '\n';
            return exit_status::does_not_fit;
        case reserve_status::gpu_unavailable:
            err << "whisper-vram " << command << ": " << escape_for_terminal(result.message) << '\n';
            return exit_status::gpu_unavailable;
        case reserve_status::timed_out:
            err << "whisper-vram " << command << ": " << escape_for_terminal(result.message) << '\n';
            return exit_status::timeout;
        case reserve_status::cancelled:
            err << "whisper-vram " << command << ": interrupted while waiting; nothing was started\n";
            return signal_status(static_cast<int>(g_signal));
    }
    return exit_status::does_not_fit;
}

job_result run_in_group(const job_spec& spec, const context& c) {
    job_result result;
    std::vector<char*> argv;
    for (const auto& arg : spec.command) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    // The job's environment, prepared before fork (setenv is not async-signal-safe).
    for (const auto& [name, value] : spec.environment) ::setenv(name.c_str(), value.c_str(), 1);

    // Orphans of the job (its children whose parent exits) become run's children, so run can reap
    // them while it ends the group.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    job_guardian guardian(spec.grace);
    const terminal_handoff terminal;

    int error_pipe[2];
    int go_pipe[2];
    int stderr_pipe[2];
    const auto fail = [&](const char* what) {
        throw error(fmt::format("{}: {}: {}", spec.subcommand, what, std::strerror(errno)));
    };
    if (::pipe2(error_pipe, O_CLOEXEC) != 0) fail("pipe");
    if (::pipe2(go_pipe, O_CLOEXEC) != 0) fail("pipe");
    if (::pipe2(stderr_pipe, O_CLOEXEC) != 0) fail("pipe");
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
        throw error(fmt::format("{}: fork: {}", spec.subcommand, std::strerror(saved)));
    }
    if (child == 0) {
        ::close(error_pipe[0]);
        ::close(go_pipe[1]);
        ::close(stderr_pipe[0]);
        exec_job(argv.data(), previous, go_pipe[0], error_pipe[1], guardian.write_fd(), stderr_pipe[1],
                 terminal.active(), parent);
    }
    ::setpgid(child, child);  // both sides: whichever runs first, the group exists before exec
    if (terminal.active()) ::tcsetpgrp(STDIN_FILENO, child);
    g_group = child;
    result.pid = static_cast<std::uint32_t>(child);
    guardian.watch(child);
    ::sigprocmask(SIG_SETMASK, &previous, nullptr);
    if (g_signal != 0) ::kill(-child, g_signal);  // arrived between the grant and the fork
    ::close(error_pipe[1]);
    ::close(go_pipe[0]);
    ::close(stderr_pipe[1]);
    std::mutex err_mutex;
    stderr_pump pump(stderr_pipe[0], c.err, err_mutex);
    if (spec.held != nullptr) {
        try {
            spec.held->attach_child(static_cast<std::uint32_t>(child));  // the ledger: live while the group lives
        } catch (const std::exception& ex) {  // the guardian still ends the group if run dies
            const std::lock_guard lock(err_mutex);
            c.err << "whisper-vram " << spec.subcommand << ": warning: " << ex.what() << '\n';
        }
    }
    if (spec.on_started) spec.on_started(child);
    const char go = 'g';
    [[maybe_unused]] const auto sent = ::write(go_pipe[1], &go, 1);
    ::close(go_pipe[1]);
    int exec_errno = 0;
    const int got = read_full(error_pipe[0], &exec_errno, sizeof exec_errno);
    ::close(error_pipe[0]);

    const int raw = wait_leader(child, terminal);
    if (spec.on_leader_exited) spec.on_leader_exited();
    // What is left of the group (a backgrounded `sleep &`): ended before the reservation goes.
    bool stuck = false;
    if (process_group_alive(child)) {
        result.survivors_killed = true;
        stuck = !end_process_group(child, spec.grace);
    }
    terminal.take_back();
    g_group = 0;
    result.ran = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    result.stderr_tail = pump.finish();
    if (stuck) {
        c.err << fmt::format(
            "whisper-vram {}: warning: process group {} did not end after SIGKILL; "
            "its reservation stays until it does\n",
            spec.subcommand, child);
    }
    if (!process_group_alive(child)) {
        guardian.disarm();
        if (spec.held != nullptr) spec.held->release();
    } else if (spec.held != nullptr) {
        // A member the kernel has not removed after SIGKILL (uninterruptible sleep): keep the
        // reservation (the ledger keeps it while the group lives) and let the guardian keep trying.
        kept_leases().push_back(new lease(std::move(*spec.held)));  // NOLINT(cppcoreguidelines-owning-memory)
    }
    if (got == static_cast<int>(sizeof exec_errno)) {
        result.end = run_end::cannot_execute;
        result.exec_error = std::strerror(exec_errno);
        c.err << fmt::format("whisper-vram {}: cannot execute '{}': {}\n", spec.subcommand,
                             escape_for_terminal(spec.command.front()), result.exec_error);
        result.status = exit_status::cannot_execute;
    } else if (WIFEXITED(raw)) {
        result.end = run_end::exited;
        result.exit_code = WEXITSTATUS(raw);
        result.status = static_cast<exit_status>(WEXITSTATUS(raw));
    } else if (WIFSIGNALED(raw)) {
        result.end = run_end::signaled;
        result.term_signal = WTERMSIG(raw);
        result.status = signal_status(WTERMSIG(raw));
    } else {
        result.end = run_end::exited;
        result.status = exit_status::does_not_fit;  // neither: a generic failure (1)
    }
    return result;
}

void record_job(run_outcome& outcome, const job_result& result) {
    outcome.end = result.end;
    outcome.pid = result.pid;
    outcome.exit_code = result.exit_code;
    outcome.term_signal = result.term_signal;
    outcome.exec_error = result.exec_error;
    outcome.survivors_killed = result.survivors_killed;
    outcome.ran = result.ran;
}

std::string history_path(const std::optional<std::string>& out, const environment& env) {
    if (!out) {
        const auto dir = state_dir_from(env);
        std::error_code ec;
        if (!std::filesystem::exists(dir, ec)) {
            std::filesystem::create_directories(dir, ec);
            if (!ec) std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
        }
        return (dir / "measurements.jsonl").string();
    }
    const std::string& path = *out;
    if (path.empty()) throw usage_error("--out '' is invalid: give a file path");
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return path;  // a new history
    if (S_ISLNK(st.st_mode) || !S_ISREG(st.st_mode)) {
        throw usage_error(fmt::format("--out '{}' is not a regular file: give a JSON-lines history (or a new path)",
                                      escape_for_terminal(path)));
    }
    std::ifstream in(path, std::ios::binary);
    std::string first;
    if (std::getline(in, first) && !first.empty()) {
        if (first.size() > max_record_line_bytes) first.resize(max_record_line_bytes + 1);
        const auto parsed = parse_measurement_record(first);
        if (!parsed.ok()) {
            throw usage_error(
                fmt::format("--out '{}' exists and is not a measurement history (line 1: {}); give a .jsonl history of "
                            "records, an empty file or a new path",
                            escape_for_terminal(path), escape_for_terminal(parsed.error->message)));
        }
    }
    return path;
}

std::string rfc3339_now() {
    const std::time_t now = std::time(nullptr);
    std::tm utc{};
    ::gmtime_r(&now, &utc);
    std::array<char, 32> text{};
    const auto n = std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%SZ", &utc);
    return {text.data(), n};
}

void append_record(const std::string& path, const record_inputs& in) {
    const memory_estimate& e = *in.estimate;
    const gpu_measurement& g = *in.gpu;
    measurement_record r;
    r.engine = e.request.engine;
    r.model = e.request.model;
    r.precision = e.request.precision;
    r.batch_size = e.request.batch_size;
    r.beam_size = e.request.beam_size.value_or(1);
    r.gpu_name = g.name;
    r.peak_bytes = g.peak_bytes;
    r.peak_method =
        g.method == peak_method::process_tree ? peak_method_kind::process_tree : peak_method_kind::device_delta;
    if (g.capability) r.compute_capability = fmt::format("{}.{}", g.capability->major, g.capability->minor);
    if (!g.uuid.empty()) r.gpu_uuid = g.uuid;
    r.cuda_module_loading = in.cuda_module_loading;
    r.baseline_bytes = g.baseline_bytes;
    r.duration_s = static_cast<double>(in.duration.count()) / 1000.0;
    if (in.exit_status && *in.exit_status >= 0 && *in.exit_status <= 255) r.exit_status = in.exit_status;
    r.estimate_total_bytes = e.total_required_bytes;
    if (!in.time.empty()) r.time = in.time;
    if (!g.notes.empty()) {
        std::string notes;
        for (const auto& n : g.notes) notes += (notes.empty() ? "" : "; ") + n;
        r.notes = notes;
    }
    const std::string line = to_json_line(r) + '\n';
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0) {
        throw state_error(
            fmt::format("cannot open the measurement history '{}': {}; give another --out or fix the file",
                        escape_for_terminal(path), std::strerror(errno)));
    }
    ssize_t n = 0;
    do {
        n = ::write(fd, line.data(), line.size());  // one write: O_APPEND keeps concurrent lines whole
    } while (n < 0 && errno == EINTR);
    const int saved = errno;
    ::close(fd);
    if (n != static_cast<ssize_t>(line.size())) {
        throw state_error(fmt::format("cannot append to the measurement history '{}': {}", escape_for_terminal(path),
                                      n < 0 ? std::strerror(saved) : "short write"));
    }
}

}  // namespace whisper_vram::cli
