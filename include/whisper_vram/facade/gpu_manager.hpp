#pragma once
/// @file gpu_manager.hpp
/// The facade: the guide's API (`gpu_manager.calculate_memory_usage(...)` etc.) over the
/// estimators, planner, probes and scheduler. The CLI and the Python module both sit on it.
///
/// It never reads the environment and never prints: the edge reads the environment once
/// (read_environment()), builds a gpu_manager from it, and passes a warning_sink for what the
/// library has to say besides its results (the CLI prints "whisper-vram: warning: …" on stderr,
/// Python calls warnings.warn; an empty sink drops the warnings).

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "whisper_vram/core/estimate.hpp"
#include "whisper_vram/facade/concurrency.hpp"
#include "whisper_vram/facade/environment.hpp"
#include "whisper_vram/gpu/cuda_debug.hpp"
#include "whisper_vram/gpu/gpu_probe.hpp"
#include "whisper_vram/json/json.hpp"
#include "whisper_vram/planner/planner.hpp"

namespace whisper_vram {

namespace detail {
struct concurrency_state;
std::shared_ptr<concurrency_state> make_concurrency_state();
}  // namespace detail

/// What a gpu_manager takes from the environment, stored once (see manager_options_from()).
struct manager_options {
    /// CUDA_VISIBLE_DEVICES: which GPUs CUDA programs see and how index ids are read (see
    /// visible_gpus()); nullopt = unset, every GPU.
    std::optional<std::string> cuda_visible_devices;
    /// What get_cuda_debug_info() reports and which NVML it loads.
    debug_environment debug;
    /// The file ledger's folder (shared with `whisper-vram run`); empty = default_state_dir() with no
    /// variable set (/tmp/whisper-vram-UID).
    std::filesystem::path state_dir;
    /// Non-empty when the environment named an unusable state folder (WHISPER_VRAM_STATE_DIR empty
    /// or relative, see state_dir_from()): get_scheduler() throws usage_error with this message.
    std::string state_dir_error;
    /// Receives the library's warnings (a repaired ledger…); empty = dropped.
    warning_sink warnings;
    /// SLURM_JOB_ID and SLURM_SHARDS_ON_NODE: inside a Slurm job with shards, every reservation is
    /// capped at the job's shards × @ref shard_granule_bytes (planner/slurm.hpp job_cap_from_slurm();
    /// scheduler_options::job_cap_bytes). A bad SLURM_SHARDS_ON_NODE: reserving throws usage_error.
    std::optional<std::string> slurm_job_id;
    std::optional<std::string> slurm_shards_on_node;
    /// GPU memory per Slurm shard, as the cluster's gres.conf was written (`whisper-vram slurm gres-conf
    /// --granule`); the environment does not say it: `run --shard-granule`, Python `shard_granule`.
    std::uint64_t shard_granule_bytes = std::uint64_t{1} << 30;
};

/// probe_options from @p env: WHISPER_VRAM_SIMULATE and WHISPER_VRAM_NVML_LIBRARY (empty = unset).
[[nodiscard]] probe_options probe_options_from(const environment& env);

/// debug_environment from @p env: WHISPER_VRAM_NVML_LIBRARY (empty = unset), CUDA_VISIBLE_DEVICES,
/// CUDA_DEVICE_ORDER.
[[nodiscard]] debug_environment debug_environment_from(const environment& env);

/// manager_options from @p env (the state folder per default_state_dir()), with @p warnings.
[[nodiscard]] manager_options manager_options_from(const environment& env, warning_sink warnings = {});

/// One live or simulated GPU a plan is for, and the memory the plan may use (gpu_manager::planning_gpu()).
struct planning_gpu_memory {
    visible_gpu gpu;                    ///< the GPU (CUDA index, NVML record: capability, name, memory)
    std::uint64_t available_bytes = 0;  ///< admittable (reservations counted) or free memory
    std::uint64_t reserved_bytes = 0;   ///< whisper-vram's outstanding reservations on it (0 when ignored)
    std::string memory_basis;           ///< "admittable" or "free"
};

/// The guide's gpu_manager.
class gpu_manager {
public:
    /// Uses @p probe for GPU information (null: NVML, make_probe({})), with no environment: every GPU
    /// visible, the state folder /tmp/whisper-vram-UID, warnings dropped. For tests. A program that
    /// reserves memory beside `whisper-vram run` must use gpu_manager(read_environment(), sink)
    /// instead, so that both find the same ledger (WHISPER_VRAM_STATE_DIR, XDG_RUNTIME_DIR) and the
    /// same CUDA_VISIBLE_DEVICES numbering.
    explicit gpu_manager(std::shared_ptr<gpu_probe> probe = nullptr);
    /// The probe @p env asks for (make_probe(probe_options_from(env))) and manager_options_from(env).
    /// @throws usage_error for a bad WHISPER_VRAM_SIMULATE spec.
    explicit gpu_manager(const environment& env, warning_sink warnings = {});
    /// @p probe (e.g. built from a --simulate flag) with manager_options_from(@p env).
    gpu_manager(std::shared_ptr<gpu_probe> probe, const environment& env, warning_sink warnings = {});
    /// @p probe with @p options.
    gpu_manager(std::shared_ptr<gpu_probe> probe, manager_options options);

