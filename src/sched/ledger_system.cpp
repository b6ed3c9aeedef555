// The reservation ledger's OS side: the /proc process table, the wall clock, the in-memory
// ledger (a mutex) and the default state folder. The format is in ledger_format.cpp.

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "whisper_vram/sched/ledger.hpp"

namespace whisper_vram {

// ---- process table ------------------------------------------------------------------------------

std::optional<std::uint64_t> system_process_table::start_time(std::uint32_t pid) const {
    if (pid == 0) return std::nullopt;
    std::ifstream in(fmt::format("/proc/{}/stat", pid));
    if (!in) return std::nullopt;
    std::string text;
    std::getline(in, text);
    return parse_proc_stat_start_time(text);
}

process_identity system_process_table::self() const {
    const auto pid = static_cast<std::uint32_t>(::getpid());
    return process_identity{pid, start_time(pid).value_or(0)};
}

bool system_process_table::group_alive(std::uint32_t pgid) const {
    if (pgid <= 1 || pgid > static_cast<std::uint32_t>(std::numeric_limits<pid_t>::max())) return false;
    if (::kill(-static_cast<pid_t>(pgid), 0) != 0 && errno != EPERM) return false;  // ESRCH: no member
    // A member exists; zombies (exited, not yet reaped: they hold no GPU memory) do not count.
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
        const auto name = entry.path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream in(entry.path() / "stat");
        std::string text;
        if (!in || !std::getline(in, text)) continue;
        const auto close = text.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream fields(text.substr(close + 1));
        std::string state;
        std::uint64_t ppid = 0;
        std::uint64_t group = 0;
        if (!(fields >> state >> ppid >> group)) continue;  // fields 3, 4, 5
        if (group == pgid && state != "Z" && state != "X") return true;
    }
    return false;
}

host_identity system_process_table::host() const {
    // Read once per process: neither changes while it runs (setns of the pid namespace applies to
    // children only).
    static const host_identity identity = [] {
        host_identity h;
        struct stat st {};
        if (::stat("/proc/self/ns/pid", &st) == 0) h.pid_namespace = st.st_ino;
        std::ifstream in("/proc/sys/kernel/random/boot_id");
        std::getline(in, h.boot_id);
        return h;
    }();
    return identity;
}

std::int64_t system_wall_clock_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// ---- memory ledger --------------------------------------------------------------------------------

memory_ledger::memory_ledger(std::shared_ptr<const process_table> processes, wall_clock clock)
    : processes_(processes ? std::move(processes) : std::make_shared<system_process_table>()),
      clock_(clock ? std::move(clock) : wall_clock(system_wall_clock_ms)),
      self_(processes_->self()),
      host_(processes_->host()) {}

ledger_access memory_ledger::update(const std::function<bool(ledger_state&)>& fn) {
    const std::lock_guard lock(mutex_);
    ledger_access access;
    reap_dead(state_, *processes_, access, self_, host_, clock_());
    ledger_state working = state_;  // fn sees a copy: an exception leaves the ledger unchanged
    if (fn(working)) state_ = std::move(working);
    return access;
}

// ---- state folder and JSON ------------------------------------------------------------------------

std::filesystem::path default_state_dir(const std::optional<std::string>& state_dir_env,
                                        const std::optional<std::string>& xdg_runtime_dir, unsigned uid) {
    if (state_dir_env && !state_dir_env->empty()) return *state_dir_env;
    if (xdg_runtime_dir && !xdg_runtime_dir->empty()) return std::filesystem::path(*xdg_runtime_dir) / "whisper-vram";
    return fmt::format("/tmp/whisper-vram-{}", uid);
}

}  // namespace whisper_vram
