// The file-backed ledger: `ledger` in the state folder, guarded by flock on `ledger.lock`,
// rewritten in place while the lock is held (see rewrite_in_place for why not temp + rename).

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>

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
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    [[nodiscard]] int get() const noexcept { return fd_; }

private:
    int fd_;
};

// Every I/O failure on the state folder is the user's to fix (permissions, a full or read-only file
// system, a folder swapped under us), not a bug: state_error (exit 2) with the path, errno and a way out.
[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path) {
    throw state_error(
        fmt::format("ledger: cannot {} '{}': {}; check that the state folder is yours and "
                    "writable, or set WHISPER_VRAM_STATE_DIR to a folder you can write",
                    what, path.string(), std::strerror(errno)));
}

std::string read_all(int fd, const std::filesystem::path& path) {
    std::string text;
    char buffer[8192];
    for (off_t offset = 0;;) {
        const ssize_t n = ::pread(fd, buffer, sizeof buffer, offset);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("read", path);
        }
        if (n == 0) break;
        text.append(buffer, static_cast<std::size_t>(n));
        offset += n;
        if (text.size() > (64U << 20U)) break;  // far beyond any real ledger: treated as corrupt below
    }
    return text;
}

// Rewrites the file in place (pwrite from offset 0, then shrink). Not temp+rename: on ext4 a rename
// over an existing file (like a truncate to zero) triggers auto_da_alloc writeback, which made every
// ledger access cost ~1.6 ms instead of ~50 us. In place is safe here: every reader and writer holds
// the flock, so no one sees a half-written file; only a machine crash or a kill in mid-write can
// leave one, and the per-line checksums and the end marker detect it and the ledger is rebuilt.
void rewrite_in_place(int fd, const std::filesystem::path& path, const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::pwrite(fd, text.data() + done, text.size() - done, static_cast<off_t>(done));
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("write", path);
        }
        done += static_cast<std::size_t>(n);
    }
    if (::ftruncate(fd, static_cast<off_t>(text.size())) != 0) fail("truncate", path);
}

void prepare_state_dir(const std::filesystem::path& dir) {
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
    if (st.st_uid != ::geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        throw state_error(
            fmt::format("state folder '{}' is not owned by you or is writable by others (mode {:o}); set "
                        "WHISPER_VRAM_STATE_DIR to a folder of your own (mode 0700)",
                        dir.string(), st.st_mode & 07777));
    }
}

}  // namespace

file_ledger::file_ledger(std::filesystem::path state_dir, std::shared_ptr<const process_table> processes,
                         warning_sink warnings)
    : dir_(std::move(state_dir)),
      file_(dir_ / "ledger"),
      lock_file_(dir_ / "ledger.lock"),
      processes_(processes ? std::move(processes) : std::make_shared<system_process_table>()),
      warnings_(std::move(warnings)),
      self_(processes_->self()) {
    prepare_state_dir(dir_);
}

ledger_access file_ledger::update(const std::function<bool(ledger_state&)>& fn) {
    ledger_access access;
    {
        const unique_fd lock(::open(lock_file_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
        if (lock.get() < 0) fail("open the lock file", lock_file_);
        while (::flock(lock.get(), LOCK_EX) != 0) {
            if (errno != EINTR) fail("lock", lock_file_);
        }
        const unique_fd file(::open(file_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
        if (file.get() < 0) fail("open", file_);
        std::vector<std::string> problems;
        ledger_state state = parse_ledger(read_all(file.get(), file_), problems);
        reap_dead(state, *processes_, access, self_);
        if (!problems.empty()) {
            std::string joined;
            for (const auto& p : problems) joined += (joined.empty() ? "" : "; ") + p;
            access.warnings.push_back(
                fmt::format("ledger '{}' was corrupt ({}); rebuilt from {} intact record(s) of live holders",
                            file_.string(), joined, state.reservations.size() + state.waiters.size()));
        }
        const bool changed = fn(state);
        if (changed || !problems.empty() || !access.reaped_reservations.empty() || !access.reaped_waiters.empty()) {
            rewrite_in_place(file.get(), file_, serialize_ledger(state));
        }
    }  // unlocked here
    if (warnings_) {
        for (const auto& w : access.warnings) warnings_(w);
    }
    return access;
}

}  // namespace whisper_vram
