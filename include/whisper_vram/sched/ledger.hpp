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
/// File format (version 2; one record per line, each line `JSON<TAB>crc32-hex8`):
///   {"format":"whisper-vram-ledger","version":2,"next_id":N,"generation":G}   header
///   {"type":"reservation","id":…,"gpu":UUID,"gpu_index":…,"pid":…,"start_time":…,"pid_ns":…,
///    "boot_id":…,"heartbeat_ms":…,"child_pid":…,"bytes":…,"model":…,"since_ms":…} one per reservation
///   {"type":"waiter","id":…,"pid":…,"start_time":…,"pid_ns":…,"boot_id":…,"heartbeat_ms":…,
///    "bytes":…,"gpus":[UUID…],"model":…,"since_ms":…}
///   {"type":"end","records":K}                                    trailer: K lines above it
/// Version 1 (no pid_ns, boot_id, heartbeat_ms) still parses: such a record counts as local (judged
/// by /proc) and its heartbeat is its since_ms. Version 2 is version 1 with those fields.
///
/// Version 3 (written since) is version 2 (with "version":3) followed by a journal: after the end
/// marker, one line per change (serialize_delta: `{"type":"ops",…}<TAB>crc32`), appended by one
/// write(2) under the lock. A version-1 or -2 file is rewritten as version 3 on its first change; a
/// file of a newer version is refused (state_error), never rewritten.
///
/// ## Liveness: /proc for local records, heartbeats for foreign ones
/// A record names the PID namespace (inode of /proc/self/ns/pid) and boot (boot_id) of its holder.
/// When both match ours (or are unknown: version 1) the holder is judged by the local /proc (dead or
/// another start time → reaped at once). Otherwise its pid means nothing here: it is judged by its
/// heartbeat, which every holder and waiter refreshes every @ref heartbeat_interval_ms; a foreign
/// record silent for more than @ref foreign_expiry_ms is reaped. A waiter whose heartbeat is older
/// than @ref waiter_stale_after_ms (stopped: Ctrl-Z, docker pause, a debugger) keeps its record but is
/// passed over by the FIFO until it beats again (see admission_decision.hpp).
///
/// ## Never touching what is not ours
/// The ledger and its lock are opened with O_NOFOLLOW (a symlink is refused, never followed). A
/// non-empty `ledger` that does not start with the ledger header is not ours: refused (state_error),
/// never rewritten. A ledger with our header and a damaged body is copied aside to
/// `ledger.corrupt-<UTC time>` before it is rebuilt, and the warning names the copy.
///
/// ## Writes
/// Every access holds `flock` on `ledger.lock` while it reads, reaps and writes. A change is one
/// journal line appended with one write(2) (O_APPEND): a kill in mid-write leaves a last line without
/// its newline, ignored by readers and cut off (ftruncate) by the next writer; a failed write (ENOSPC,
/// a quota) is cut off at once, leaving the ledger byte for byte as it was. Once the journal holds more
/// entries than 2 × live records + 1024 (or the file would pass half of max_ledger_file_bytes), the
/// change is a compaction instead: the whole state goes to `ledger.tmp` (0600, or 0660 in a shared
/// folder), renamed over `ledger`; a kill then leaves at worst a stale `ledger.tmp`. A reader keeps its
/// parse and replays only the lines appended since (same inode and header). No fsync: after a machine
/// crash every holder is dead anyway.
///
/// ## Limits
/// A record of more than @ref max_record_bytes is refused (at parse: dropped with a warning; at
/// reserve: usage_error); sums of bytes saturate; a ledger holds at most @ref max_ledger_records records
/// (a new one beyond is refused; a file with more, in its snapshot or once its journal is replayed, is
/// refused at parse with a state_error, untouched); a file over @ref max_ledger_file_bytes is refused unread.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/warning_sink.hpp"

