#pragma once
/// @file ledger.hpp
/// The reservation ledger: who holds how much GPU memory, and who waits, shared by every thread of
/// a program (memory_ledger) or by every process of a user (file_ledger, in the state folder).
///
/// Each record names its holder by pid AND process start time (/proc/PID/stat field 22, clock
/// ticks since boot), so a pid reused by a later process is not mistaken for the holder. Records
/// of dead holders (no such process, a zombie, or another start time) are reaped on every access,
/// so a holder killed with SIGKILL frees its capacity at the next access by anyone.
///
/// File format (version 1; one record per line, each line `JSON<TAB>crc32-hex8`):
///   {"format":"whisper-vram-ledger","version":1,"next_id":N}      header
///   {"type":"reservation","id":…,"gpu":UUID,"gpu_index":…,"pid":…,"start_time":…,"child_pid":…,
///    "bytes":…,"model":…,"since_ms":…}                            one per reservation
///   {"type":"waiter","id":…,"pid":…,"start_time":…,"bytes":…,"gpus":[UUID…],"model":…,"since_ms":…}
///   {"type":"end","records":K}                                    trailer: K lines above it
/// A bad header, a line whose checksum does not match, garbage, a missing trailer (truncation) or
/// a record count that disagrees is "corrupt": the ledger is rebuilt from the records that still
/// parse with a good checksum and whose holders are alive (possibly none), a warning is emitted,
/// and the rebuilt file is written back. It is never trusted blindly and never crashes a reader.
/// Every access holds `flock` on a separate `ledger.lock` file while it reads, reaps and rewrites the
/// ledger in place (pwrite + ftruncate: a rename over the file costs a forced writeback on ext4), so
/// no reader ever sees a half-written file; a machine crash or a kill in mid-write can leave one,
/// which the checksums and the end marker detect (then rebuilt). No fsync: after a machine crash
/// every holder is dead anyway.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "whisper_vram/core/warning_sink.hpp"