    /// The guide's calculate_memory_usage: guide formula, 20% margin.
    /// @throws usage_error on invalid input.
    [[nodiscard]] memory_estimate calculate_memory_usage(std::string_view model_name, double segment_duration = 30.0,
                                                         int batch_size = 1,
                                                         std::string_view precision = "float16") const;

    /// Any estimate (engine, margin, beams…).
    [[nodiscard]] memory_estimate calculate(const estimate_request& request) const;

    /// The guide's get_gpu_memory_info: a snapshot of every GPU (source none when unavailable).
    [[nodiscard]] gpu_snapshot get_gpu_memory_info() const;

    // ---- gpus / debug (NVML) ----
    /// The guide's get_cuda_debug_info, for the environment this manager was built with
    /// (manager_options::debug: WHISPER_VRAM_NVML_LIBRARY, CUDA_VISIBLE_DEVICES, CUDA_DEVICE_ORDER). With an NVML (or
    /// "none") probe it loads NVML afresh and records every step; with simulated GPUs it says so and lists them. Never
    /// throws for driver conditions; to_json(cuda_debug_info) gives the guide's dictionary.
    [[nodiscard]] cuda_debug_info get_cuda_debug_info() const;
    /// The same for an explicit @p environment.
    [[nodiscard]] cuda_debug_info get_cuda_debug_info(const debug_environment& environment) const;
    // ---- end gpus / debug ----

    /// The probe in use.
    [[nodiscard]] gpu_probe& probe() const noexcept { return *probe_; }

    // ---- planner: best model, solvers, recommendations, presets, check ----
    // Thin over planner.hpp (pure); see there for the rules. Memory is in bytes.

    /// The guide's assign_optimal_model(available_memory): best model of model_ladder(engine)
    /// whose recommended amount fits in @p available_bytes with @p request's segment, batch,
    /// precision, margin and engine (request.model ignored). Nothing fits → tiny, fits false.
    /// @throws usage_error on invalid input.
    [[nodiscard]] best_model_result assign_optimal_model(std::uint64_t available_bytes,
                                                         const estimate_request& request = {},
                                                         bool english_only = false) const;

    /// Longest whole-second segment that fits (request.segment_seconds ignored). @throws usage_error.
    [[nodiscard]] solve_result solve_max_segment(const estimate_request& request, std::uint64_t available_bytes) const;
    /// Largest batch that fits (request.batch_size ignored). @throws usage_error.
    [[nodiscard]] solve_result solve_max_batch(const estimate_request& request, std::uint64_t available_bytes) const;
    /// How many such tasks fit side by side: floor(available / recommended_bytes). @throws usage_error.
    [[nodiscard]] solve_result solve_max_concurrent(const estimate_request& request,
                                                    std::uint64_t available_bytes) const;
    /// Least memory that fits (= recommended_bytes). @throws usage_error.
    [[nodiscard]] solve_result solve_min_memory(const estimate_request& request) const;

    /// Per-GPU recommendations for the GPUs this manager's probe sees (live or simulated, in
    /// CUDA's numbering after manager_options::cuda_visible_devices), each sized for its card and
    /// planned on its admittable memory (free less whisper-vram's outstanding reservations, as
    /// `run` admits: gpu_admittables()), or on its free memory with @p ignore_reservations.
    /// @throws gpu_unavailable_error with the probe's reason when GPU information is unavailable;
    ///         usage_error on invalid input; state_error when the ledger cannot be read.
    [[nodiscard]] recommendation_result recommend(const estimate_request& request = {}, bool english_only = false,
                                                  bool ignore_reservations = false) const;
    /// Per-GPU recommendations for catalog GPUs by name, planned on each card's memory.
    /// @throws usage_error for an unknown GPU name or invalid input.
    [[nodiscard]] recommendation_result recommend(std::span<const std::string> gpu_names,
                                                  const estimate_request& request = {},
                                                  bool english_only = false) const;

    /// The guide's three presets, each sized and compared with its own target GPU.
    [[nodiscard]] std::vector<preset_evaluation> presets() const;

    /// The guide's check_gpu_memory_sufficient: does the configuration fit on each listed GPU
    /// (ids: CUDA index, UUID or unique prefix, PCI bus id; empty = every visible GPU)? Each GPU
    /// runs its own copy, so `sufficient` needs every one to fit. Suggestions per planner.hpp.
    /// @throws gpu_unavailable_error (probe's reason) when GPU information is unavailable or no
    ///         GPU is visible; usage_error for invalid input or a GPU id that does not exist
    ///         (the message names the GPUs there are).
    [[nodiscard]] check_result check_gpu_memory_sufficient(std::string_view model_name,
                                                           const std::vector<std::string>& gpu_ids = {},
                                                           double segment_duration = 30, int batch_size = 1,
                                                           std::string_view precision = "float16") const;
    /// The same for any request (engine, margin, beams…). Each GPU is sized for its own card
    /// (request_for_gpu()) and planned on its admittable memory (free less whisper-vram's
    /// outstanding reservations, as `run` admits), or on its free memory with @p ignore_reservations.
    /// @throws additionally state_error when the ledger cannot be read.
    [[nodiscard]] check_result check_gpu_memory_sufficient(const estimate_request& request,
                                                           const std::vector<std::string>& gpu_ids = {},
                                                           bool ignore_reservations = false) const;