namespace whisper_vram {

/// How often holders and waiters refresh their heartbeat (milliseconds).
inline constexpr std::int64_t heartbeat_interval_ms = 2'000;
/// A waiter whose heartbeat is older than this is passed over in the FIFO (not dropped).
inline constexpr std::int64_t waiter_stale_after_ms = 10'000;
/// A record of another PID namespace or boot whose heartbeat is older than this is reaped.
inline constexpr std::int64_t foreign_expiry_ms = 60'000;
/// The largest reservation a record may hold: 2^50 bytes (1 PiB), hundreds of times the largest GPU
/// of the catalog (192 GB). Anything above is damage or an attack, never a real request.
inline constexpr std::uint64_t max_record_bytes = std::uint64_t{1} << 50U;

/// The largest record id: a record with a larger id, or a header whose next_id is beyond it + 1,
/// is damage (no ledger hands out 2^62 ids); dropped / reset at parse, so ids never wrap.
inline constexpr std::uint64_t max_record_id = std::uint64_t{1} << 62U;
/// The most records (reservations + waiters) a ledger holds; a new one beyond is refused.
inline constexpr std::size_t max_ledger_records = 65'536;

/// a + b, or UINT64_MAX when that overflows (sums of bytes never wrap).
[[nodiscard]] constexpr std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) noexcept {
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/// Where a process runs: its PID namespace and the boot. Both empty/0 = unknown (a version-1 record).
struct host_identity {
    std::uint64_t pid_namespace = 0;  ///< inode of /proc/self/ns/pid
    std::string boot_id;              ///< /proc/sys/kernel/random/boot_id
    [[nodiscard]] bool known() const noexcept { return pid_namespace != 0 || !boot_id.empty(); }
    friend bool operator==(const host_identity&, const host_identity&) = default;
};

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
    /// member, even after the holder died (reap_dead, process_table::group_alive; local records only).
    std::uint32_t child_pid = 0;
    std::uint64_t bytes = 0;        ///< reserved bytes (the configuration's `recommended`)
    std::string model;              ///< what it is for, e.g. "large float16 30s batch 1"
    std::int64_t since_ms = 0;      ///< wall clock, milliseconds since the Unix epoch
    host_identity host;             ///< the holder's PID namespace and boot
    std::int64_t heartbeat_ms = 0;  ///< the holder's last heartbeat (wall clock, ms since the epoch)
};

/// A request waiting for memory (FIFO: lower id = earlier).
struct waiter_record {
    std::uint64_t id = 0;
    process_identity holder;
    std::uint64_t bytes = 0;
    std::vector<std::string> gpu_uuids;  ///< the GPUs it may be placed on
    std::string model;
    std::int64_t since_ms = 0;
    host_identity host;             ///< the waiter's PID namespace and boot
    std::int64_t heartbeat_ms = 0;  ///< its last heartbeat (wall clock)
};

/// True when waiter @p w has not beaten for more than waiter_stale_after_ms at @p now_ms (stopped).
[[nodiscard]] bool waiter_stale(const waiter_record& w, std::int64_t now_ms) noexcept;

/// The whole ledger.
struct ledger_state {
    std::uint64_t next_id = 1;
    /// Rewrites so far (file ledger: +1 on every write; in the header): a reader that parsed this
    /// generation reuses its parse while the header is unchanged (0: version 1, or never written).
    std::uint64_t generation = 0;
    std::vector<reservation_record> reservations;
    std::vector<waiter_record> waiters;
    /// A fresh id (and advances next_id). @throws state_error when next_id is beyond max_record_id
    /// (parse_ledger never yields such a state; a hand-built one could).
    std::uint64_t take_id();
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
    /// This process's PID namespace and boot (default: unknown, every record counts as local).
    [[nodiscard]] virtual host_identity host() const { return {}; }
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
    /// Inode of /proc/self/ns/pid and /proc/sys/kernel/random/boot_id (read once).
    [[nodiscard]] host_identity host() const override;
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
    /// The folder whose changes announce a change of this ledger (inotify), if any.
    [[nodiscard]] virtual std::optional<std::filesystem::path> watch_folder() const { return std::nullopt; }

protected:
    /// read(): by default an update() that copies the state out.
    virtual ledger_state read_state(ledger_access* access);
};

