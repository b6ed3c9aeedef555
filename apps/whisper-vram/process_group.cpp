// The job's process group and its guardian (see process_group.hpp).

#include "process_group.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>

#include "whisper_vram/core/error.hpp"

namespace whisper_vram::cli {
namespace {

constexpr std::chrono::milliseconds poll_step{10};
constexpr std::chrono::milliseconds removal_bound{10000};  // after SIGKILL: the kernel's part

void nap(std::chrono::milliseconds ms) noexcept {
    timespec ts{};
    ts.tv_sec = static_cast<std::time_t>(ms.count() / 1000);
    ts.tv_nsec = static_cast<long>((ms.count() % 1000) * 1000000);
    while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

// Reaps the group's members that are this process's children (orphans adopted by the subreaper).
void reap_group(pid_t pgid) noexcept {
    int raw = 0;
    while (::waitpid(-pgid, &raw, WNOHANG) > 0) {
    }
}

// Waits up to @p bound for the group to vanish, reaping what it may.
bool wait_gone(pid_t pgid, std::chrono::milliseconds bound) noexcept {
    for (std::chrono::milliseconds waited{0};; waited += poll_step) {
        reap_group(pgid);
        if (!process_group_alive(pgid)) return true;
        if (waited >= bound) return false;
        nap(poll_step);
    }
}

// send with MSG_NOSIGNAL: a guardian that died must not kill run with SIGPIPE.
bool write_all(int fd, const void* data, std::size_t size) noexcept {
    const auto* bytes = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t n = ::send(fd, bytes, size, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        bytes += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

// The guardian's whole life (after fork: async-signal-safe calls only). Messages are one int32:
// a pgid to watch, or 0 = disarm.
[[noreturn]] void guardian_main(int read_fd, std::chrono::milliseconds grace) noexcept {
    ::setpgid(0, 0);  // not in run's group: `kill -9 -RUNPGID` must not take the guardian along
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    for (int sig = 1; sig < NSIG; ++sig) {
        if (sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD) ::sigaction(sig, &ignore, nullptr);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // Let go of run's terminal and pipes: a reader of run's output must not wait for the guardian.
    const int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
        for (const int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) ::dup2(null, fd);
        if (null > STDERR_FILENO) ::close(null);
    }
    pid_t watched = 0;
    for (;;) {
        std::int32_t message = 0;
        const ssize_t n = ::read(read_fd, &message, sizeof message);
        if (n < 0 && errno == EINTR) continue;
        if (n == static_cast<ssize_t>(sizeof message)) {
            if (message == 0) ::_exit(0);  // disarmed: the group is gone
            watched = static_cast<pid_t>(message);
            continue;
        }
        break;  // EOF (run died) or an error: end the group
    }
    // Not waiting for the kernel after SIGKILL: the killed members' zombies go to init, which may
    // reap them late; the ledger does not count zombies.
    if (watched > 1) (void)end_process_group(watched, grace, false);
    ::_exit(0);
}

}  // namespace

std::string cgroup_availability() {
    std::ifstream self("/proc/self/cgroup");
    std::string line;
    std::string path;
    while (std::getline(self, line)) {
        if (line.starts_with("0::")) path = line.substr(3);
    }
    const std::string root = "/sys/fs/cgroup";
    if (path.empty() || ::access((root + "/cgroup.controllers").c_str(), F_OK) != 0) {
        return "job cgroup: not available (no cgroup v2 hierarchy at /sys/fs/cgroup); run ends jobs by process group";
    }
    const std::string dir = root + (path == "/" ? "" : path);
    const bool writable = ::access(dir.c_str(), W_OK) == 0 && ::access((dir + "/cgroup.procs").c_str(), W_OK) == 0 &&
                          ::access((dir + "/cgroup.subtree_control").c_str(), W_OK) == 0;
    return fmt::format(
        "job cgroup: cgroup v2 at {} is {}; run ends jobs by process group (own cgroups are not "
        "used yet)",
        dir, writable ? "writable (delegated): a job could get a cgroup of its own" : "not writable");
}

bool process_group_alive(pid_t pgid) noexcept {
    if (pgid <= 1) return false;
    return ::kill(-pgid, 0) == 0 || errno == EPERM;
}

bool end_process_group(pid_t pgid, std::chrono::milliseconds grace, bool await_removal) noexcept {
    if (pgid <= 1) return true;
    reap_group(pgid);
    if (!process_group_alive(pgid)) return true;
    ::kill(-pgid, SIGTERM);
    ::kill(-pgid, SIGCONT);  // a stopped member cannot act on SIGTERM
    if (wait_gone(pgid, grace)) return true;
    ::kill(-pgid, SIGKILL);
    return !await_removal || wait_gone(pgid, removal_bound);
}

job_guardian::job_guardian(std::chrono::milliseconds grace) {
    int fds[2];  // a socket pair rather than a pipe: send() can refuse SIGPIPE
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
        throw error(fmt::format("run: socketpair: {}", std::strerror(errno)));
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
        const int saved = errno;
        ::close(fds[0]);
        ::close(fds[1]);
        throw error(fmt::format("run: fork (guardian): {}", std::strerror(saved)));
    }
    if (pid == 0) {
        ::close(fds[1]);
        guardian_main(fds[0], grace);
    }
    ::close(fds[0]);
    write_fd_ = fds[1];
    pid_ = pid;
}

job_guardian::~job_guardian() {
    if (write_fd_ >= 0) ::close(write_fd_);
    if (pid_ > 0) {
        int raw = 0;
        while (::waitpid(pid_, &raw, 0) < 0 && errno == EINTR) {
        }
    }
}

void job_guardian::watch(pid_t pgid) noexcept {
    const auto message = static_cast<std::int32_t>(pgid);
    (void)write_all(write_fd_, &message, sizeof message);
}

void job_guardian::disarm() noexcept {
    const std::int32_t message = 0;
    (void)write_all(write_fd_, &message, sizeof message);
}

}  // namespace whisper_vram::cli