    /// One view of capacity: for each of @p gpus the admission figures of `run`
    /// (admission_capacity() over the ledger's live reservations: total, used, reserved, admittable).
    /// The same function the scheduler admits with. @throws state_error when the ledger cannot be read.
    [[nodiscard]] std::vector<gpu_capacity> gpu_capacities(const std::vector<visible_gpu>& gpus) const;

    /// The one GPU @p gpu_ids selects (empty: the only visible GPU) and the memory a plan for it may
    /// use: admittable (free less outstanding reservations, as `run` admits) or, with
    /// @p ignore_reservations, free. Size the request for it with request_for_gpu(request, result.gpu.device).
    /// @throws gpu_unavailable_error when GPU information is unavailable or no GPU is visible;
    ///         usage_error when the ids select several GPUs (or bad ids) or the GPU is not usable;
    ///         state_error when the ledger cannot be read.
    [[nodiscard]] planning_gpu_memory planning_gpu(const std::string& gpu_ids, bool ignore_reservations = false) const;

    /// The reservation request `reserve` and `run` make for @p request on @p gpu_ids: sized for each
    /// listed GPU's card (request_for_gpu(); reserve_request::gpu_bytes, bytes = the largest), the
    /// GPUs whose card the engine refuses (e.g. bfloat16 below CC 8.0) left out (gpu_ids narrowed to
    /// the others' UUIDs). Without GPU information: the request as given, sized without a card.
    /// @throws usage_error for invalid input, bad ids, or when every listed GPU refuses the request.
    [[nodiscard]] reserve_request sized_reserve_request(const estimate_request& request,
                                                        const std::string& gpu_ids) const;
    // ---- end planner ----

    // ---- concurrency (reservations, scheduling, memory release) ----
    // Copies of a gpu_manager share one scheduler and one set of release hooks.

    /// The guide's can_run_concurrent_task with the corrected accounting (see concurrent_task_check:
    /// running tasks are already in `used`, so only recommended(new) ≤ available is checked, on the
    /// first visible GPU; the guide counts them twice). Models are sized with the guide's defaults.
    /// @throws usage_error for an unknown model; gpu_unavailable_error when no GPU can be read.
    [[nodiscard]] concurrent_task_check can_run_concurrent_task(
        std::string_view model_name, const std::vector<std::string>& current_tasks_models) const;

    /// Reserves the configuration's recommended memory on one GPU (waiting FIFO up to the timeout);
    /// the result's granted_lease holds it (RAII). Expected outcomes (timed out, never fits, no GPU)
    /// are statuses. @throws usage_error for bad input (model, ids, timeout < 0 or > 31622400 s).
    [[nodiscard]] reserve_result reserve(const reserve_options& options) const;
    /// reserve() for a guide configuration.
    [[nodiscard]] reserve_result reserve(std::string_view model_name, double segment_duration = 30.0,
                                         int batch_size = 1, std::string_view precision = "float16",
                                         std::string gpu_ids = "", std::optional<double> timeout_seconds = std::nullopt,
                                         placement_policy policy = placement_policy::best_fit) const;

    /// The guide's release_all_memory. This library holds no CUDA memory of its own, so it
    /// (1) drops this process's reservations (its leases become no-ops), (2) calls the release hooks
    /// in registration order (a hook that throws is reported, the others still run), and
    /// (3) reports free memory per GPU before and after. It cannot free memory held by CUDA
    /// contexts or caching allocators of this or other processes, nor other processes' reservations
    /// (see scheduler::release_all_reservations, the CLI's release-all); see release_report::cannot_free.
    release_report release_all_memory() const;

    /// Registers @p hook, called by release_all_memory() (e.g. a server freeing its models and
    /// emptying its framework's cache). A hook with the same @p name replaces the earlier one.
    /// @throws usage_error for an empty name or hook.
    void register_release_hook(std::string name, std::function<void()> hook) const;

    /// The scheduler behind reserve(): by default one on a file_ledger in manager_options::state_dir
    /// (shared with `whisper-vram run`), its warnings to manager_options::warnings, created on first use.
    /// @throws usage_error for a bad state folder.
    [[nodiscard]] scheduler& get_scheduler() const;
    /// Uses @p scheduler instead (tests, a memory_ledger, another state folder).
    void use_scheduler(std::shared_ptr<scheduler> scheduler) const;

private:
    std::shared_ptr<gpu_probe> probe_;
    manager_options options_;
    std::shared_ptr<detail::concurrency_state> concurrency_ = detail::make_concurrency_state();
};

}  // namespace whisper_vram