/// Drops reservation @p id from @p l, whoever holds it (the state folder's permissions are the trust
/// boundary: whoever may write the folder may drop any record). Returns it; nullopt when no
/// reservation has that id.
std::optional<reservation_record> release_reservation(ledger& l, std::uint64_t id);

/// A ledger in memory, for the threads of one program.
class memory_ledger final : public ledger {
public:
    /// @p clock judges heartbeats (default system_wall_clock_ms).
    explicit memory_ledger(std::shared_ptr<const process_table> processes = nullptr, wall_clock clock = nullptr);
    ledger_access update(const std::function<bool(ledger_state&)>& fn) override;

private:
    std::mutex mutex_;
    ledger_state state_;
    std::shared_ptr<const process_table> processes_;
    wall_clock clock_;
    process_identity self_;
    host_identity host_;
};

struct ledger_delta;

/// Seams of a file_ledger, for tests (all optional).
struct file_ledger_seams {
    wall_clock clock;  ///< judges heartbeats and names corrupt copies; default system_wall_clock_ms
    /// Writes all of @p text to @p fd; returns false with errno set on failure (default: write()).
    /// Tests inject ENOSPC here.
    std::function<bool(int fd, std::string_view text)> write;
};

/// The ledger file `ledger` (and lock `ledger.lock`) in a state folder, shared by processes.
class file_ledger final : public ledger {
public:
    /// Creates @p state_dir (mode 0700) when missing.
    ///
    /// Trust model: everyone who can write the folder can change every reservation in it. Accepted:
    /// a folder owned by this user and writable by nobody else (0700), or a folder shared by a group:
    /// setgid, group-writable, not world-writable (mode 2770), owned by this user or by root or
    /// another member, whose group this process is a member of; files are then created 0660.
    /// @throws state_error when @p state_dir cannot be created, or exists but is not a directory,
    ///         or is world-writable, or is group-writable without setgid, or belongs to another user
    ///         without being a group folder as above (the message names the path and says to set
    ///         WHISPER_VRAM_STATE_DIR).
    explicit file_ledger(std::filesystem::path state_dir, std::shared_ptr<const process_table> processes = nullptr,
                         warning_sink warnings = nullptr, file_ledger_seams seams = {});
    ledger_access update(const std::function<bool(ledger_state&)>& fn) override;
    [[nodiscard]] const std::filesystem::path& path() const noexcept { return file_; }
    /// The state folder.
    [[nodiscard]] const std::filesystem::path& folder() const noexcept { return dir_; }
    /// The state folder: every rewrite renames `ledger.tmp` to `ledger` in it.
    [[nodiscard]] std::optional<std::filesystem::path> watch_folder() const override { return dir_; }

protected:
    /// One locked access without a second copy of the state when nothing is to be written.
    ledger_state read_state(ledger_access* access) override;

private:
    ledger_access access_locked(const std::function<bool(ledger_state&)>& fn, ledger_state* read_out);
    void copy_aside(const std::string& text, const std::vector<std::string>& problems, ledger_access& access) const;
    void write_back(const std::string& text) const;
    /// Brings cache_ up to date with the open ledger @p fd (replaying what was appended); false when
    /// it must be parsed from the start.
    bool refresh_cache(int fd);
    /// Loads the whole file into cache_ (throws state_error for a file that is not ours, too big, too
    /// many records or of a newer version); copies a damaged one aside. Returns true when damaged.
    bool load(ledger_access& access, int fd);
    /// Writes @p delta (or, when due, a compacted snapshot) of cache_.state.
    void persist(ledger_delta& delta, bool force_compaction);
    std::filesystem::path dir_;
    std::filesystem::path file_;
    std::filesystem::path lock_file_;
    std::filesystem::path temp_file_;
    std::shared_ptr<const process_table> processes_;
    warning_sink warnings_;
    file_ledger_seams seams_;
    process_identity self_;
    host_identity host_;
    unsigned file_mode_ = 0600;  ///< 0660 in a group-shared folder
    /// The last parse, reused and brought up to date while the file is the same (inode) with the same
    /// header line (with the generation of its last compaction): only the journal lines appended since
    /// are read and replayed. Mutations change this state in place (no copy of a 10k-record ledger).
    struct parsed_cache {
        bool valid = false;
        std::uint64_t dev = 0;
        std::uint64_t ino = 0;
        std::int64_t size = 0;        ///< the file's size when last seen
        std::int64_t mtime_ns = 0;    ///< and its modification time
        std::size_t intact = 0;       ///< the end of the last complete line (appends go here)
        std::size_t snapshot = 0;     ///< bytes of the snapshot (header to end marker)
        std::size_t journal_ops = 0;  ///< entries in the journal
        int version = 0;              ///< of the file
        std::string header;
        ledger_state state;
    };
    parsed_cache cache_;
    std::mutex cache_mutex_;
};

