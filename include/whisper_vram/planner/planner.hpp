#pragma once
/// @file planner.hpp
/// The planner: the guide's "optimization strategies" and "examples" computed from the estimator.
/// Best model for the memory you have, exact inverse solvers (longest segment, largest batch, most
/// concurrent tasks, least memory), per-GPU recommendations, the guide's three presets, and the
/// guide's check_gpu_memory_sufficient with suggestions that are re-estimated before they are offered.
///
/// Pure: every function here works on values (requests, byte counts, GPU records) through
/// estimate() — no I/O, no environment, no GPU. Works with any engine estimate() accepts: the
/// guide formula gets closed-form solvers (verified by re-estimating), every other engine a
/// monotone search (binary search, re-estimating at each step).
///
/// Every "fits" decision is fits_in(estimate, available_bytes): recommended_bytes ≤ available_bytes.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "whisper_vram/core/estimate.hpp"
#include "whisper_vram/gpu/gpu_probe.hpp"
#include "whisper_vram/gpu/gpu_selection.hpp"

namespace whisper_vram {

/// Longest segment a solver considers (seconds): the estimators' own limit (24 h).
inline constexpr std::uint64_t max_segment_limit_seconds = 86400;
/// Largest batch a solver considers: the estimators' own limit.
inline constexpr std::uint64_t max_batch_limit = 4096;

// ---- the GPU a plan is for ---------------------------------------------------------------------

/// @p request as sized for @p gpu. Engines (not the guide's formula, which does not depend on the
/// card) get the GPU's compute capability, name and total memory (estimate_request::target_gpu),
/// so CC-dependent choices apply (CTranslate2 runs float16 as float32 below CC 7.0, refuses
/// bfloat16 below 8.0…). Without a reported capability the matching catalog row is used
/// (gpu_name = gpu.catalog_name); with neither the card stays unknown. A request that names its
/// card (gpu_name, `--gpu`) is returned unchanged: the user said what it runs on.
[[nodiscard]] estimate_request request_for_gpu(const estimate_request& request, const gpu_device& gpu);

/// What whisper-vram's reservation ledger leaves of a GPU: the figures of the admission rule
/// (admission_capacity() in sched/scheduler.hpp), passed in by the facade so that planning and
/// `run`'s admission count reservations with the same function.
struct gpu_admittable {
    std::uint64_t reserved_bytes = 0;   ///< Σ outstanding reservations on the GPU
    std::uint64_t available_bytes = 0;  ///< admittable now: what a new reservation may take
};

/// True for engines that transcribe in batches (faster-whisper's batched pipeline, WhisperX,
/// transformers' pipeline): their memory is flat in segment length and grows with the batch, so
/// the batch is the knob a plan reports.
[[nodiscard]] bool is_batched_engine(std::string_view engine) noexcept;

// ---- best model ---------------------------------------------------------------------------------

/// The models assign_optimal_model() tries, best first.
///
/// engine "guide" (or empty): the guide's own ladder large > medium > small > base > tiny
/// (english_only: large > medium.en > small.en > base.en > tiny.en; there is no large.en).
///
/// Other engines, by transcription quality (published WERs of openai/whisper and distil-whisper):
/// multilingual large-v3 > large-v3-turbo > medium > small > base > tiny. The distil models
/// transcribe English only, so they are on the English ladder alone (english_only = true):
/// large-v3 > large-v3-turbo > distil-large-v3 > medium.en > distil-medium.en > small.en >
/// distil-small.en > base.en > tiny.en. The last rung is the answer when nothing fits.
/// @throws nothing; an unknown engine gives the engine ladder (estimate() rejects the engine later).
std::vector<std::string> model_ladder(std::string_view engine, bool english_only = false);

/// Result of assign_optimal_model().
struct best_model_result {
    std::string model;                  ///< best model that fits; the ladder's last rung when none does
    bool fits = false;                  ///< false: nothing fits, not even the last rung
    memory_estimate estimate;           ///< estimate of `model` with the request's other inputs
    std::uint64_t available_bytes = 0;  ///< the memory asked about
    std::vector<std::string> ladder;    ///< models tried, best first
    std::vector<std::string> notes;     ///< rungs skipped because the engine cannot size them, etc.
    std::string message;                ///< one line for people
};

/// The guide's assign_optimal_model(available_memory): the first model of model_ladder() whose
/// recommended amount fits in @p available_bytes, with @p request's segment, batch, precision,
/// margin and engine (request.model is ignored). Nothing fits → the last rung (tiny), fits false.
/// A rung the engine refuses (usage_error, e.g. a model it cannot run) is skipped with a note.
/// @throws usage_error when every rung is refused (bad precision, unknown engine…): the first error.
best_model_result assign_optimal_model(std::uint64_t available_bytes, const estimate_request& request,
                                       bool english_only = false);

// ---- solvers ------------------------------------------------------------------------------------

/// What a solver finds.
enum class solve_quantity {
    max_segment,     ///< longest segment in whole seconds (1 … 86400) that fits
    max_batch,       ///< largest batch (1 … 4096) that fits
    max_concurrent,  ///< most copies of the task that fit side by side
    min_memory,      ///< least memory that fits: the recommended amount
};

/// "max_segment", "max_batch", "max_concurrent", "min_memory".
std::string_view to_string(solve_quantity quantity) noexcept;

/// Result of a solver.
struct solve_result {
    solve_quantity quantity = solve_quantity::max_segment;
    /// The answer: seconds, batch size or task count; 0 when even the smallest step does not fit.
    /// For min_memory: bytes (= recommended_bytes).
    std::uint64_t value = 0;
    bool fits = false;                             ///< false when even the smallest step does not fit
    estimate_request request;                      ///< the inputs (normalised); the solved field set to value
    std::optional<std::uint64_t> available_bytes;  ///< the memory solved for (none for min_memory)
    std::optional<memory_estimate> at_value;       ///< estimate at the answer (per task for max_concurrent)
    /// Recommended bytes one step beyond the answer (segment + 1 s, batch + 1, one more task,
    /// memory − 1 byte is the min_memory counterpart); none when the answer is at the limit.
    std::optional<std::uint64_t> next_step_bytes;
    std::vector<std::string> notes;  ///< e.g. memory flat in segment length, capped at the limit
    std::string message;             ///< one line for people
};

/// Longest whole-second segment (1 … 86400) whose recommended amount fits in @p available_bytes,
/// with @p request's model, batch, precision, margin and engine (request.segment_seconds ignored).
/// Guide: closed form, then verified by re-estimating (the answer fits, one second more does not).
/// Engines: binary search. When memory does not grow with segment length (e.g. an engine that
/// processes long audio window by window) the answer is the 86400 s cap with a note saying so.
/// @throws usage_error for invalid inputs.
solve_result solve_max_segment(const estimate_request& request, std::uint64_t available_bytes);

/// Largest batch (1 … 4096) that fits; request.batch_size ignored. Same method as solve_max_segment().
/// @throws usage_error for invalid inputs.
solve_result solve_max_batch(const estimate_request& request, std::uint64_t available_bytes);

/// How many copies of @p request fit side by side in @p available_bytes. Rule: each task needs
/// its own recommended amount (margin included per task, as the guide's can_run_concurrent_task
/// sums `recommended` over the tasks), so n tasks fit when n × recommended_bytes ≤ available:
/// n = floor(available_bytes / recommended_bytes).
/// @throws usage_error for invalid inputs.
solve_result solve_max_concurrent(const estimate_request& request, std::uint64_t available_bytes);

/// Least memory that fits @p request: recommended_bytes (so it fits, and one byte less does not).
/// @throws usage_error for invalid inputs.
solve_result solve_min_memory(const estimate_request& request);

// ---- per-GPU recommendations ----------------------------------------------------------------------

/// What to run with a given amount of memory at one precision.
struct gpu_plan {
    std::string precision;                  ///< the precision planned for
    best_model_result best;                 ///< best model at the request's segment (30 s by default)
    std::uint64_t max_segment_seconds = 0;  ///< longest segment for that model (0 when nothing fits)
    std::uint64_t max_concurrent = 0;       ///< how many tasks of that model at the request's segment fit
    /// Batched engines (is_batched_engine()): the largest batch of that model that fits (0 when
    /// nothing fits); none for the others.
    std::optional<std::uint64_t> max_batch;
    std::vector<std::string> notes;
};

/// Plans for @p memory_bytes: best model (at request's segment/batch), its longest segment and
/// how many such tasks fit side by side.
/// @throws usage_error for invalid inputs.
gpu_plan plan_for_memory(std::uint64_t memory_bytes, const estimate_request& request, bool english_only = false);

/// Recommendations for one GPU.
struct gpu_recommendation {
    std::string gpu;                ///< catalog name or device name
    std::optional<unsigned> index;  ///< CUDA index for live/simulated GPUs
    std::string uuid;               ///< live/simulated GPUs only
    std::uint64_t total_bytes = 0;  ///< the card's memory
    /// Memory planned for: the card's size for catalog GPUs; for live ones the admittable memory
    /// (free less whisper-vram's outstanding reservations) or, ignoring reservations, the free memory.
    std::uint64_t memory_bytes = 0;
    std::optional<std::uint64_t> free_bytes;      ///< live/simulated GPUs: free memory as probed
    std::optional<std::uint64_t> reserved_bytes;  ///< live/simulated GPUs with reservations counted
    std::vector<std::string> notes;               ///< e.g. a precision this GPU cannot run
    std::string state = "ok";                     ///< gpu_state name; not "ok" → no plan
    std::string reason;                           ///< why there is no plan
    std::optional<gpu_plan> plan;                 ///< at the requested precision
    std::optional<gpu_plan> int8;                 ///< the same at int8; none when the engine refuses int8
};

/// Recommendations for several GPUs.
struct recommendation_result {
    std::string source;        ///< "catalog", "nvml" or "simulated"
    estimate_request request;  ///< base inputs (precision, engine, segment 30 s, batch 1)
    std::vector<gpu_recommendation> gpus;
    /// What memory_bytes is: "card" (catalog), "admittable" (free less reservations) or "free".
    std::string memory_basis = "card";
};

/// Recommendations for catalog GPUs by name (find_gpu_model(); forgiving names). For engines
/// other than the guide, the request's gpu_name is set to each card so the engine sizes for it.
/// @throws usage_error for an unknown GPU name or invalid inputs.
recommendation_result recommend_for_catalog(std::span<const std::string> gpu_names, const estimate_request& request,
                                            bool english_only = false);

/// Recommendations for live or simulated GPUs, each sized for its own card (request_for_gpu()) and
/// planned on its admittable memory when @p admittable is given (one entry per GPU, same order),
/// else on its free memory. GPUs whose state is not ok get no plan and the reason; a GPU whose
/// card the engine refuses for the precision (bfloat16 below CC 8.0…) gets no plan and says why.
/// @throws usage_error for invalid inputs; @p admittable of another size than @p gpus.
recommendation_result recommend_for_gpus(const std::vector<visible_gpu>& gpus, probe_source source,
                                         const estimate_request& request, bool english_only = false,
                                         std::span<const gpu_admittable> admittable = {});

// ---- presets ------------------------------------------------------------------------------------

/// One of the guide's preset configurations ("预设配置"), exactly as the guide writes it.
struct guide_preset {
    std::string_view name;  ///< "high_performance", "balanced", "efficient"
    std::string_view model;
    double segment_seconds = 30.0;
    int batch_size = 1;
    std::string_view precision;
    int max_concurrent = 1;
    std::string_view target_gpu;  ///< catalog name of the card the guide's comment names
};

/// The three presets in the guide's order.
std::span<const guide_preset> guide_presets() noexcept;

/// Finds a preset by name (case-insensitive; '-' and '_' alike).
/// @throws usage_error naming the bad name and the presets there are.
const guide_preset& find_preset(std::string_view name);

/// The preset as an estimate request (guide formula, 20% margin).
estimate_request preset_request(const guide_preset& preset);

/// A preset sized by the formula and compared with its own target GPU.
struct preset_evaluation {
    guide_preset preset;
    memory_estimate estimate;                    ///< one task
    std::uint64_t total_required_bytes = 0;      ///< total_required_bytes × max_concurrent
    std::uint64_t recommended_bytes = 0;         ///< recommended_bytes × max_concurrent
    double total_required_gib = 0.0;             ///< total_required × max_concurrent
    double recommended_gib = 0.0;                ///< recommended × max_concurrent
    std::uint64_t target_memory_bytes = 0;       ///< the target card's marketed size read as GiB, as the guide does
    bool fits_target = false;                    ///< recommended × max_concurrent ≤ target memory
    std::uint64_t max_concurrent_on_target = 0;  ///< tasks of the preset that fit on the target
    /// Longest segment at which max_concurrent tasks of the preset fit on the target (0: none).
    std::uint64_t max_segment_on_target = 0;
    std::string message;  ///< plain verdict
};

/// Sizes @p preset and compares it with its target GPU.
preset_evaluation evaluate_preset(const guide_preset& preset);

// ---- check ----------------------------------------------------------------------------------------

/// One GPU of a check.
struct check_gpu_row {
    unsigned index = 0;       ///< CUDA index (what --gpus and PyTorch's cuda:N mean)
    unsigned nvml_index = 0;  ///< NVML index
    std::string name;
    std::string uuid;
    std::string state = "ok";  ///< gpu_state name
    std::uint64_t total_bytes = 0;
    std::uint64_t free_bytes = 0;
    std::uint64_t reserved_bytes = 0;   ///< whisper-vram's outstanding reservations (0 when not counted)
    std::uint64_t available_bytes = 0;  ///< planned on: admittable (reservations counted) or free
    std::uint64_t required_bytes = 0;   ///< recommended bytes of the request sized for this GPU
    std::uint64_t shortfall_bytes = 0;  ///< required − available when it does not fit, else 0
    bool fits = false;                  ///< state ok, the engine runs the request on it and required ≤ available
    bool supported = true;              ///< false: the engine refuses the request on this card (reason says why)
    std::string reason;                 ///< why it does not fit
    std::vector<std::string> notes;     ///< the estimate's notes for this card (e.g. float16 run as float32)
};

/// A change that alone makes the request fit on the tightest GPU, re-estimated.
struct check_suggestion {
    /// "segment_duration", "batch_size", "precision", "model" or "free_memory".
    std::string change;
    estimate_request config;       ///< the request with the change applied
    double recommended_gib = 0.0;  ///< re-estimated recommended amount of config
    std::uint64_t recommended_bytes = 0;
    std::uint64_t free_needed_bytes = 0;  ///< free_memory only: what other processes would have to free
    std::string text;                     ///< the suggestion in words, with its numbers
};

/// Result of check_gpu_memory_sufficient().
struct check_result {
    bool sufficient = false;  ///< true only when every listed GPU fits (each runs its own copy)
    std::string message;
    std::vector<std::string> optimization_suggestions;  ///< the guide's list of strings
    std::vector<check_suggestion> suggestions;          ///< the same, as data
    std::vector<check_gpu_row> gpus;
    /// The estimate of the request on the GPU that needs the most (each GPU is sized for its card;
    /// the request as given when no GPU accepts it).
    memory_estimate required;
    std::string source;  ///< probe source: "nvml" or "simulated"
    /// "admittable" (free less whisper-vram's reservations, as `run` admits) or "free" (reservations ignored).
    std::string memory_basis = "free";
};

/// The guide's check_gpu_memory_sufficient over given GPUs: fits when recommended ≤ available on a
/// GPU (available: @p admittable's figure when given — one entry per GPU, same order — else the
/// free memory); sufficient when every GPU fits. Each GPU is sized for its own card
/// (request_for_gpu()); a GPU the engine refuses (bfloat16 on CC < 8.0…) does not fit, with the
/// reason; when every GPU refuses, that usage_error is thrown. For an insufficient request, suggestions in the guide's
/// order, each a change that alone makes it fit on the tightest usable GPU (least free memory):
/// the longest segment that fits, the largest batch, the lowest precision needed, the best
/// smaller model, and the memory other processes would have to free. GPUs whose state is not ok
/// (lost, unified memory) do not fit, with the reason. @p gpus empty: not sufficient.
/// @throws usage_error for invalid inputs.
check_result check_memory(const estimate_request& request, const std::vector<visible_gpu>& gpus, probe_source source,
                          std::span<const gpu_admittable> admittable = {});

}  // namespace whisper_vram
