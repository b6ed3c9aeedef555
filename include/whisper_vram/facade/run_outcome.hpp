#pragma once
/// @file run_outcome.hpp
/// What `whisper-vram run` did, for `run --json-out PATH` / `--json-fd N` (its stdout is the job's):
/// how the reservation ended, where the job was placed, and how the job ended.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "whisper_vram/gpu/memory_sampler.hpp"
#include "whisper_vram/planner/replan.hpp"
#include "whisper_vram/sched/scheduler.hpp"

namespace whisper_vram {

/// How `run` ended.
enum class run_end {
    exited,          ///< the job ran and exited with exit_code
    signaled,        ///< the job ran and was killed by signal term_signal
    not_started,     ///< no reservation: see reservation_status (timed_out, never_fits, …)
    cannot_execute,  ///< reserved, but the command could not be executed (exec_error)
};

/// "exited", "signaled", "not_started", "cannot_execute".
std::string_view to_string(run_end end) noexcept;

/// The placement and the outcome of one `run`.
struct run_outcome {
    std::vector<std::string> command;  ///< the job's argv
    reserve_status reservation_status = reserve_status::timed_out;
    std::string reservation_message;      ///< the scheduler's line
    std::uint64_t requested_bytes = 0;    ///< the estimate's recommended bytes
    std::chrono::milliseconds waited{0};  ///< time spent waiting for admission
    std::optional<lease_info> placement;  ///< the reservation held (when granted)
    run_end end = run_end::not_started;
    std::uint32_t pid = 0;                          ///< the job's pid = its process group id (0: none)
    std::optional<int> exit_code;                   ///< when end == exited
    std::optional<int> term_signal;                 ///< when end == signaled
    std::string exec_error;                         ///< when end == cannot_execute
    bool survivors_killed = false;                  ///< members of the job's group outlived its leader and were ended
    int exit_status = 0;                            ///< run's own exit status
    std::chrono::milliseconds ran{0};               ///< the job's wall time
    std::optional<measurement_report> measurement;  ///< what the job used, sampled while it ran
    bool peak_over_reservation = false;             ///< the job's measured peak exceeded its reservation
    std::vector<std::string> warnings;              ///< the warnings run printed (peak over reservation, record)
    std::optional<oom_advice> advice;               ///< re-plan advice when the job failed out of GPU memory
};

}  // namespace whisper_vram
