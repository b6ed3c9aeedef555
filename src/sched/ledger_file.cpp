// The file-backed ledger: `ledger` in the state folder, guarded by flock on `ledger.lock`,
// rewritten through `ledger.tmp` + rename while the lock is held (see ledger.hpp).

#include <fcntl.h>
#include <fmt/format.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstdio>  // renameat2, RENAME_EXCHANGE
#include <cstring>
#include <mutex>
#include <vector>

#include "whisper_vram/core/error.hpp"
#include "whisper_vram/sched/ledger.hpp"

namespace whisper_vram {
namespace {

class unique_fd {
public:
    explicit unique_fd(int fd) noexcept : fd_(fd) {}
    ~unique_fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    unique_fd(unique_fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    unique_fd& operator=(unique_fd&&) = delete;
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    [[nodiscard]] int get() const noexcept { return fd_; }

private:
    int fd_;
};

// Every I/O failure on the state folder is the user's to fix (permissions, a full or read-only file
// system, a folder swapped under us), not a bug: state_error (exit 2) with the path, errno and a way out.
[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path) {
    const int err = errno;
    if (err == ELOOP) {
        throw state_error(
            fmt::format("ledger: cannot {} '{}': it is a symbolic link, and whisper-vram never follows links in its "
                        "state folder; remove the link, or set WHISPER_VRAM_STATE_DIR to a folder of your own",
                        what, path.string()));
    }
    const std::string_view fix = err == ENOSPC || err == EDQUOT
                                     ? "the ledger was left as it was; free some space on that file system, or set "
                                       "WHISPER_VRAM_STATE_DIR to a folder on another one"
                                     : "check that the state folder is yours and writable, or set "
                                       "WHISPER_VRAM_STATE_DIR to a folder you can write";
    throw state_error(fmt::format("ledger: cannot {} '{}': {}; {}", what, path.string(), std::strerror(err), fix));
}

std::string read_all(int fd, const std::filesystem::path& path) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) fail("inspect", path);
    if (!S_ISREG(st.st_mode)) {
        errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        fail("open", path);
    }
    if (static_cast<std::uint64_t>(st.st_size) > max_ledger_file_bytes) {
        throw state_error(
            fmt::format("ledger '{}' holds {} bytes, more than a ledger of {} records can; it was left "
                        "untouched: move it elsewhere, or set WHISPER_VRAM_STATE_DIR to another folder",
                        path.string(), st.st_size, max_ledger_records));
    }
    std::string text(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t done = 0;
    for (;;) {
        if (done == text.size()) text.resize(text.size() + 4096);  // grew meanwhile (only without the lock)
        const ssize_t n = ::pread(fd, text.data() + done, text.size() - done, static_cast<off_t>(done));
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("read", path);
        }
        if (n == 0) break;
        done += static_cast<std::size_t>(n);
        if (done > max_ledger_file_bytes) break;
    }
    text.resize(done);
    return text;
}

bool write_all(int fd, std::string_view text) {
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        done += static_cast<std::size_t>(n);
    }
    return true;
}

// The file-name form of a UTC time: 20261202T013758.123Z (no ':' for other systems' sake).
std::string file_time(std::int64_t ms) {
    const auto iso = format_utc_iso8601(ms);  // 2026-12-02T01:37:58Z
    std::string compact;
    for (const char ch : iso.substr(0, iso.size() - 1)) {
        if (ch != '-' && ch != ':') compact += ch;
    }
    return fmt::format("{}.{:03}Z", compact, ((ms % 1000) + 1000) % 1000);
}

bool in_group(gid_t gid) {
    if (gid == ::getegid()) return true;
    const int n = ::getgroups(0, nullptr);
    if (n <= 0) return false;
    std::vector<gid_t> groups(static_cast<std::size_t>(n));
    const int got = ::getgroups(n, groups.data());
    return got > 0 && std::find(groups.begin(), groups.begin() + got, gid) != groups.begin() + got;
}