/// The checksum a ledger line carries after its TAB: CRC-32 (IEEE 802.3, as zlib's crc32()) of
/// the line's JSON body. Public for tools and tests that write ledger lines by hand.
[[nodiscard]] std::uint32_t ledger_line_checksum(std::string_view body) noexcept;

/// Serialises @p state in the file format above.
std::string serialize_ledger(const ledger_state& state);

/// The file format version this program writes; it reads 1 to this one and refuses newer files.
inline constexpr int ledger_format_version = 3;
/// The largest ledger file read (64 MiB; max_ledger_records records of ~330 bytes are ~21 MiB, and
/// compaction keeps the journal below twice the records): a larger one is refused untouched.
inline constexpr std::uint64_t max_ledger_file_bytes = std::uint64_t{64} << 20U;

/// One change of a ledger: a journal line (version 3). Applied in this order: drops, puts (a record
/// put replaces the record of its id, of either kind), beats (heartbeat_ms of a record by id).
struct ledger_delta {
    std::uint64_t next_id = 1;     ///< the state's next_id after the change
    std::uint64_t generation = 0;  ///< the state's generation after the change
    bool next_id_changed = false;  ///< next_id moved (an id was taken) even if no record changed
    std::vector<std::uint64_t> dropped_reservations;
    std::vector<std::uint64_t> dropped_waiters;
    std::vector<std::pair<std::uint64_t, std::int64_t>> beaten_reservations;  ///< (id, heartbeat_ms)
    std::vector<std::pair<std::uint64_t, std::int64_t>> beaten_waiters;
    std::vector<reservation_record> put_reservations;  ///< new or changed records, whole
    std::vector<waiter_record> put_waiters;
    /// Number of entries (drops + beats + puts).
    [[nodiscard]] std::size_t ops() const noexcept;
    /// Nothing to write.
    [[nodiscard]] bool empty() const noexcept { return ops() == 0 && !next_id_changed; }
};

/// The journal line of @p delta: `{"type":"ops","generation":G,"next_id":N,"drop":[…],"drop_waiters":[…],
/// "put":[record…],"put_waiters":[record…],"beat":[[id,ms]…],"beat_waiters":[[id,ms]…]}<TAB>crc32`
/// (empty lists left out).
std::string serialize_delta(const ledger_delta& delta);

/// A compact copy of a state's records (every field, in one byte buffer), taken before a change, to
/// find what the change did without a second copy of the records.
class ledger_snapshot {
public:
    explicit ledger_snapshot(const ledger_state& state);
    /// What turns the snapshot's state into @p now (records in id order, see sort_records).
    /// @throws state_error when @p now's records are not in id order.
    [[nodiscard]] ledger_delta delta_to(const ledger_state& now) const;
    /// One record of the snapshot (public for the helpers of the implementation).
    struct print {
        std::uint64_t id = 0;
        std::int64_t heartbeat_ms = 0;
        std::size_t offset = 0;  ///< of its bytes in the buffer
        std::size_t size = 0;
    };

private:
    std::uint64_t next_id_ = 1;
    std::unique_ptr<char[]> arena_;  ///< the records' bytes  NOLINT(*-avoid-c-arrays)
    std::vector<print> reservations_;
    std::vector<print> waiters_;
};

/// Puts @p state's reservations and waiters in id order (cheap when only the last few are out of place).
void sort_records(ledger_state& state);