namespace whisper_vram {

/// A process as the ledger names it: pid plus its start time, so a reused pid is another process.
struct process_identity {
    std::uint32_t pid = 0;
    std::uint64_t start_time = 0;  ///< /proc/PID/stat field 22 (clock ticks since boot)
    friend bool operator==(const process_identity&, const process_identity&) = default;
};

/// One reservation: @p bytes of GPU memory held on one GPU by one process.
struct reservation_record {
    std::uint64_t id = 0;     ///< unique within the ledger (also the order of arrival)
    std::string gpu_uuid;     ///< the GPU, by UUID ("GPU-…"): the same in every process
    unsigned gpu_index = 0;   ///< its NVML index when reserved (informational)
    process_identity holder;  ///< the process holding the reservation
    /// A worker process whose GPU usage belongs to it (run's child); 0 = none. `run`'s child leads
    /// its own process group (pgid = child_pid): the record stays live while that group has a
    /// member, even after the holder died (reap_dead, process_table::group_alive).
    std::uint32_t child_pid = 0;
    std::uint64_t bytes = 0;    ///< reserved bytes (the configuration's `recommended`)
    std::string model;          ///< what it is for, e.g. "large float16 30s batch 1"
    std::int64_t since_ms = 0;  ///< wall clock, milliseconds since the Unix epoch
};

/// A request waiting for memory (FIFO: lower id = earlier).
struct waiter_record {
    std::uint64_t id = 0;
    process_identity holder;
    std::uint64_t bytes = 0;
    std::vector<std::string> gpu_uuids;  ///< the GPUs it may be placed on
    std::string model;
    std::int64_t since_ms = 0;
};

/// The whole ledger.
struct ledger_state {
    std::uint64_t next_id = 1;
    std::vector<reservation_record> reservations;
    std::vector<waiter_record> waiters;
    /// A fresh id (and advances next_id).
    std::uint64_t take_id() { return next_id++; }
};

/// What one ledger access found besides the state.
struct ledger_access {
    std::vector<reservation_record> reaped_reservations;  ///< dropped: holder dead
    std::vector<waiter_record> reaped_waiters;            ///< dropped: waiter dead
    std::vector<std::string> warnings;                    ///< corruption found and repaired
};

/// Process liveness and identity (faked in tests).
class process_table {
public:
    virtual ~process_table() = default;
    /// Start time of live process @p pid; nullopt when there is none or it is a zombie.
    [[nodiscard]] virtual std::optional<std::uint64_t> start_time(std::uint32_t pid) const = 0;
    /// This process.
    [[nodiscard]] virtual process_identity self() const = 0;
    /// True while any process of process group @p pgid lives (zombies included). A reservation
    /// whose child_pid names a live process group is live even after its holder died: `run` starts
    /// its job as the leader of its own group, and the job's processes may outlive `run` for a
    /// moment (its guardian kills them). Default: false (no groups known).
    [[nodiscard]] virtual bool group_alive(std::uint32_t pgid) const {
        (void)pgid;
        return false;
    }
    /// True when @p who is alive and is the same process (same start time).
    [[nodiscard]] bool alive(const process_identity& who) const {
        const auto t = start_time(who.pid);
        return t && *t == who.start_time;
    }
};

/// The real process table: /proc/PID/stat (field 3 state, field 22 start time).
class system_process_table final : public process_table {
public:
    [[nodiscard]] std::optional<std::uint64_t> start_time(std::uint32_t pid) const override;
    [[nodiscard]] process_identity self() const override;
    /// kill(-pgid, 0): succeeds (or EPERM) while the group has a member.
    [[nodiscard]] bool group_alive(std::uint32_t pgid) const override;
};

/// Parses the text of /proc/PID/stat: the start time (field 22), nullopt when the text is
/// malformed or the state (field 3) is Z (zombie) or X (dead). Handles ')' inside the command name.
std::optional<std::uint64_t> parse_proc_stat_start_time(std::string_view stat_text);

/// Wall clock in milliseconds since the epoch (faked in tests).
using wall_clock = std::function<std::int64_t()>;
/// The system clock.
std::int64_t system_wall_clock_ms();

// Warnings about repaired ledgers go to a warning_sink (core/warning_sink.hpp: the one type).

/// The ledger interface shared by the in-process scheduler and the CLI.
class ledger {
public:
    virtual ~ledger() = default;
    /// Runs @p fn with exclusive access to the state; dead holders and waiters have been reaped
    /// (and corruption repaired) before it runs. When @p fn returns true, or anything was reaped or
    /// repaired, the state is written back. Returns what was reaped or repaired.
    /// @throws state_error when the ledger or its lock cannot be opened, locked, read or written
    ///         (e.g. permissions): the message names the path, the system's reason and what to do.
    virtual ledger_access update(const std::function<bool(ledger_state&)>& fn) = 0;
    /// Reads the state (reaping, repairing) without changing it otherwise.
    ledger_state read(ledger_access* access = nullptr);
};

/// A ledger in memory, for the threads of one program.
class memory_ledger final : public ledger {
public:
    explicit memory_ledger(std::shared_ptr<const process_table> processes = nullptr);
    ledger_access update(const std::function<bool(ledger_state&)>& fn) override;

private:
    std::mutex mutex_;
    ledger_state state_;
    std::shared_ptr<const process_table> processes_;
    process_identity self_;
};

/// The ledger file `ledger` (and lock `ledger.lock`) in a state folder, shared by processes.
class file_ledger final : public ledger {
public:
    /// Creates @p state_dir (mode 0700) when missing.
    /// @throws state_error when @p state_dir cannot be created, or exists but is not a directory
    ///         owned by this user or is writable by others (the message names the path and says to
    ///         set WHISPER_VRAM_STATE_DIR).
    explicit file_ledger(std::filesystem::path state_dir, std::shared_ptr<const process_table> processes = nullptr,
                         warning_sink warnings = nullptr);
    ledger_access update(const std::function<bool(ledger_state&)>& fn) override;
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return file_; }

private:
    std::filesystem::path dir_;
    std::filesystem::path file_;
    std::filesystem::path lock_file_;
    std::shared_ptr<const process_table> processes_;
    warning_sink warnings_;
    process_identity self_;
};

/// Serialises @p state in the file format above.
std::string serialize_ledger(const ledger_state& state);

/// Parses ledger text. Never throws: corrupt content yields the records that parse with a good
/// checksum and a warning per problem in @p warnings (empty text = empty ledger, no warning).
ledger_state parse_ledger(std::string_view text, std::vector<std::string>& warnings);

/// Drops reservations and waiters whose holders are not alive; returns them in @p access. A
/// reservation whose holder is dead but whose child_pid process group still has a member is kept.
/// Records of @p self (when given: the calling process, alive by definition) are not looked up.
void reap_dead(ledger_state& state, const process_table& processes, ledger_access& access,
               const std::optional<process_identity>& self = std::nullopt);

/// The state folder: @p state_dir_env (WHISPER_VRAM_STATE_DIR) when set and non-empty, else
/// $XDG_RUNTIME_DIR/whisper-vram when XDG_RUNTIME_DIR is set, else /tmp/whisper-vram-UID.
std::filesystem::path default_state_dir(const std::optional<std::string>& state_dir_env,
                                        const std::optional<std::string>& xdg_runtime_dir, unsigned uid);

/// "2026-11-27T22:51:02Z" for milliseconds since the epoch.
std::string format_utc_iso8601(std::int64_t since_ms);

}  // namespace whisper_vram
