#pragma once
/// @file calibration_file.hpp
/// The files of calibration (the OS edge): reading measurement histories and calibration
/// profiles, finding the profile estimates use, and writing a profile safely.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "whisper_vram/core/calibration.hpp"
#include "whisper_vram/facade/environment.hpp"

namespace whisper_vram {

/// The default profile's file name in the state folder.
inline constexpr std::string_view default_calibration_file_name = "calibration.json";

/// The records of history file @p path (JSON Lines). Refuses by size before reading a file over
/// max_history_file_bytes.
/// @throws usage_error "PATH:LINE: FIELD: … allowed: …" for a bad record, a missing, unreadable or
/// oversized file.
std::vector<located_record> read_history_file(const std::filesystem::path& path);

/// The profile in @p path.
/// @throws usage_error naming the path when it is missing, unreadable, too big or not a valid profile.
calibration_profile read_calibration_profile(const std::filesystem::path& path);

/// The profile estimates use: @p explicit_path (--calibration / calibration=), else
/// WHISPER_VRAM_CALIBRATION, else calibration.json in the state folder when it exists; "none"
/// (explicit or in the variable) = uncalibrated. nullptr = uncalibrated.
/// @throws usage_error when an explicit or environment profile is missing, or any chosen profile is corrupt.
std::shared_ptr<const calibration_profile> find_calibration_profile(const environment& env,
                                                                    const std::optional<std::string>& explicit_path);

/// Writes @p text to @p path through a temporary file in the same folder and a rename. Refuses to
/// replace an existing file that is not a calibration profile (looks_like_calibration_profile):
/// a file calibrate did not write is not its to rewrite.
/// @throws usage_error naming the path (foreign file, a folder); state_error when it cannot be written.
void write_calibration_profile(const std::filesystem::path& path, const std::string& text);

}  // namespace whisper_vram