// Returns the mode of the files to create: 0600 in a private folder, 0660 in a group folder.
unsigned prepare_state_dir(const std::filesystem::path& dir) {
    std::error_code ec;
    if (!std::filesystem::exists(dir, ec)) {
        std::filesystem::create_directories(dir.parent_path(), ec);
        // A folder that cannot be made (no such parent, read-only or pseudo file system such as /proc)
        // is a bad WHISPER_VRAM_STATE_DIR, not an internal error: say so (state_error, exit 2).
        if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
            throw state_error(
                fmt::format("cannot create the state folder '{}': {}; set WHISPER_VRAM_STATE_DIR to a "
                            "folder of your own that can be created",
                            dir.string(), std::strerror(errno)));
        }
    }
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) {
        throw state_error(
            fmt::format("cannot inspect the state folder '{}': {}; set WHISPER_VRAM_STATE_DIR to a "
                        "folder of your own",
                        dir.string(), std::strerror(errno)));
    }
    // The folder may sit in /tmp: refuse one that another user could have planted or can write.
    if (!S_ISDIR(st.st_mode)) {
        throw state_error(
            fmt::format("state folder '{}' is not a directory; set WHISPER_VRAM_STATE_DIR to a folder of "
                        "your own",
                        dir.string()));
    }
    const bool world_writable = (st.st_mode & S_IWOTH) != 0;
    const bool group_writable = (st.st_mode & S_IWGRP) != 0;
    // A group folder: setgid (files inherit the group), group rwx, not world-writable, our group.
    const bool group_folder =
        !world_writable && (st.st_mode & S_ISGID) != 0 && (st.st_mode & S_IRWXG) == S_IRWXG && in_group(st.st_gid);
    if (group_folder) return 0660;
    if (st.st_uid != ::geteuid() || world_writable || group_writable) {
        throw state_error(
            fmt::format("state folder '{}' is not owned by you or is writable by others (mode {:o}); set "
                        "WHISPER_VRAM_STATE_DIR to a folder of your own (mode 0700), or, to share it with a group, "
                        "make it group-owned, setgid and not world-writable (chgrp GROUP; chmod 2770)",
                        dir.string(), st.st_mode & 07777));
    }
    return 0600;
}

// Every file-ledger access of this process holds this mutex (they are serialised by the flock anyway),
// and fork() waits for it: a child forked while another thread holds the flock would inherit the
// locked descriptor, and one that does not exec (a guardian) would hold the lock for good.
std::mutex& access_mutex() {
    static std::mutex m;
    static const bool registered = [] {
        ::pthread_atfork([] { access_mutex().lock(); }, [] { access_mutex().unlock(); },
                         [] { access_mutex().unlock(); });
        return true;
    }();
    (void)registered;
    return m;
}

}  // namespace

file_ledger::file_ledger(std::filesystem::path state_dir, std::shared_ptr<const process_table> processes,
                         warning_sink warnings, file_ledger_seams seams)
    : dir_(std::move(state_dir)),
      file_(dir_ / "ledger"),
      lock_file_(dir_ / "ledger.lock"),
      temp_file_(dir_ / "ledger.tmp"),
      processes_(processes ? std::move(processes) : std::make_shared<system_process_table>()),
      warnings_(std::move(warnings)),
      seams_(std::move(seams)),
      self_(processes_->self()),
      host_(processes_->host()) {
    if (!seams_.clock) seams_.clock = system_wall_clock_ms;
    if (!seams_.write) seams_.write = write_all;
    file_mode_ = prepare_state_dir(dir_);
}

namespace {

// Opens (creating) a file of the state folder, never through a symlink, and makes sure it is a
// regular file (a directory or a FIFO in its place is refused, not waited on).
unique_fd open_own(const std::filesystem::path& path, int flags, unsigned mode, const char* what) {
    unique_fd fd(::open(path.c_str(), flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, mode));
    if (fd.get() < 0) fail(what, path);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) fail("inspect", path);
    if (!S_ISREG(st.st_mode)) {
        errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        fail(what, path);
    }
    // The umask aside (0660 in a group folder); a file of another member keeps its mode.
    if ((flags & O_CREAT) != 0 && st.st_uid == ::geteuid() && (st.st_mode & 0777U) != mode &&
        ::fchmod(fd.get(), mode) != 0) {
        fail("set the mode of", path);
    }
    return fd;
}

}  // namespace

