#pragma once
/// @file concurrency.hpp
/// Result and option types of the facade's concurrency methods (gpu_manager::can_run_concurrent_task,
/// reserve, release_all_memory); their JSON forms are in json/json.hpp.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "whisper_vram/core/estimate.hpp"
#include "whisper_vram/gpu/gpu_probe.hpp"
#include "whisper_vram/sched/scheduler.hpp"

namespace whisper_vram {

/// Answer of gpu_manager::can_run_concurrent_task().
///
/// Corrected accounting. The guide's sample returns
///     Σ recommended(current_tasks) + recommended(new) ≤ free
/// which counts the running tasks twice: their memory is already allocated, so it is already
/// missing from `free`. Here `current_tasks` are tasks already running on the GPU (their memory is
/// in NVML's `used`), so they are NOT subtracted again: the new task may start when
///     recommended(new) ≤ available
/// where available is the admission capacity of the GPU (see scheduler.hpp): free memory minus the
/// outstanding reservations in the ledger that are not yet visible in `used`. Tasks that have
/// started but not yet allocated should hold a reservation (gpu_manager::reserve()): a reservation
/// counts exactly once whether or not its memory has been allocated. current_tasks_bytes is
/// reported for information, and guide_result gives the guide's (double-counting) answer.
struct concurrent_task_check {
    bool can_run = false;                     ///< recommended(new) ≤ available_bytes
    std::string model;                        ///< the new task's model (canonical name)
    std::uint64_t new_task_bytes = 0;         ///< recommended(new), guide defaults (30 s, batch 1, float16)
    std::vector<std::string> current_tasks;   ///< models of the running tasks, as given
    std::uint64_t current_tasks_bytes = 0;    ///< Σ recommended(current): NOT subtracted (already in used)
    std::string gpu_uuid;                     ///< the GPU asked about: the first visible one, as the guide
    unsigned gpu_index = 0;                   ///< its CUDA index (0)
    std::uint64_t free_bytes = 0;             ///< free memory as probed
    std::uint64_t ledger_reserved_bytes = 0;  ///< outstanding ledger reservations on the GPU (not the driver's reserve)
    std::uint64_t available_bytes = 0;        ///< admission capacity (free − reservations not yet in used)
    bool guide_result = false;                ///< the guide's answer: current + new ≤ free
    std::string message;
};

/// What gpu_manager::reserve() reserves.
struct reserve_options {
    estimate_request request;               ///< sized with estimate(); recommended_bytes is reserved
    std::string gpu_ids;                    ///< select_gpus() ids; empty = every visible GPU
    std::optional<double> timeout_seconds;  ///< nullopt: wait without limit; 0: no waiting; at most 31622400 (366 d)
    placement_policy policy = placement_policy::best_fit;
    /// Polled while waiting (reserve_request::cancelled): true stops waiting (status cancelled).
    /// The Python module checks for signals here, so Ctrl-C interrupts a waiting reserve().
    std::function<bool()> cancelled;
};

/// One GPU's free memory around release_all_memory().
struct release_gpu_memory {
    unsigned index = 0;  ///< NVML index
    std::string uuid;
    std::string name;
    std::uint64_t free_before_bytes = 0;
    std::uint64_t free_after_bytes = 0;
};

/// Report of gpu_manager::release_all_memory().
struct release_report {
    std::vector<reservation_record> reservations_dropped;  ///< this process's reservations
    std::vector<std::string> hooks_called;                 ///< names, in registration order
    std::vector<std::string> hook_errors;                  ///< "name: what it threw"
    std::vector<release_gpu_memory> gpus;                  ///< free memory before and after (empty without GPU info)
    std::string gpu_info_unavailable_reason;               ///< set when no GPU information could be read
    std::vector<std::string> cannot_free;                  ///< what this call cannot free, and why
};

}  // namespace whisper_vram
