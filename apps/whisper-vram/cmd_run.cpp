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

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <iostream>

#include "commands.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/sched/scheduler.hpp"

namespace whisper_vram::cli {
namespace {

volatile std::sig_atomic_t g_signal = 0;  // last SIGINT/SIGTERM/SIGHUP received
volatile pid_t g_child = 0;               // the running child, 0 before fork

// Forwards a signal to the child. A signal the terminal generated (Ctrl-C: si_code SI_KERNEL)
// already reached the child, which shares our process group, so only signals sent by a process
// (kill: si_code ≤ 0) are forwarded; the child would otherwise see Ctrl-C twice.
void on_signal(int sig, siginfo_t* info, void* /*context*/) {
    g_signal = sig;
    const pid_t child = g_child;
    if (child > 0 && (info == nullptr || info->si_code <= 0)) ::kill(child, sig);
}

void install_handlers() {
    struct sigaction sa {};
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;  // no SA_RESTART: waitpid returns EINTR and re-checks
    sigemptyset(&sa.sa_mask);
    for (const int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
}

struct run_options {
    std::string model;
    estimate_options estimate;
    std::optional<std::string> gpus;
    std::optional<std::string> timeout;
    std::string policy = "best-fit";
    std::optional<std::string> simulate;
    std::vector<std::string> command;
};

std::optional<std::chrono::milliseconds> parse_timeout(const std::optional<std::string>& text) {
    if (!text) return std::nullopt;
    double seconds = 0;
    std::size_t used = 0;
    bool ok = false;
    try {
        seconds = std::stod(*text, &used);
        ok = used == text->size() && std::isfinite(seconds) && seconds >= 0 && seconds <= 366.0 * 86400;
    } catch (const std::exception&) {
        ok = false;
    }
    if (!ok) throw usage_error(fmt::format("--timeout '{}' is invalid: seconds, a number from 0 to 31622400", *text));
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(seconds * 1000.0)));
}

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
            static_cast<double>(p.waited.count()) / 1000.0, format_gib(p.needed_bytes), model,
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

// The job's own exit status, passed through (any value 0-255), or 128 + N after signal N.
exit_status exit_status_of(int raw) {
    if (WIFEXITED(raw)) return static_cast<exit_status>(WEXITSTATUS(raw));
    if (WIFSIGNALED(raw)) return signal_status(WTERMSIG(raw));
    return exit_status::does_not_fit;  // neither: a generic failure (1)
}

exit_status run_job(const run_options& o, const context& c) {
    if (o.command.empty()) {
        throw usage_error("run: no COMMAND given; usage: whisper-vram run --model M [options] -- COMMAND [ARGS...]");
    }
    const estimate_request job = to_request(o.estimate, o.model);
    (void)estimate(job);  // a bad configuration is reported before anything else
    const auto timeout = parse_timeout(o.timeout);
    const auto policy = parse_placement_policy(o.policy);
    auto manager = make_manager(c, o.simulate, ledger_use::state_folder);
    // Sized for each listed GPU's card (compute capability): gpu_manager::sized_reserve_request.
    reserve_request request = manager.sized_reserve_request(job, o.gpus.value_or(""));
    request.timeout = timeout;
    request.policy = policy;
    auto& sched = manager.get_scheduler();

    install_handlers();
    status_line status(c.err);
    request.on_wait = [&](const wait_progress& p) { status.show(p, request.model); };
    request.cancelled = [] { return g_signal != 0; };
    auto result = sched.reserve(request);
    status.finish();
    switch (result.status) {
        case reserve_status::granted:
            break;
        case reserve_status::never_fits:
            c.err << "whisper-vram run: " << result.message << '\n';
            return exit_status::does_not_fit;
        case reserve_status::gpu_unavailable:
            c.err << "whisper-vram run: " << result.message << '\n';
            return exit_status::gpu_unavailable;
        case reserve_status::timed_out:
            c.err << "whisper-vram run: " << result.message << '\n';
            return exit_status::timeout;
        case reserve_status::cancelled:
            c.err << "whisper-vram run: interrupted while waiting; nothing was started\n";
            return signal_status(static_cast<int>(g_signal));
    }
    lease held = std::move(result.granted_lease);
    const auto& info = held.info();

    std::vector<char*> argv;
    for (const auto& arg : o.command) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    const std::string uuid = info.gpu_uuid;
    const std::string index = std::to_string(info.gpu_index);
    const std::string bytes = std::to_string(info.bytes);

    int error_pipe[2];
    if (::pipe2(error_pipe, O_CLOEXEC) != 0) throw error(fmt::format("run: pipe: {}", std::strerror(errno)));
    sigset_t block;
    sigset_t previous;
    sigemptyset(&block);
    for (const int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&block, sig);
    ::sigprocmask(SIG_BLOCK, &block, &previous);  // no forwarding before g_child is set
    const pid_t parent = ::getpid();
    const pid_t child = ::fork();
    if (child < 0) {
        const int saved = errno;
        ::sigprocmask(SIG_SETMASK, &previous, nullptr);
        throw error(fmt::format("run: fork: {}", std::strerror(saved)));
    }
    if (child == 0) {
        for (const int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, SIG_DFL);
        ::sigprocmask(SIG_SETMASK, &previous, nullptr);
        // If run dies (even by SIGKILL) its reservation is reaped; stop the job too rather than let
        // it use memory nobody accounts for.
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != parent) ::_exit(to_int(signal_status(SIGTERM)));
        ::setenv("CUDA_VISIBLE_DEVICES", uuid.c_str(), 1);
        ::setenv("WHISPER_VRAM_GPU", uuid.c_str(), 1);
        ::setenv("WHISPER_VRAM_GPU_INDEX", index.c_str(), 1);
        ::setenv("WHISPER_VRAM_RESERVED_BYTES", bytes.c_str(), 1);
        ::execvp(argv[0], argv.data());
        const int saved = errno;
        [[maybe_unused]] const auto n = ::write(error_pipe[1], &saved, sizeof saved);
        ::_exit(to_int(exit_status::cannot_execute));
    }
    g_child = child;
    ::sigprocmask(SIG_SETMASK, &previous, nullptr);
    ::close(error_pipe[1]);
    int exec_errno = 0;
    ssize_t got = 0;
    do {
        got = ::read(error_pipe[0], &exec_errno, sizeof exec_errno);
    } while (got < 0 && errno == EINTR);
    ::close(error_pipe[0]);
    if (got == static_cast<ssize_t>(sizeof exec_errno)) {
        int raw = 0;
        while (::waitpid(child, &raw, 0) < 0 && errno == EINTR) {
        }
        g_child = 0;
        held.release();
        c.err << fmt::format("whisper-vram run: cannot execute '{}': {}\n", o.command.front(),
                             std::strerror(exec_errno));
        return exit_status::cannot_execute;
    }
    try {
        held.attach_child(static_cast<std::uint32_t>(child));
    } catch (const std::exception& ex) {  // attribution is an optimisation; the job runs regardless
        c.err << "whisper-vram run: warning: " << ex.what() << '\n';
    }
    int raw = 0;
    for (;;) {
        if (::waitpid(child, &raw, 0) == child) break;
        if (errno != EINTR) {
            raw = 1 << 8;
            break;
        }
    }
    g_child = 0;
    held.release();
    return exit_status_of(raw);
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
    add_simulate_option(*command, options->simulate);
    command->add_option("command", options->command, "the job: COMMAND [ARGS...], after --");
    add_footer(*command,
               "The job runs with CUDA_VISIBLE_DEVICES=<GPU UUID>, WHISPER_VRAM_GPU=<UUID>, "
               "WHISPER_VRAM_GPU_INDEX=<NVML index>.\n"
               "Exit status: the job's (128+N if killed by signal N); 124 timeout; 127 cannot execute; 1 never fits;\n"
               "2 usage error; 3 GPU information unavailable. Reservations live in WHISPER_VRAM_STATE_DIR.",
               {"whisper-vram run --model large --precision float16 -- python transcribe.py a.wav",
                "whisper-vram run --model medium --gpus 0,1 --timeout 600 --policy most-free -- ./job.sh"});
}

}  // namespace whisper_vram::cli