void file_ledger::copy_aside(const std::string& text, const std::vector<std::string>& problems,
                             ledger_access& access) const {
    std::filesystem::path copy = dir_ / ("ledger.corrupt-" + file_time(seams_.clock()));
    int fd = -1;
    for (int n = 2; fd < 0; ++n) {
        fd = ::open(copy.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, file_mode_);
        if (fd < 0 && errno != EEXIST) fail("save a copy of the damaged ledger as", copy);
        if (fd < 0) copy = dir_ / fmt::format("ledger.corrupt-{}-{}", file_time(seams_.clock()), n);
    }
    const unique_fd out(fd);
    if (!seams_.write(out.get(), text)) {
        const int err = errno;
        ::unlink(copy.c_str());
        errno = err;
        fail("save a copy of the damaged ledger as", copy);
    }
    std::string joined;
    for (const auto& p : problems) joined += (joined.empty() ? "" : "; ") + p;
    access.warnings.push_back(fmt::format(
        "ledger '{}' was corrupt ({}); a copy of it is in '{}'; rebuilt from the intact record(s) of live holders",
        file_.string(), joined, copy.string()));
}

void file_ledger::write_back(const std::string& text) const {
    // A fresh temp file, then swapped in: a failed write (ENOSPC) leaves the old ledger whole. Not
    // O_TRUNC on a reused temp nor a plain rename over `ledger`: on ext4 both force a writeback
    // (auto_da_alloc), ~1.6 ms an access; an exchange (renameat2 RENAME_EXCHANGE) does not.
    if (::unlink(temp_file_.c_str()) != 0 && errno != ENOENT) fail("remove the stale", temp_file_);
    {
        const unique_fd out = open_own(temp_file_, O_WRONLY | O_CREAT | O_EXCL, file_mode_, "create");
        if (!seams_.write(out.get(), text)) {
            const int err = errno;
            ::unlink(temp_file_.c_str());
            errno = err;
            fail("write", temp_file_);
        }
    }
    if (::renameat2(AT_FDCWD, temp_file_.c_str(), AT_FDCWD, file_.c_str(), RENAME_EXCHANGE) == 0) {
        ::unlink(temp_file_.c_str());  // the old ledger now; a failure leaves a stale temp, removed next time
        return;
    }
    // No ledger yet (ENOENT), or a file system without exchange (EINVAL): a plain rename.
    if (::rename(temp_file_.c_str(), file_.c_str()) != 0) {
        const int err = errno;
        ::unlink(temp_file_.c_str());
        errno = err;
        fail("replace", file_);
    }
}

namespace {

std::int64_t mtime_ns(const struct stat& st) {
    return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// Bytes [from, to) of @p fd (fewer when the file is shorter).
std::string read_range(int fd, const std::filesystem::path& path, std::size_t from, std::size_t to) {
    std::string text(to - from, '\0');
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::pread(fd, text.data() + done, text.size() - done, static_cast<off_t>(from + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("read", path);
        }
        if (n == 0) break;
        done += static_cast<std::size_t>(n);
    }
    text.resize(done);
    return text;
}

// Compaction (a rewrite of the snapshot) is due once the journal would hold more entries than twice
// the live records plus this, or the file would pass half of max_ledger_file_bytes.
constexpr std::size_t journal_slack = 1024;

}  // namespace

bool file_ledger::refresh_cache(int fd) {
    if (!cache_.valid) return false;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_dev != cache_.dev || st.st_ino != cache_.ino) {
        return false;
    }
    // The same file (a compaction makes a new one, with a new generation in its header).
    std::string head(cache_.header.size(), '\0');
    if (::pread(fd, head.data(), head.size(), 0) != static_cast<ssize_t>(head.size()) || head != cache_.header) {
        return false;
    }
    if (st.st_size == cache_.size && mtime_ns(st) == cache_.mtime_ns) return true;  // unchanged
    // Grown by appended journal lines (a torn tail, cut later, may lie beyond cache_.intact).
    if (cache_.version < ledger_format_version || st.st_size < 0 ||
        static_cast<std::size_t>(st.st_size) < cache_.intact ||
        static_cast<std::uint64_t>(st.st_size) > max_ledger_file_bytes) {
        return false;
    }
    const auto tail = read_range(fd, file_, cache_.intact, static_cast<std::size_t>(st.st_size));
    const auto replay = replay_journal(cache_.state, tail);
    if (replay.damaged || replay.over_limit > 0) {
        cache_.valid = false;  // the state is partly changed: parsed again from the start (which reports it)
        return false;
    }
    cache_.intact += replay.consumed;
    cache_.journal_ops += replay.ops;
    cache_.size = st.st_size;
    cache_.mtime_ns = mtime_ns(st);
    return true;
}

