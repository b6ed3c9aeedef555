#pragma once
/// @file calibration.hpp
/// Calibration of the engine estimates from measured runs (issue 13, items 3 and 4): parsing a
/// measurement history, fitting a correction per engine (and per GPU architecture where the
/// records support it), the calibration profile, and applying it to an estimate. Pure: text in,
/// values out. The guide's formula is never calibrated: it is the specification.
///
/// Fitting rule (the README's "Calibration" section says the same):
///  - records are grouped by engine; an engine whose records span several GPU architectures
///    (compute capability major) with at least min_records_per_architecture records each also
///    gets one group per such architecture (an estimate uses its architecture's group when there
///    is one, else the engine's);
///  - a group with fewer than min_records_for_offset records, or whose estimates spread less than
///    min_spread_for_offset (largest / smallest), fits one factor (least squares through the
///    origin: k = Σ e·m / Σ e²); otherwise factor + offset by ordinary least squares (and back to
///    the factor alone if that slope is not positive);
///  - then the safety lift: the offset is raised until no record of the group is estimated below
///    its measured peak (the product's promise: never below nvidia-smi);
///  - the held-out error is leave-one-out: each record predicted by the rule fitted on the others
///    of its group (mean absolute error in %); with one record it is not available.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "whisper_vram/core/estimate.hpp"
#include "whisper_vram/core/measurement_record.hpp"

namespace whisper_vram {

/// The profile format's version.
inline constexpr int calibration_profile_version = 1;
/// The profile's "kind" key: what marks a file as a profile this tool wrote (and may overwrite).
inline constexpr std::string_view calibration_profile_kind = "whisper-vram-calibration-profile";
/// Largest history file read (bytes): larger ones are refused by size before reading.
inline constexpr std::uint64_t max_history_file_bytes = 64ULL * 1024 * 1024;
/// Largest profile file read (bytes).
inline constexpr std::uint64_t max_profile_file_bytes = 16ULL * 1024 * 1024;
/// Records a group needs before an offset is fitted beside the factor.
inline constexpr std::size_t min_records_for_offset = 4;
/// Spread of estimates (largest / smallest) a group needs before an offset is fitted.
inline constexpr double min_spread_for_offset = 1.5;
/// Records each architecture needs before an engine is also split by architecture.
inline constexpr std::size_t min_records_per_architecture = 4;

/// The fitting rule in one paragraph (printed by calibrate and stored in the profile).
[[nodiscard]] std::string calibration_rule_text();

/// A record and where it was read.
struct located_record {
    std::string file;           ///< the file name as given
    std::size_t line = 0;       ///< 1-based line number
    measurement_record record;  ///< the parsed record
};

/// The first problem of a history file or of a record in it.
struct history_error {
    std::string file;      ///< the file name as given
    std::size_t line = 0;  ///< 1-based line number; 0 = the file as a whole
    std::string field;     ///< the key at fault ("" = the line or file as a whole)
    std::string message;   ///< what is wrong and what is allowed

    /// "FILE:LINE: MESSAGE" (or "FILE: MESSAGE" when line is 0).
    [[nodiscard]] std::string text() const;
};

/// A history file's records, or its first error.
struct history_parse_result {
    std::vector<located_record> records;  ///< every record, in order (empty when error is set)
    std::optional<history_error> error;   ///< the first problem found
};

/// Parses a history file's @p text (JSON Lines): blank lines are skipped, the last line may lack
/// its newline, every other line must be a valid record (parse_measurement_record). Refuses text
/// over max_history_file_bytes. Never throws.
[[nodiscard]] history_parse_result parse_history(std::string_view text, std::string_view file_name) noexcept;

/// The correction a group fitted.
enum class correction_kind {
    factor,         ///< calibrated = k × estimate + lift
    factor_offset,  ///< calibrated = k × estimate + c + lift
};

/// "factor" or "factor+offset".
[[nodiscard]] std::string_view to_string(correction_kind kind) noexcept;

/// One fitted correction: calibrated = max(0, ⌈factor × estimate + offset_bytes + safety_lift_bytes⌉).
struct calibration_group {
    std::string engine;                              ///< canonical engine name
    std::optional<int> cc_major;                     ///< GPU architecture (compute capability major); unset = all
    correction_kind kind = correction_kind::factor;  ///< the parameters fitted
    double factor = 1.0;                             ///< k
    double offset_bytes = 0.0;                       ///< c as fitted (0 for a factor alone), bytes
    double safety_lift_bytes = 0.0;            ///< raise so that no record is estimated below its peak, bytes ≥ 0
    std::size_t runs = 0;                      ///< records fitted on
    std::uint64_t min_estimate_bytes = 0;      ///< smallest uncalibrated estimate among them
    std::uint64_t max_estimate_bytes = 0;      ///< largest uncalibrated estimate among them
    std::optional<double> held_out_error_pct;  ///< leave-one-out mean |error| %; unset with one record

