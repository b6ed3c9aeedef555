#pragma once
// The job's process group and its guardian: what makes `whisper-vram run` leave no orphans.
//
// `run` starts the job as the leader of a process group of its own (pgid = the job's pid) and,
// before that, forks a guardian: a small process (in a process group of its own, ignoring every
// catchable signal) that holds the read end of a socket pair whose other end only `run` holds. When `run`
// dies, by any signal, SIGKILL included, the kernel closes its end: the guardian reads EOF and
// ends the job's group (SIGTERM, the grace period, SIGKILL). When the job ends normally `run` ends
// what is left of the group itself, then disarms the guardian (one byte) before releasing the
// reservation. The ledger keeps a reservation whose holder died while its child_pid group still has
// a member (process_table::group_alive), so the next job is never admitted beside a survivor.
//
// Where cgroup v2 is mounted and our own cgroup folder is writable (root, or a delegated subtree),
// the job also gets a cgroup of its own, `<our cgroup>/whisper-vram-run-<run pid>-ns<PID
// namespace>-<job pid>` (a leaf: the "no internal processes" rule is kept), joined before it
// execs. Ending the job (run, or the guardian when run died) then also kills the whole cgroup
// (cgroup.kill, or SIGKILL to each pid of cgroup.procs until none is left) and removes it, so a
// process that left the job's process group (`setsid`) dies too. Should run and its guardian both
// be SIGKILLed before that (a supervisor that kills every process of a session), the next run
// removes the empty cgroup left behind (sweep_stale_job_cgroups). Otherwise (no cgroup v2, not writable, mkdir or the
// move refused): the process group alone, silently; `debug` says which applies and why.

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace whisper_vram::cli {

/// Where this process sits in cgroup v2.
struct cgroup_probe {
    std::string mount;      ///< the cgroup2 mount point ("" when none)
    std::string dir;        ///< our own cgroup's folder ("" when not found)
    bool writable = false;  ///< a job cgroup can be made in dir (and a process moved into it)
    std::string reason;     ///< why (not) writable, or why there is no dir
};
/// Reads /proc/self/mountinfo and /proc/self/cgroup (and checks access to the folder).
[[nodiscard]] cgroup_probe probe_cgroup();

/// The containment `run` will use and why, one line for `debug` (human and --json notes).
[[nodiscard]] std::string cgroup_availability();

/// The folder of job @p pgid's cgroup while it exists (made by job_guardian::watch); nullopt otherwise.
[[nodiscard]] std::optional<std::string> job_cgroup(pid_t pgid);

/// True while process group @p pgid has a member (zombies included): kill(-pgid, 0), or its job
/// cgroup (if any) holds a process.
[[nodiscard]] bool process_group_alive(pid_t pgid) noexcept;

/// Ends process group @p pgid: SIGTERM (and SIGCONT), up to @p grace for it to end, SIGKILL; then
/// kills what is left in its job cgroup (if any) and removes the cgroup; then (when @p await_removal)
/// up to 10 s more for the kernel to remove them. Meanwhile reaps this
/// process's exited children of that group (run is a child subreaper: the job's orphans become its
/// children). Async-signal-safe (kill, waitpid, nanosleep only), so the guardian uses it after
/// fork. Returns true when the group is gone (or SIGKILL was sent, without @p await_removal).
bool end_process_group(pid_t pgid, std::chrono::milliseconds grace, bool await_removal = true) noexcept;

/// This process's PID namespace: the inode of /proc/self/ns/pid; nullopt when it cannot be read.
[[nodiscard]] std::optional<std::uint64_t> own_pid_namespace();

/// A job cgroup's name, `whisper-vram-run-<run pid>-ns<PID namespace>-<job pid>` (or, as versions
/// before the namespace made it, `whisper-vram-run-<run pid>-<job pid>`), read.
struct job_cgroup_name {
    pid_t run_pid = 0;
    std::optional<std::uint64_t> pid_namespace;  ///< none in the older form
};
/// @p name read; nullopt for anything else (another cgroup, a run pid of more than 9 digits).
[[nodiscard]] std::optional<job_cgroup_name> parse_job_cgroup_name(std::string_view name);

/// How old an empty job cgroup of another PID namespace's run must be before
/// sweep_stale_job_cgroups() removes it: that run's pid means nothing here, and its job's cgroup is
/// empty for the moment between being made and the job moving in (milliseconds), so an empty one a
/// minute old belongs to no job starting. Chosen, not measured: far above that moment, short
/// enough that a supervisor's restart loop does not pile them up.
inline constexpr std::chrono::seconds stale_job_cgroup_age{60};

/// Removes the empty job cgroups in @p dir whose run is no longer alive: those whose run and
/// guardian were both killed before they removed them (a supervisor that SIGKILLs every process of
/// a session). Of this PID namespace (or of the older name without one): when the run's pid names no
/// process. Of another PID namespace: once the folder's mtime is stale_job_cgroup_age old. Only
/// rmdir, which the kernel refuses while a cgroup holds a process: nothing is killed. Returns how
/// many it removed; run calls it before making its own.
std::size_t sweep_stale_job_cgroups(const std::string& dir);

/// The guardian process (see the file comment). Not copyable; the destructor closes the socket and
/// reaps the guardian (call disarm() first, or the guardian ends the watched group).
class job_guardian {
public:
    /// Forks the guardian; @p grace is its SIGTERM-to-SIGKILL delay.
    /// @throws error when socketpair or fork fails.
    explicit job_guardian(std::chrono::milliseconds grace);
    ~job_guardian();
    job_guardian(const job_guardian&) = delete;
    job_guardian& operator=(const job_guardian&) = delete;
    job_guardian(job_guardian&&) = delete;
    job_guardian& operator=(job_guardian&&) = delete;

    /// Tells the guardian which group to end if run dies; first moves @p pgid (the job, not yet
    /// exec'd) into a job cgroup of its own where the machine allows (see the file comment).
    void watch(pid_t pgid) noexcept;
    /// The group is gone: the guardian exits without signalling anything; the (empty) job cgroup is removed.
    void disarm() noexcept;
    /// The guardian's pid.
    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    /// run's end of the socket pair (close-on-exec: the job does not keep it).
    [[nodiscard]] int write_fd() const noexcept { return write_fd_; }

private:
    int write_fd_ = -1;
    pid_t pid_ = 0;
    pid_t watched_ = 0;
};

}  // namespace whisper_vram::cli
