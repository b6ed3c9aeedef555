#pragma once
/// @file estimate.hpp
/// The value types every estimator produces, and the one entry point that dispatches on engine.
/// Pure: no I/O, no environment, no GPU.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace whisper_vram {

/// Default safety margin of the guide: recommended = total × (1 + 0.2).
inline constexpr double default_margin = 0.2;

struct calibration_profile;  // calibration.hpp

/// A card the job runs on as a live or simulated GPU reports it, for a GPU that is not (or not
/// uniquely) in the catalog. Engines read it like a catalog card when gpu_name is unset.
struct gpu_target {
    std::string name;                ///< as reported (NVML name or the simulated one), for the notes
    int cc_major = 0;                ///< CUDA compute capability, major (from NVML or the catalog)
    int cc_minor = 0;                ///< CUDA compute capability, minor
    std::uint64_t memory_bytes = 0;  ///< total memory as reported (bytes)
};

/// What to estimate. Defaults are the guide's: medium, 30 s, batch 1, float16, 20% margin,
/// engine "guide" (the guide's formula, exactly).
struct estimate_request {
    std::string model = "medium";   ///< catalog name or alias
    double segment_seconds = 30.0;  ///< audio segment length; finite, > 0, ≤ 86400
    int batch_size = 1;             ///< 1 … 4096
    std::string precision =
        "float16";                   ///< guide: float32/float16/int8/int4 (+ aliases); engines: their own (engines.hpp)
    double margin = default_margin;  ///< 0 … 10; recommended = total × (1 + margin)
    std::string engine = "guide";    ///< "guide" or an engine name or alias (engines.hpp)
    std::optional<int> beam_size;    ///< engines only; unset = the engine's default
    std::optional<std::string> gpu_name;  ///< engines only; card the job runs on (catalog name)
    /// engines only; the card the job runs on as probed (live or simulated GPU), used when gpu_name
    /// is unset: its compute capability decides CC-dependent choices (CT2 float16 → float32 below 7.0,
    /// bfloat16 refusal below 8.0…). The planner sets it per GPU; unset = card unknown.
    std::optional<gpu_target> target_gpu;
    std::optional<bool> flash_attention;  ///< engines only; unset = the engine's default
    /// engines only; "lazy" or "eager" CUDA module loading (CUDA_MODULE_LOADING); unset = not
    /// stated, sized on the safe side (the estimate's notes say what was assumed)
    std::optional<std::string> cuda_module_loading;
    std::optional<std::string> language;  ///< whisperx: language of the alignment model; unset = "en"
    std::optional<bool> align;            ///< whisperx: load the wav2vec2 alignment model; unset = yes
    bool diarize = false;                 ///< whisperx: load the pyannote diarization pipeline
    /// whisperx: size its CLI, which frees each stage's models before the next (peak = the largest
    /// stage); false = its README's Python example, every model resident (the sum, the safe side)
    bool staged = false;
    /// engines only; the calibration profile the estimate applies (calibration.hpp); null =
    /// uncalibrated. The guide's formula ignores it: it is never calibrated.
    std::shared_ptr<const calibration_profile> calibration;
};

/// A guide-style request: the guide's four inputs, every other field at its default.
[[nodiscard]] estimate_request make_guide_request(std::string_view model, double segment_seconds = 30.0,
                                                  int batch_size = 1, std::string_view precision = "float16");

/// One line of a breakdown.
struct memory_component {
    std::string key;          ///< stable identifier, e.g. "base_model", "cuda_context"
    double gib = 0.0;         ///< value in GiB (the guide formula's own unit: exact for the guide)
    std::uint64_t bytes = 0;  ///< the same amount in bytes, rounded up
    std::string description;  ///< one line: what it is and where the figure comes from
};

/// An estimate's figures before its calibration.
struct uncalibrated_figures {
    double total_required_gib = 0.0;         ///< the engine's total (GiB)
    double recommended_gib = 0.0;            ///< total × (1 + margin) (GiB)
    std::uint64_t total_required_bytes = 0;  ///< the engine's total (bytes)
    std::uint64_t recommended_bytes = 0;     ///< total × (1 + margin) (bytes)
};

/// How an estimate was calibrated.
struct calibration_applied {
    std::string profile;                       ///< the profile's path
    std::string group;                         ///< the group used: "faster-whisper" or "…, compute capability 8.x"
    std::size_t runs = 0;                      ///< records the group was fitted on
    std::optional<double> held_out_error_pct;  ///< leave-one-out mean |error| %; unset with one run
    bool extrapolated = false;                 ///< the uncalibrated total lies outside the records' range
    double factor = 1.0;                       ///< calibrated = factor × total + offset_bytes
    double offset_bytes = 0.0;                 ///< fitted offset plus the safety lift (bytes)
};

/// Result of an estimate: the breakdown in order, the total and the recommended amount.
struct memory_estimate {
    estimate_request request;                 ///< the inputs, normalised (canonical model/precision names)
    std::vector<memory_component> breakdown;  ///< components in order; they sum to total_required
    double total_required_gib = 0.0;          ///< sum of the breakdown (GiB)
    double recommended_gib = 0.0;             ///< total × (1 + margin) (GiB)
    std::uint64_t total_required_bytes = 0;   ///< total, rounded up to bytes
    std::uint64_t recommended_bytes = 0;      ///< recommended, rounded up to bytes: compared with free memory
    std::vector<std::string> notes;           ///< remarks the user should see (adjustments made, caveats)
    std::optional<std::uint64_t>
        host_bytes;  ///< host RAM for the audio + mel of the segment (engines; unset for the guide)
    /// With a calibration profile: total_required and recommended are the calibrated figures, these
    /// the engine's own (the breakdown stays the engine's); unset when uncalibrated.
    std::optional<uncalibrated_figures> uncalibrated;
    std::optional<calibration_applied> calibration;  ///< how it was calibrated; unset when uncalibrated
};

/// True when @p estimate's recommended amount fits in @p available_bytes
/// (recommended_bytes ≤ available_bytes). The one comparison every "fits" decision uses.
[[nodiscard]] constexpr bool fits_in(const memory_estimate& estimate, std::uint64_t available_bytes) noexcept {
    return estimate.recommended_bytes <= available_bytes;
}

/// Estimates @p request with the estimator its engine names ("guide" or empty → guide formula),
/// dispatched through the engine registry (defined in src/engines/registry.cpp).
/// @throws usage_error for any invalid input (unknown model/engine/precision, bad numbers).
memory_estimate estimate(const estimate_request& request);

/// Checks the numeric inputs shared by every estimator. Messages name the bad value and the range.
void validate_segment_seconds(double seconds);
void validate_batch_size(long long batch);
void validate_margin(double margin);

/// Parses a segment length in seconds ("30", "45.5"); validates it.
double parse_segment_seconds(std::string_view text);
/// Parses a batch size (an integer 1…4096, no fraction, no sign, no junk); validates it.
int parse_batch_size(std::string_view text);
/// Parses a margin ("0.2"); validates it.
double parse_margin(std::string_view text);

/// The CUDA module loading mode @p text names, as CUDA reads CUDA_MODULE_LOADING: "lazy" for
/// LAZY and DEFAULT (CUDA documents DEFAULT as equivalent to LAZY), "eager" for EAGER; trimmed,
/// case-insensitive.
/// @throws usage_error naming @p source (e.g. "--cuda-module-loading" or "CUDA_MODULE_LOADING"),
/// the value and the accepted values.
std::string parse_cuda_module_loading(std::string_view text, std::string_view source = "cuda_module_loading");

}  // namespace whisper_vram
