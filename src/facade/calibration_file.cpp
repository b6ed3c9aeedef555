/// @file calibration_file.cpp
/// Reading histories and profiles, choosing the profile, writing it via temp + rename.

#include "whisper_vram/facade/calibration_file.hpp"

#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <fstream>
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
            return std::make_shared<const calibration_profile>(read_calibration_profile(path));
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
    std::error_code ec;
    if (!fs::exists(default_path, ec)) {
        return nullptr;  // a missing default profile: uncalibrated
    }
    try {
        return std::make_shared<const calibration_profile>(read_calibration_profile(default_path));
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
