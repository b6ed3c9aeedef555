/// @file calibration_file.cpp
/// Reading histories and profiles, choosing the profile, writing it via temp + rename.

#include "whisper_vram/facade/calibration_file.hpp"

#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <system_error>

#include <fmt/format.h>

#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/text_escape.hpp"
#include "whisper_vram/core/units.hpp"

namespace whisper_vram {
namespace {

namespace fs = std::filesystem;

std::string shown(const fs::path& path) { return escape_for_terminal(path.string()); }

/// The whole of regular file @p path, refused by size (before reading) over @p limit bytes.
std::string read_limited(const fs::path& path, std::uint64_t limit, std::string_view what) {
    std::error_code ec;
    const auto status = fs::status(path, ec);
    if (ec || !fs::exists(status)) {
        throw usage_error(fmt::format("{} {}: no such file", what, shown(path)));
    }
    if (!fs::is_regular_file(status)) {
        throw usage_error(fmt::format("{} {}: not a regular file, allowed: a file", what, shown(path)));
    }
    const auto size = fs::file_size(path, ec);
    if (ec) {
        throw usage_error(fmt::format("{} {}: cannot read its size: {}", what, shown(path), ec.message()));
    }
    if (size > limit) {
        throw usage_error(fmt::format("{} {}: {:.2f} GiB ({} bytes), not allowed: at most {} MiB; split it", what,
                                      shown(path), bytes_to_gib(size), size, limit / bytes_per_mib));
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw usage_error(fmt::format("{} {}: cannot be read: {}", what, shown(path), std::strerror(errno)));
    }
    std::string text;
    text.resize(static_cast<std::size_t>(size));
    in.read(text.data(), static_cast<std::streamsize>(size));
    text.resize(static_cast<std::size_t>(in.gcount()));
    // A file that grew since its size was read: what is beyond the limit is not read.
    if (in.peek() != std::char_traits<char>::eof() && text.size() >= limit) {
        throw usage_error(fmt::format("{} {}: grew over {} MiB while read", what, shown(path), limit / bytes_per_mib));
    }
    return text;
}

// ---- the parsed profiles, by file ----------------------------------------------------------------
// Every estimate looks for a profile (serve answers thousands a second), and parsing one costs more
// than the estimate itself; so the last profile parsed from each path is kept with its file's
// identity, and used again while stat() shows the same file: same device and inode (calibrate
// renames a new file over the old one), size, mtime and ctime. ctime is set by the kernel on every
// change and cannot be set back by a user, but only to a coarse clock tick (milliseconds): a file
// changed in place twice within one tick would look the same. As git does for its index, an entry
// is trusted only when the file's ctime was at least profile_settle_time old when it was parsed;
// a younger file is parsed again on each use until it has settled.
constexpr std::chrono::seconds profile_settle_time{2};
constexpr std::size_t profile_cache_entries = 16;  // paths; a full cache is emptied

struct file_identity {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    timespec mtime{};
    timespec ctime{};
    bool operator==(const file_identity& o) const noexcept {
        return device == o.device && inode == o.inode && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
               mtime.tv_nsec == o.mtime.tv_nsec && ctime.tv_sec == o.ctime.tv_sec && ctime.tv_nsec == o.ctime.tv_nsec;
    }
};

/// What stat() says of @p path: nullopt when it fails (missing, unreachable).
std::optional<struct stat> stat_of(const fs::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;
    return st;
}

/// The identity of a regular file; nullopt for anything else (read_calibration_profile says why).
std::optional<file_identity> identity_of(const std::optional<struct stat>& st) {
    if (!st || !S_ISREG(st->st_mode)) return std::nullopt;
    return file_identity{st->st_dev, st->st_ino, st->st_size, st->st_mtim, st->st_ctim};
}

struct cached_profile {
    file_identity identity;
    std::shared_ptr<const calibration_profile> profile;
};

std::mutex profile_cache_mutex;
std::map<std::string, cached_profile, std::less<>> profile_cache;

/// True when @p identity's ctime is at least profile_settle_time before now (wall clock).
bool settled(const file_identity& identity) {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    return now.tv_sec - identity.ctime.tv_sec >= profile_settle_time.count();
}

/// The profile in @p path: parsed again only when the file is not the one parsed last time.
std::shared_ptr<const calibration_profile> profile_from(const fs::path& path,
                                                        const std::optional<file_identity>& identity) {
    if (identity) {
        const std::lock_guard lock(profile_cache_mutex);
        const auto it = profile_cache.find(path.native());
        if (it != profile_cache.end() && it->second.identity == *identity) return it->second.profile;
    }
    auto profile = std::make_shared<const calibration_profile>(read_calibration_profile(path));
    // The identity seen before the read: a file changed meanwhile is seen as changed next time.
    if (identity && settled(*identity)) {
        const std::lock_guard lock(profile_cache_mutex);
        if (profile_cache.size() >= profile_cache_entries) profile_cache.clear();
        profile_cache.insert_or_assign(path.native(), cached_profile{*identity, profile});
    }
    return profile;
}

}  // namespace

std::vector<located_record> read_history_file(const fs::path& path) {
    const auto text = read_limited(path, max_history_file_bytes, "history file");
    auto result = parse_history(text, path.string());
    if (result.error) {
        throw usage_error(result.error->text());
    }
    return std::move(result.records);
}

calibration_profile read_calibration_profile(const fs::path& path) {
    const auto text = read_limited(path, max_profile_file_bytes, "calibration profile");
    return parse_calibration_profile(text, path.string());
}

std::shared_ptr<const calibration_profile> find_calibration_profile(const environment& env,
                                                                    const std::optional<std::string>& explicit_path) {
    const auto chosen = [&](const std::string& path,
                            std::string_view from) -> std::shared_ptr<const calibration_profile> {
        if (path == "none") {
            return nullptr;
        }
        if (path.empty()) {
            throw usage_error(fmt::format("{} is empty: allowed: a calibration profile's path, or none", from));
        }
        try {
            return profile_from(path, identity_of(stat_of(path)));
        } catch (const usage_error& error) {
            throw usage_error(fmt::format("{} {}", from, error.what()));
        }
    };
    if (explicit_path) {
        return chosen(*explicit_path, "--calibration:");
    }
    if (env.calibration) {
        return chosen(*env.calibration, "WHISPER_VRAM_CALIBRATION:");
    }
    fs::path default_path;
    try {
        default_path = state_dir_from(env) / default_calibration_file_name;
    } catch (const error&) {
        return nullptr;  // no usable state folder: no default profile (commands that need it say why)
    }
    const auto st = stat_of(default_path);
    if (!st) {
        return nullptr;  // a missing default profile: uncalibrated
    }
    try {
        return profile_from(default_path, identity_of(st));
    } catch (const usage_error& error) {
        throw usage_error(fmt::format("default {} (remove it, or give --calibration none)", error.what()));
    }
}

void write_calibration_profile(const fs::path& path, const std::string& text) {
    std::error_code ec;
    const auto status = fs::status(path, ec);
    if (fs::exists(status)) {
        if (!fs::is_regular_file(status)) {
            throw usage_error(
                fmt::format("--out {}: not a regular file, allowed: a calibration profile's path", shown(path)));
        }
        std::string existing;
        try {
            existing = read_limited(path, max_profile_file_bytes, "--out");
        } catch (const usage_error&) {
            existing.clear();
        }
        if (!looks_like_calibration_profile(existing)) {
            throw usage_error(fmt::format(
                "--out {}: exists and is not a calibration profile (no \"kind\": \"{}\"): a file calibrate did not "
                "write is not its to rewrite; choose another path or remove it",
                shown(path), calibration_profile_kind));
        }
    }
    const fs::path folder = path.has_parent_path() ? path.parent_path() : fs::path(".");
    fs::create_directories(folder, ec);
    const fs::path temporary = folder / fmt::format(".{}.tmp.{}", path.filename().string(), ::getpid());
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        out << text;
        out.flush();
        if (!out) {
            std::error_code ignored;
            fs::remove(temporary, ignored);
            throw state_error(
                fmt::format("cannot write {}: {}; choose a writable --out", shown(temporary), std::strerror(errno)));
        }
    }
    fs::rename(temporary, path, ec);
    if (ec) {
        std::error_code ignored;
        fs::remove(temporary, ignored);
        throw state_error(fmt::format("cannot rename {} to {}: {}", shown(temporary), shown(path), ec.message()));
    }
}

}  // namespace whisper_vram
