#pragma once
/// @file measurement_record.hpp
/// One measured run of a Whisper job (issue 13, item 2): the measurement history's record, a
/// JSON Lines object (`measurements.jsonl`). Written by `measure` and `run --record`, read by
/// `calibrate`; users' scripts may write them too. Pure: text in, values out; no I/O.
///
/// Required keys: version (1), engine, model, precision, batch_size, beam_size, gpu_name,
/// peak_bytes, peak_method. Optional: compute_capability, gpu_uuid, driver_version,
/// cuda_driver_version, cuda_module_loading, baseline_bytes, duration_s, exit_status,
/// estimate_total_bytes, time, notes. Unknown keys are kept (in `extra`) and written back.
/// The JSON Schema is data/schema/measurement-record.schema.json.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace whisper_vram {

/// The record format's version: the only one this library reads and writes.
inline constexpr int measurement_record_version = 1;

/// Longest record line accepted (bytes, without its newline): 64 KiB. Longer lines are refused
/// (a history file is not a place for megabyte-long notes; it bounds the parser's memory).
inline constexpr std::size_t max_record_line_bytes = std::size_t{64} * 1024;

/// How a record's peak was measured.
enum class peak_method_kind {
    process_tree,  ///< sum of NVML per-process used memory over the job's process tree
    device_delta,  ///< device-wide used memory above the baseline taken just before the job started
};

/// "process_tree" or "device_delta".
[[nodiscard]] std::string_view to_string(peak_method_kind method) noexcept;

/// The method @p text names exactly ("process_tree", "device_delta"); nullopt otherwise.
[[nodiscard]] std::optional<peak_method_kind> parse_peak_method(std::string_view text) noexcept;

/// One measured run. Byte counts are bytes; absent optional keys are nullopt.
struct measurement_record {
    int version = measurement_record_version;  ///< always 1
    std::string engine;                        ///< engine name or alias as the estimator takes it
    std::string model;                         ///< model name or alias (catalog)
    std::string precision;                     ///< precision as the engine names it
    int batch_size = 1;                        ///< 1 … 4096
    int beam_size = 1;                         ///< 1 … 4096
    std::string gpu_name;                      ///< as NVML names it, e.g. "NVIDIA GeForce RTX 3090"
    std::uint64_t peak_bytes = 0;              ///< the job's peak GPU memory (bytes, ≥ 0)
    peak_method_kind peak_method = peak_method_kind::process_tree;  ///< how peak_bytes was measured

    std::optional<std::string> compute_capability;      ///< "8.6": major.minor, digits
    std::optional<std::string> gpu_uuid;                ///< NVML UUID, e.g. "GPU-…"
    std::optional<std::string> driver_version;          ///< NVIDIA driver, e.g. "550.54.14"
    std::optional<std::string> cuda_driver_version;     ///< CUDA version the driver supports, e.g. "12.4"
    std::optional<std::string> cuda_module_loading;     ///< "lazy" or "eager" (canonical, as parse_cuda_module_loading)
    std::optional<std::uint64_t> baseline_bytes;        ///< device used memory just before start (bytes)
    std::optional<double> duration_s;                   ///< wall time of the job (s, finite, ≥ 0)
    std::optional<int> exit_status;                     ///< the job's exit status, 0 … 255
    std::optional<std::uint64_t> estimate_total_bytes;  ///< the estimate at record time (informative)
    std::optional<std::string> time;                    ///< start time, RFC 3339 ("2026-12-02T04:50:39Z")
    std::optional<std::string> notes;                   ///< free text

    /// Keys this version does not know, in their order, kept so that writing back keeps them.
    /// Always an object (empty when none).
    nlohmann::ordered_json extra = nlohmann::ordered_json::object();
};

/// The record as one JSON line: no newline inside or at the end, UTF-8, stable key order (the
/// order of the fields above, then the unknown keys in their order). Absent optional keys are left out.
[[nodiscard]] std::string to_json_line(const measurement_record& record);

/// Why a record line was refused.
struct record_parse_error {
    std::string field;    ///< the key at fault ("" when the line as a whole is at fault)
    std::string message;  ///< what is wrong and what is allowed, e.g. "peak_bytes: -5 is not allowed: an integer ≥ 0"
};

/// A parsed line: exactly one of record and error is set.
struct record_parse_result {
    std::optional<measurement_record> record;  ///< the record, when the line is valid
    std::optional<record_parse_error> error;   ///< the first problem found, otherwise

    /// True when the line is a valid record.
    [[nodiscard]] bool ok() const noexcept { return record.has_value(); }
};

/// Parses one line (without its newline; a trailing '\r' is allowed) into a record. Refuses, with
/// the field and what is allowed: a line over max_record_line_bytes, invalid UTF-8, text that is
/// not one JSON object (truncated, NaN, Infinity, trailing junk), duplicate keys (at any depth),
/// a missing required key, a wrong type, a negative or out-of-range number, an unknown peak_method,
/// a version other than 1. A JSON null for an optional key counts as absent. Never throws.
[[nodiscard]] record_parse_result parse_measurement_record(std::string_view line) noexcept;

/// True when @p text is valid UTF-8 (no overlongs, no surrogates, ≤ U+10FFFF). On failure
/// @p bad_offset (when given) receives the offset of the first bad byte.
[[nodiscard]] bool is_valid_utf8(std::string_view text, std::size_t* bad_offset = nullptr) noexcept;

}  // namespace whisper_vram
