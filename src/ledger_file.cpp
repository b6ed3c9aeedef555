// The file-backed ledger: `ledger` in the state folder, guarded by flock on `ledger.lock`,
// rewritten atomically (temporary file + rename) while the lock is held.

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "whisper_vram/error.hpp"
#include "whisper_vram/ledger.hpp"

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

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path) {
    throw error(fmt::format("ledger: cannot {} '{}': {}", what, path.string(), std::strerror(errno)));
}

std::string read_all(const std::filesystem::path& path) {
    const unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        if (errno == ENOENT) return {};
        fail("open", path);
    }
    std::string text;
    char buffer[8192];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("read", path);
        }
        if (n == 0) break;
        text.append(buffer, static_cast<std::size_t>(n));
        if (text.size() > (64U << 20U)) break;  // far beyond any real ledger: treated as corrupt below
    }
    return text;
}

void write_atomically(const std::filesystem::path& path, const std::string& text) {
    const std::filesystem::path temp = path.string() + fmt::format(".tmp.{}", ::getpid());
    {
        const unique_fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (fd.get() < 0) fail("create", temp);
        std::size_t done = 0;
        while (done < text.size()) {
            const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
            if (n < 0) {
                if (errno == EINTR) continue;
                const int saved = errno;
                ::unlink(temp.c_str());
                errno = saved;
                fail("write", temp);
            }
            done += static_cast<std::size_t>(n);
        }
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        const int saved = errno;
        ::unlink(temp.c_str());
        errno = saved;
        fail("replace", path);
    }
}

void prepare_state_dir(const std::filesystem::path& dir) {
    std::error_code ec;
    if (!std::filesystem::exists(dir, ec)) {
        std::filesystem::create_directories(dir.parent_path(), ec);
        if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) fail("create the state folder", dir);
    }
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) fail("inspect the state folder", dir);
    // The folder may sit in /tmp: refuse one that another user could have planted or can write.
    if (!S_ISDIR(st.st_mode)) {
        throw usage_error(fmt::format("state folder '{}' is not a directory; set WHISPER_VRAM_STATE_DIR to a folder of "
                                      "your own", dir.string()));
    }
    if (st.st_uid != ::geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        throw usage_error(fmt::format("state folder '{}' is not owned by you or is writable by others (mode {:o}); set "
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
      warnings_(std::move(warnings)) {
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
        std::vector<std::string> problems;
        ledger_state state = parse_ledger(read_all(file_), problems);
        reap_dead(state, *processes_, access);
        if (!problems.empty()) {
            std::string joined;
            for (const auto& p : problems) joined += (joined.empty() ? "" : "; ") + p;
            access.warnings.push_back(fmt::format(
                "ledger '{}' was corrupt ({}); rebuilt from {} intact record(s) of live holders", file_.string(), joined,
                state.reservations.size() + state.waiters.size()));
        }
        const bool changed = fn(state);
        if (changed || !problems.empty() || !access.reaped_reservations.empty() || !access.reaped_waiters.empty()) {
            write_atomically(file_, serialize_ledger(state));
        }
    }  // unlocked here
    if (warnings_) {
        for (const auto& w : access.warnings) warnings_(w);
    }
    return access;
}

}  // namespace whisper_vram
