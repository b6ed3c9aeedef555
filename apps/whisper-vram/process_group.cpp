// The job's process group and its guardian (see process_group.hpp).

#include "process_group.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

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

// ---- the job's cgroup (cgroup v2, where our own cgroup folder is writable) -------------------------
// Its folder is g_cgroup_prefix + the job's pgid ("<our cgroup>/whisper-vram-run-<run's pid>-ns<its
// PID namespace>-"), set before the guardian forks, so the guardian (async-signal-safe calls only)
// finds it too. Empty: none.
char g_cgroup_prefix
    [4096];  // NOLINT(cppcoreguidelines-avoid-c-arrays,cppcoreguidelines-avoid-non-const-global-variables)
std::size_t g_cgroup_prefix_size = 0;  // NOLINT(cppcoreguidelines-avoid-non-const-global-variables)

// @p out = the job cgroup's folder (+ "/" + @p leaf when given); false when there is none or it does
// not fit. Async-signal-safe.
bool job_cgroup_path(pid_t pgid, const char* leaf, char* out, std::size_t size) noexcept {
    if (g_cgroup_prefix_size == 0 || pgid <= 0) return false;
    char digits[16];  // NOLINT(cppcoreguidelines-avoid-c-arrays)
    std::size_t n = 0;
    for (auto v = static_cast<unsigned long>(pgid); v > 0 && n < sizeof digits; v /= 10) {
        digits[n++] = static_cast<char>('0' + (v % 10));
    }
    const std::size_t leaf_size = leaf != nullptr ? std::strlen(leaf) + 1 : 0;
    if (g_cgroup_prefix_size + n + leaf_size + 1 > size) return false;
    std::memcpy(out, g_cgroup_prefix, g_cgroup_prefix_size);
    std::size_t at = g_cgroup_prefix_size;
    while (n > 0) out[at++] = digits[--n];
    if (leaf != nullptr) {
        out[at++] = '/';
        std::memcpy(out + at, leaf, leaf_size - 1);
        at += leaf_size - 1;
    }
    out[at] = '\0';
    return true;
}

// Writes @p text to the cgroup file @p leaf of @p pgid's cgroup; false when that fails (or there is none).
bool write_cgroup_file(pid_t pgid, const char* leaf, const char* text) noexcept {
    char path[4200];  // NOLINT(cppcoreguidelines-avoid-c-arrays)
    if (!job_cgroup_path(pgid, leaf, path, sizeof path)) return false;
    const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    const auto size = std::strlen(text);
    const bool ok = ::write(fd, text, size) == static_cast<ssize_t>(size);
    ::close(fd);
    return ok;
}

// True while @p pgid's cgroup holds a process (cgroup.procs is not empty).
bool cgroup_populated(pid_t pgid) noexcept {
    char path[4200];  // NOLINT(cppcoreguidelines-avoid-c-arrays)
    if (!job_cgroup_path(pgid, "cgroup.procs", path, sizeof path)) return false;
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char c = 0;
    const bool any = ::read(fd, &c, 1) == 1;
    ::close(fd);
    return any;
}

// Milliseconds on the monotonic clock (async-signal-safe): bounds are wall time, not a count of
// naps, so a loaded machine that oversleeps each nap does not stretch them.
std::int64_t monotonic_ms() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// SIGKILLs every process of @p pgid's cgroup (cgroup.kill, or each pid of cgroup.procs until none is
// left), then removes the cgroup, within @p bound of wall time. Async-signal-safe.
void end_cgroup(pid_t pgid, std::chrono::milliseconds bound) noexcept {
    char path[4200];  // NOLINT(cppcoreguidelines-avoid-c-arrays)
    if (!job_cgroup_path(pgid, nullptr, path, sizeof path) || ::access(path, F_OK) != 0) return;
    const bool killed_all = write_cgroup_file(pgid, "cgroup.kill", "1");
    char procs[4200];  // NOLINT(cppcoreguidelines-avoid-c-arrays)
    (void)job_cgroup_path(pgid, "cgroup.procs", procs, sizeof procs);
    const std::int64_t deadline = monotonic_ms() + bound.count();
    for (;;) {
        if (!killed_all) {  // no cgroup.kill (before Linux 5.14): one pid at a time
            const int fd = ::open(procs, O_RDONLY | O_CLOEXEC);
            char buf[4096];  // NOLINT(cppcoreguidelines-avoid-c-arrays)
            const ssize_t got = fd >= 0 ? ::read(fd, buf, sizeof buf) : 0;
            if (fd >= 0) ::close(fd);
            long pid = 0;
            for (ssize_t i = 0; i < got; ++i) {
                if (buf[i] >= '0' && buf[i] <= '9') {
                    pid = pid * 10 + (buf[i] - '0');
                } else {
                    if (pid > 1) ::kill(static_cast<pid_t>(pid), SIGKILL);
                    pid = 0;
                }
            }
        }
        if (::rmdir(path) == 0 || errno == ENOENT || monotonic_ms() >= deadline) return;
        nap(poll_step);
    }
}

