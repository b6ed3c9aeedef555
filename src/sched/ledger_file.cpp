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

// A ledger beyond this is not one we wrote (max_ledger_records records are ~25 MiB): left untouched.
constexpr std::size_t max_ledger_file_bytes = std::size_t{64} << 20U;

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

}  // namespace

std::optional<ledger_state> file_ledger::cached_state(int fd) const {
    if (!cache_.valid) return std::nullopt;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
    if (st.st_dev != cache_.dev || st.st_ino != cache_.ino || st.st_size != cache_.size ||
        mtime_ns(st) != cache_.mtime_ns) {
        return std::nullopt;
    }
    // Same file, same size and time: and the same header (every writer bumps its generation).
    std::string head(cache_.header.size(), '\0');
    if (::pread(fd, head.data(), head.size(), 0) != static_cast<ssize_t>(head.size()) || head != cache_.header) {
        return std::nullopt;
    }
    return cache_.state;
}

void file_ledger::remember(const std::string& text, const ledger_state* state) {
    cache_.valid = false;
    if (state == nullptr || state->generation == 0) return;  // damaged or version 1: parse every time
    struct stat st {};
    if (::stat(file_.c_str(), &st) != 0) return;
    const auto nl = text.find('\n');
    if (nl == std::string::npos || static_cast<std::uint64_t>(st.st_size) != text.size()) return;
    cache_ = {true, st.st_dev, st.st_ino, st.st_size, mtime_ns(st), text.substr(0, nl + 1), *state};
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
        std::string text;
        std::vector<std::string> problems;
        std::optional<ledger_state> parsed;
        const std::lock_guard cache_lock(cache_mutex_);
        {
            const unique_fd file(::open(file_.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
            if (file.get() < 0 && errno != ENOENT) fail("open", file_);
            if (file.get() >= 0) parsed = cached_state(file.get());
            if (file.get() >= 0 && !parsed) text = read_all(file.get(), file_);
        }
        if (!parsed) {
            if (!looks_like_ledger(text)) {
                throw state_error(fmt::format(
                    "'{}' is not a whisper-vram ledger (it does not start with the ledger header) and was left "
                    "untouched; move it elsewhere, or set WHISPER_VRAM_STATE_DIR to another folder",
                    file_.string()));
            }
            parsed = parse_ledger(text, problems);
            if (!problems.empty()) {
                copy_aside(text, problems, access);
                // The header may be lost with its generation: restart above any earlier one.
                parsed->generation = std::max(parsed->generation, static_cast<std::uint64_t>(seams_.clock()));
            }
            remember(text, problems.empty() ? &*parsed : nullptr);
        }
        ledger_state state = std::move(*parsed);
        reap_dead(state, *processes_, access, self_, host_, seams_.clock());
        const bool changed = fn && fn(state);
        const bool must_write =
            changed || !problems.empty() || !access.reaped_reservations.empty() || !access.reaped_waiters.empty();
        if (must_write) {
            state.generation = saturating_add(state.generation, 1);
            write_back(serialize_ledger(state));
            cache_.valid = false;  // the next access reads what was written (a stat and one parse)
            if (read_out != nullptr) *read_out = state;
        } else if (read_out != nullptr) {
            *read_out = std::move(state);  // nothing to write: no second copy of a big ledger
        }
    }  // unlocked here
    if (warnings_) {
        for (const auto& w : access.warnings) warnings_(w);
    }
    return access;
}

}  // namespace whisper_vram