bool file_ledger::load(ledger_access& access, int fd) {
    cache_ = parsed_cache{};
    const std::string text = fd >= 0 ? read_all(fd, file_) : std::string();
    if (!looks_like_ledger(text)) {
        throw state_error(
            fmt::format("'{}' is not a whisper-vram ledger (it does not start with the ledger header) and was left "
                        "untouched; move it elsewhere, or set WHISPER_VRAM_STATE_DIR to another folder",
                        file_.string()));
    }
    if (const auto v = ledger_header_version(text); v && *v > ledger_format_version) {
        throw state_error(fmt::format(
            "ledger '{}' is format version {}, newer than this program reads (1 to {}); it was left untouched: use "
            "the newer whisper-vram that wrote it, or set WHISPER_VRAM_STATE_DIR to another folder",
            file_.string(), *v, ledger_format_version));
    }
    auto parsed = parse_ledger_file(text);
    if (parsed.over_limit > 0) {
        throw state_error(fmt::format(
            "ledger '{}' holds more than {} records (read {} before stopping), beyond the limit of {}; it was left "
            "untouched: move it elsewhere, or set WHISPER_VRAM_STATE_DIR to another folder",
            file_.string(), max_ledger_records, parsed.over_limit, max_ledger_records));
    }
    const bool damaged = !parsed.problems.empty();
    if (damaged) {
        copy_aside(text, parsed.problems, access);
        // The header may be lost with its generation: restart above any earlier one.
        parsed.state.generation = std::max(parsed.state.generation, static_cast<std::uint64_t>(seams_.clock()));
    }
    cache_.state = std::move(parsed.state);
    cache_.version = parsed.version;
    cache_.intact = parsed.intact_bytes;
    cache_.snapshot = parsed.snapshot_bytes;
    cache_.journal_ops = parsed.journal_ops;
    // Reused by the next access while the file stays as read: ours, whole, with a generation (version 1
    // has none: parsed every time, and rewritten as version 3 on its first change).
    struct stat st {};
    const auto nl = text.find('\n');
    if (!damaged && fd >= 0 && cache_.state.generation != 0 && nl != std::string::npos && ::fstat(fd, &st) == 0 &&
        static_cast<std::uint64_t>(st.st_size) == text.size()) {
        cache_.valid = true;
        cache_.dev = st.st_dev;
        cache_.ino = st.st_ino;
        cache_.size = st.st_size;
        cache_.mtime_ns = mtime_ns(st);
        cache_.header = text.substr(0, nl + 1);
    }
    return damaged;
}