    /// The calibrated figure for an uncalibrated @p estimate_bytes.
    [[nodiscard]] std::uint64_t apply(std::uint64_t estimate_bytes) const noexcept;
    /// True when @p estimate_bytes lies outside [min_estimate_bytes, max_estimate_bytes].
    [[nodiscard]] bool extrapolates(std::uint64_t estimate_bytes) const noexcept;
    /// "faster-whisper" or "faster-whisper, compute capability 8.x".
    [[nodiscard]] std::string label() const;
};

/// One record as calibrate reports it.
struct calibrated_record {
    std::string file;                                ///< where it was read
    std::size_t line = 0;                            ///< 1-based
    std::string engine;                              ///< canonical engine
    std::string model;                               ///< as recorded
    std::string precision;                           ///< as recorded
    int batch_size = 1;                              ///< as recorded
    int beam_size = 1;                               ///< as recorded
    std::string gpu_name;                            ///< as recorded
    std::optional<int> cc_major;                     ///< from compute_capability, else the catalog card
    std::optional<std::string> cuda_module_loading;  ///< as recorded
    std::uint64_t peak_bytes = 0;                    ///< measured
    std::uint64_t estimate_bytes = 0;                ///< the library's uncalibrated total for its configuration
    std::uint64_t calibrated_bytes = 0;              ///< after the correction of its group (≥ peak_bytes)
    double error_before_pct = 0.0;                   ///< (estimate − peak) / peak × 100
    double error_after_pct = 0.0;                    ///< (calibrated − peak) / peak × 100
    std::optional<double> held_out_error_pct;  ///< predicted by its group fitted without it; unset with one record
    std::string group;                         ///< label() of the group that calibrates it
};

/// A calibration profile: the groups and the records they were fitted on.
struct calibration_profile {
    int version = calibration_profile_version;  ///< 1
    std::vector<calibration_group> groups;      ///< per engine, then per architecture
    std::vector<calibrated_record> records;     ///< the records' summary
    std::string source;                         ///< where it was read from (not stored in the file; set by the loader)

    /// The group for @p engine (canonical) on architecture @p cc_major: that architecture's group
    /// when there is one, else the engine's; nullptr when the profile has none for the engine.
    [[nodiscard]] const calibration_group* find(std::string_view engine, std::optional<int> cc_major) const noexcept;
};

/// The request a record's configuration describes (engine, model, precision, batch, beam,
/// cuda_module_loading, GPU by name — from the catalog, else as a probed card with the record's
/// compute capability).
/// @throws usage_error when the library cannot estimate it (naming the value and what is allowed).
[[nodiscard]] estimate_request request_for_record(const measurement_record& record);

/// Fits a profile on @p records (see the rule above).
/// @throws usage_error "FILE:LINE: …" for a record the library cannot estimate, a guide record
/// (never calibrated) or a zero peak; and for an empty list.
[[nodiscard]] calibration_profile fit_calibration(const std::vector<located_record>& records);

/// Parses a profile's @p text; @p source names it in errors.
/// @throws usage_error "SOURCE: …" naming the key and what is allowed.
[[nodiscard]] calibration_profile parse_calibration_profile(std::string_view text, std::string_view source);

/// True when @p text is a JSON object whose "kind" is calibration_profile_kind (a file calibrate
/// wrote and may overwrite). Never throws.
[[nodiscard]] bool looks_like_calibration_profile(std::string_view text) noexcept;

/// Applies @p profile to @p result (an engine estimate for an engine whose canonical name is
/// @p engine, on architecture @p cc_major): total_required and recommended become the calibrated
/// figures, the uncalibrated ones move to result.uncalibrated, result.calibration says how, and a
/// note says "calibrated from N runs, held-out error X%" (and when extrapolated). With no group
/// for the engine, only a note. Never call it for the guide's formula.
void apply_calibration(const calibration_profile& profile, std::string_view engine, std::optional<int> cc_major,
                       memory_estimate& result);

}  // namespace whisper_vram