/// What parse_ledger_file found.
struct ledger_parse {
    ledger_state state;                 ///< records in id order
    std::vector<std::string> problems;  ///< damage found (the file is to be copied aside and rebuilt)
    int version = 0;  ///< the header's version (0: no intact header); above ledger_format_version: not parsed
    std::size_t over_limit = 0;      ///< > 0: the records counted when parsing stopped beyond max_ledger_records
    std::size_t intact_bytes = 0;    ///< the end of the last complete line read (a torn tail lies beyond)
    std::size_t snapshot_bytes = 0;  ///< the end of the snapshot (the end marker); the journal follows
    std::size_t journal_ops = 0;     ///< entries replayed from the journal
};

/// Parses a ledger file (versions 1 to 3): the snapshot, then (version 3) the journal lines after the
/// end marker. A last line without its newline after the end marker of a version-3 file is a write
/// cut short (a writer killed mid-write): ignored without a problem (intact_bytes stops before it).
/// Never throws; stops at max_ledger_records + 1 records (over_limit) and does not parse a newer version.
ledger_parse parse_ledger_file(std::string_view text);

/// What replay_journal did.
struct journal_replay {
    std::size_t consumed = 0;    ///< bytes of complete lines applied
    std::size_t ops = 0;         ///< entries applied
    bool damaged = false;        ///< a line that is not an intact journal line (the state is then partly changed)
    std::size_t over_limit = 0;  ///< > 0: the records after a line that went beyond max_ledger_records
};

/// Applies the complete journal lines of @p tail (text that follows what @p state was parsed from)
/// to @p state; a last line without its newline is left (consumed stops before it).
journal_replay replay_journal(ledger_state& state, std::string_view tail);

/// The version in the header line of @p text; nullopt when it is not an intact ledger header.
[[nodiscard]] std::optional<std::int64_t> ledger_header_version(std::string_view text);

/// Parses ledger text (versions 1 to 3; parse_ledger_file with its problems as warnings). Never throws: corrupt content
/// yields the records that parse with a good checksum and a warning per problem in @p warnings (empty text = empty
/// ledger, no warning). Records of 0 or more than max_record_bytes bytes are dropped with a warning. Linear in the text
/// (ids are checked with a hash set).
ledger_state parse_ledger(std::string_view text, std::vector<std::string>& warnings);

/// True when @p text starts like a ledger header line (`{"format":"whisper-vram-ledger"`, any version,
/// even with a damaged checksum): the file is ours, and may be rebuilt when its body is damaged.
/// Empty text is ours too (a new ledger).
[[nodiscard]] bool looks_like_ledger(std::string_view text);

/// Drops reservations and waiters whose holders are gone; returns them in @p access. A record of
/// @p local (same PID namespace and boot, or unknown) is judged by @p processes (each pid looked up
/// once per call); another one by its heartbeat: reaped when older than foreign_expiry_ms at
/// @p now_ms (or more than that in the future). A local reservation whose holder is dead but whose
/// child_pid process group still has a member is kept. Records of @p self on @p local are not looked up.
void reap_dead(ledger_state& state, const process_table& processes, ledger_access& access,
               const std::optional<process_identity>& self = std::nullopt, const host_identity& local = {},
               std::int64_t now_ms = 0);

/// Sets heartbeat_ms = @p now_ms on every record of @p self on @p local; returns how many.
std::size_t beat(ledger_state& state, const process_identity& self, const host_identity& local, std::int64_t now_ms);

/// The state folder: @p state_dir_env (WHISPER_VRAM_STATE_DIR) when set and non-empty, else
/// $XDG_RUNTIME_DIR/whisper-vram when XDG_RUNTIME_DIR is set, else /tmp/whisper-vram-UID.
std::filesystem::path default_state_dir(const std::optional<std::string>& state_dir_env,
                                        const std::optional<std::string>& xdg_runtime_dir, unsigned uid);

/// "2026-11-27T22:51:02Z" for milliseconds since the epoch.
std::string format_utc_iso8601(std::int64_t since_ms);

}  // namespace whisper_vram