// Reaps the group's members that are this process's children (orphans adopted by the subreaper).
void reap_group(pid_t pgid) noexcept {
    int raw = 0;
    while (::waitpid(-pgid, &raw, WNOHANG) > 0) {
    }
}

// True while process group @p pgid has a member (its cgroup aside).
bool group_has_members(pid_t pgid) noexcept { return pgid > 1 && (::kill(-pgid, 0) == 0 || errno == EPERM); }

// Waits up to @p bound for the group (and, with @p with_cgroup, its cgroup) to vanish, reaping what it may.
bool wait_gone(pid_t pgid, std::chrono::milliseconds bound, bool with_cgroup = true) noexcept {
    const std::int64_t deadline = monotonic_ms() + bound.count();
    for (;;) {
        reap_group(pgid);
        if (!group_has_members(pgid) && !(with_cgroup && cgroup_populated(pgid))) return true;
        if (monotonic_ms() >= deadline) return false;
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

cgroup_probe probe_cgroup() {
    cgroup_probe out;
    // The cgroup v2 mount (at /sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid system).
    std::ifstream mountinfo("/proc/self/mountinfo");
    std::string line;
    std::string mount_root;
    while (std::getline(mountinfo, line)) {
        std::istringstream fields(line);
        std::vector<std::string> f;
        for (std::string w; fields >> w;) f.push_back(w);
        const auto dash = std::find(f.begin(), f.end(), "-");
        if (f.size() < 5 || dash == f.end() || dash + 1 == f.end() || *(dash + 1) != "cgroup2") continue;
        mount_root = f[3];
        out.mount = f[4];
        break;
    }
    std::ifstream self("/proc/self/cgroup");
    std::string path;
    while (std::getline(self, line)) {
        if (line.starts_with("0::")) path = line.substr(3);
    }
    if (out.mount.empty() || path.empty()) {
        out.reason = "no cgroup v2 hierarchy is mounted";
        return out;
    }
    if (mount_root != "/") {
        if (!path.starts_with(mount_root)) {
            out.reason = fmt::format("our cgroup {} is outside the cgroup v2 mount at {}", path, out.mount);
            return out;
        }
        path = path.substr(mount_root.size());
    }
    out.dir = out.mount + (path == "/" ? "" : path);
    out.writable = ::access(out.dir.c_str(), W_OK) == 0 && ::access((out.dir + "/cgroup.procs").c_str(), W_OK) == 0;
    out.reason = out.writable ? "writable (root, or a delegated subtree)" : "not writable (not delegated to this user)";
    return out;
}

std::string cgroup_availability() {
    const auto p = probe_cgroup();
    if (p.dir.empty()) {
        return fmt::format(
            "job containment: process group only ({}); a job process that leaves its process group "
            "(setsid) can outlive run",
            p.reason);
    }
    if (!p.writable) {
        return fmt::format(
            "job containment: process group only: cgroup v2 at {} is {}; a job process that leaves its "
            "process group (setsid) can outlive run",
            p.dir, p.reason);
    }
    return fmt::format(
        "job containment: per-job cgroup and process group: cgroup v2 at {} is {}, so run puts each "
        "job in {}/whisper-vram-run-<run pid>-ns<pid namespace>-<job pid> and kills the whole cgroup "
        "(cgroup.kill) when the job ends or run dies",
        p.dir, p.reason, p.dir);
}

std::optional<std::string> job_cgroup(pid_t pgid) {
    char path[4200];  // NOLINT(cppcoreguidelines-avoid-c-arrays)
    if (!job_cgroup_path(pgid, nullptr, path, sizeof path) || ::access(path, F_OK) != 0) return std::nullopt;
    return std::string(path);
}

bool process_group_alive(pid_t pgid) noexcept { return group_has_members(pgid) || cgroup_populated(pgid); }

bool end_process_group(pid_t pgid, std::chrono::milliseconds grace, bool await_removal) noexcept {
    if (pgid <= 1) return true;
    reap_group(pgid);
    if (group_has_members(pgid)) {
        ::kill(-pgid, SIGTERM);
        ::kill(-pgid, SIGCONT);  // a stopped member cannot act on SIGTERM
        if (!wait_gone(pgid, grace, false)) ::kill(-pgid, SIGKILL);
    }
    // What is left in the job's cgroup (a process that left the group with setsid): killed, and the
    // cgroup removed. Without a cgroup: nothing.
    // The guardian (no await_removal) waits as long: it has nothing else to do, and giving up early
    // leaves an empty cgroup behind (sweep_stale_job_cgroups removes it at the next run).
    end_cgroup(pgid, removal_bound);
    return !await_removal || wait_gone(pgid, removal_bound);
}

std::optional<std::uint64_t> own_pid_namespace() {
    struct stat st {};
    if (::stat("/proc/self/ns/pid", &st) != 0) return std::nullopt;
    return static_cast<std::uint64_t>(st.st_ino);
}

std::optional<job_cgroup_name> parse_job_cgroup_name(std::string_view name) {
    constexpr std::string_view prefix = "whisper-vram-run-";
    if (!name.starts_with(prefix)) return std::nullopt;
    name.remove_prefix(prefix.size());
    // Leading decimal digits of @p text (at most @p max of them) followed by '-', consumed; else
    // nullopt. (20 digits can pass 2^64: a wrapped namespace is taken for another one, the safe side.)
    const auto number = [](std::string_view& text, std::size_t max) -> std::optional<std::uint64_t> {
        const auto dash = text.find('-');
        if (dash == 0 || dash == std::string_view::npos || dash > max) return std::nullopt;
        std::uint64_t value = 0;
        for (const char c : text.substr(0, dash)) {
            if (c < '0' || c > '9') return std::nullopt;
            value = value * 10 + static_cast<std::uint64_t>(c - '0');
        }
        text.remove_prefix(dash + 1);
        return value;
    };
    const auto run = number(name, 9);
    if (!run) return std::nullopt;
    job_cgroup_name out{static_cast<pid_t>(*run), std::nullopt};
    if (name.starts_with("ns")) {  // whisper-vram-run-<run pid>-ns<PID namespace>-<job pid>
        name.remove_prefix(2);
        out.pid_namespace = number(name, 20);
        if (!out.pid_namespace) return std::nullopt;
    }
    return out;
}

std::size_t sweep_stale_job_cgroups(const std::string& dir) {
    std::size_t removed = 0;
    std::error_code ec;
    const auto own_namespace = own_pid_namespace();
    const std::time_t now = std::time(nullptr);
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        const auto name = parse_job_cgroup_name(entry.path().filename().string());
        if (!name) continue;
        if (name->pid_namespace && name->pid_namespace != own_namespace) {
            // Another PID namespace's run (a container sharing this cgroup folder): its pid names
            // nothing here, and its job's cgroup is empty for the moment between being made and the
            // job moving in. Only once it is stale_job_cgroup_age old (by its mtime: kernfs may set
            // that to now again when it drops the inode, which keeps it longer, never shorter).
            struct stat st {};
            if (::stat(entry.path().c_str(), &st) != 0 || now - st.st_mtime < stale_job_cgroup_age.count()) continue;
        } else if (name->run_pid <= 1 || ::kill(name->run_pid, 0) == 0 || errno != ESRCH) {
            continue;  // its run lives (or may)
        }
        if (::rmdir(entry.path().c_str()) == 0) ++removed;  // refused (EBUSY) while it holds a process
    }
    return removed;
}

job_guardian::job_guardian(std::chrono::milliseconds grace) {
    // The job cgroups' folder prefix, before the fork: the guardian needs it too.
    g_cgroup_prefix_size = 0;
    if (const auto p = probe_cgroup(); p.writable) {
        (void)sweep_stale_job_cgroups(p.dir);
        // The PID namespace in the name: a sweep in another namespace (where our pid means nothing)
        // tells our cgroups from its own (sweep_stale_job_cgroups).
        const auto own_namespace = own_pid_namespace();
        const auto prefix = own_namespace
                                ? fmt::format("{}/whisper-vram-run-{}-ns{}-", p.dir, ::getpid(), *own_namespace)
                                : fmt::format("{}/whisper-vram-run-{}-", p.dir, ::getpid());
        if (prefix.size() < sizeof g_cgroup_prefix) {
            std::memcpy(g_cgroup_prefix, prefix.c_str(), prefix.size() + 1);  // with its NUL
            g_cgroup_prefix_size = prefix.size();
        }
    }
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
    watched_ = pgid;
    // The guardian learns the group first: run killed from here on leaves no cgroup that nobody
    // removes (the guardian ends the group and its cgroup, if run got as far as making one).
    const auto message = static_cast<std::int32_t>(pgid);
    (void)write_all(write_fd_, &message, sizeof message);
    // A cgroup of its own for the job (it waits for run's go before exec: nothing of it runs yet).
    // Any failure: no cgroup, the process group alone (silently; debug says which applies).
    char path[4200];  // NOLINT(cppcoreguidelines-avoid-c-arrays)
    if (job_cgroup_path(pgid, nullptr, path, sizeof path) && ::mkdir(path, 0755) == 0) {
        const auto pid = std::to_string(pgid);
        if (!write_cgroup_file(pgid, "cgroup.procs", pid.c_str())) ::rmdir(path);
    }
}

void job_guardian::disarm() noexcept {
    const std::int32_t message = 0;
    (void)write_all(write_fd_, &message, sizeof message);
    char path[4200];  // NOLINT(cppcoreguidelines-avoid-c-arrays)
    if (job_cgroup_path(watched_, nullptr, path, sizeof path)) ::rmdir(path);  // empty now: the group is gone
}

}  // namespace whisper_vram::cli