void file_ledger::persist(ledger_delta& delta, bool force_compaction) {
    ledger_state& state = cache_.state;
    const bool appendable = cache_.valid && cache_.version == ledger_format_version && !force_compaction;
    cache_.valid = false;  // until the file is known to hold this state
    state.generation = saturating_add(state.generation, 1);
    if (appendable) {
        delta.generation = state.generation;
        delta.next_id = state.next_id;
        const std::string line = serialize_delta(delta);
        const std::size_t live = state.reservations.size() + state.waiters.size();
        if (cache_.journal_ops + delta.ops() <= 2 * live + journal_slack &&
            cache_.intact + line.size() <= max_ledger_file_bytes / 2) {
            const unique_fd out = open_own(file_, O_WRONLY | O_APPEND, file_mode_, "open");
            struct stat st {};
            if (::fstat(out.get(), &st) != 0) fail("inspect", file_);
            // A line a writer killed mid-write left unfinished (it has no newline, and no reader applied it).
            if (static_cast<std::uint64_t>(st.st_size) != cache_.intact &&
                ::ftruncate(out.get(), static_cast<off_t>(cache_.intact)) != 0) {
                fail("cut the unfinished last line of", file_);
            }
            if (!seams_.write(out.get(), line)) {
                const int err = errno;
                (void)::ftruncate(out.get(), static_cast<off_t>(cache_.intact));  // the ledger as it was
                errno = err;
                fail("write", file_);
            }
            if (::fstat(out.get(), &st) != 0) return;  // the next access parses it again
            cache_.intact += line.size();
            cache_.journal_ops += delta.ops();
            cache_.size = st.st_size;
            cache_.mtime_ns = mtime_ns(st);
            cache_.valid = static_cast<std::uint64_t>(st.st_size) == cache_.intact;
            return;
        }
    }
    // Compaction: the whole state as a new snapshot (ledger.tmp, then renamed over the ledger).
    const std::string text = serialize_ledger(state);
    if (text.size() > max_ledger_file_bytes) {
        throw state_error(fmt::format(
            "ledger '{}': its {} records would take {} bytes, more than the limit of {}; nothing was written: release "
            "some (whisper-vram tasks; whisper-vram tasks release ID)",
            file_.string(), state.reservations.size() + state.waiters.size(), text.size(), max_ledger_file_bytes));
    }
    write_back(text);
    struct stat st {};
    if (::stat(file_.c_str(), &st) != 0 || static_cast<std::uint64_t>(st.st_size) != text.size()) return;
    cache_.valid = true;
    cache_.dev = st.st_dev;
    cache_.ino = st.st_ino;
    cache_.size = st.st_size;
    cache_.mtime_ns = mtime_ns(st);
    cache_.intact = text.size();
    cache_.snapshot = text.size();
    cache_.journal_ops = 0;
    cache_.version = ledger_format_version;
    cache_.header = text.substr(0, text.find('\n') + 1);
}

ledger_access file_ledger::update(const std::function<bool(ledger_state&)>& fn) { return access_locked(fn, nullptr); }

ledger_state file_ledger::read_state(ledger_access* access) {
    ledger_state out;
    auto result = access_locked(nullptr, &out);
    if (access != nullptr) *access = std::move(result);
    return out;
}

ledger_access file_ledger::access_locked(const std::function<bool(ledger_state&)>& fn, ledger_state* read_out) {
    ledger_access access;
    {
        const std::lock_guard no_fork_meanwhile(access_mutex());
        const unique_fd lock = open_own(lock_file_, O_RDWR | O_CREAT, file_mode_, "open the lock file");
        while (::flock(lock.get(), LOCK_EX) != 0) {
            if (errno != EINTR) fail("lock", lock_file_);
        }
        const std::lock_guard cache_lock(cache_mutex_);
        bool damaged = false;
        {
            const unique_fd file(::open(file_.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
            if (file.get() < 0 && errno != ENOENT) fail("open", file_);
            if (file.get() < 0 || !refresh_cache(file.get())) damaged = load(access, file.get());
        }
        // The state is changed in place: until this access ends well (fn may throw, a write fail) the
        // cache is not to be reused.
        ledger_state& state = cache_.state;
        const bool reusable = cache_.valid;
        cache_.valid = false;
        reap_dead(state, *processes_, access, self_, host_, seams_.clock());
        ledger_delta delta;
        bool discarded = false;
        if (fn) {
            const ledger_snapshot before(state);
            const bool changed = fn(state);
            sort_records(state);
            delta = before.delta_to(state);
            // fn changed the state but asked not to write it: its change is dropped (the next access
            // parses the file again), and so is this access's write (the next one reaps again).
            discarded = !changed && !delta.empty();
            if (!changed) delta = ledger_delta{};
        }
        for (const auto& r : access.reaped_reservations) delta.dropped_reservations.push_back(r.id);
        for (const auto& w : access.reaped_waiters) delta.dropped_waiters.push_back(w.id);
        if (!discarded) {
            cache_.valid = reusable;
            if (!delta.empty() || damaged) persist(delta, damaged);
        }
        if (read_out != nullptr) {
            if (cache_.valid) {
                *read_out = state;
            } else {
                *read_out = std::move(state);  // parsed again next time anyway: no second copy
            }
        }
    }  // unlocked here
    if (warnings_) {
        for (const auto& w : access.warnings) warnings_(w);
    }
    return access;
}

}  // namespace whisper_vram
