#pragma once
// How `run` and `measure` run a job (one implementation for both): the reservation wait with its
// status line, then the job as the leader of a process group of its own, with its guardian,
// forwarded signals and the terminal handoff (process_group.hpp), its stderr passed through while
// a tail is kept (for the out-of-memory advice), and the exit status passed through.
//
// The job's stderr is a pipe (not run's terminal): run copies every byte to its own stderr as it
// arrives, unchanged, and keeps the last 64 lines (at most 16 KiB). A job that checks
// isatty(2) sees "not a terminal" (e.g. no colours, no progress bars redrawn in place); its
// stdout and stdin stay run's own.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "cli_common.hpp"
#include "whisper_vram/facade/run_outcome.hpp"
#include "whisper_vram/sched/scheduler.hpp"

namespace whisper_vram::cli {

/// Installs the handlers that forward SIGINT, SIGTERM, SIGHUP and SIGQUIT to the job's group (and
/// cancel a reservation wait).
void install_forwarding_handlers();

/// The last forwarded signal received (0: none).
[[nodiscard]] int received_signal() noexcept;

/// 128 + N: ended by signal N (as the shell reports it).
[[nodiscard]] exit_status signal_status(int sig) noexcept;

/// Parses decimal seconds ("10", "0.5") for @p option (--timeout, --kill-grace); @throws usage_error.
std::chrono::milliseconds parse_seconds(const std::string& text, std::string_view option);

/// Waits for @p request on @p sched, showing the waiting status line on @p err (cancelled by a
/// forwarded signal). @p command names the subcommand in messages ("run", "measure").
reserve_result wait_for_reservation(scheduler& sched, reserve_request& request, std::ostream& err);

/// The exit status for a reservation that was not granted (its message printed on @p err).
exit_status refused_reservation(const reserve_result& result, std::ostream& err, std::string_view command);

/// What to run.
struct job_spec {
    std::vector<std::string> command;                              ///< argv
    std::string subcommand = "run";                                ///< for messages
    std::chrono::milliseconds grace{5000};                         ///< --kill-grace
    std::vector<std::pair<std::string, std::string>> environment;  ///< set for the job
    lease* held = nullptr;  ///< the reservation: recorded with the job's group, released after
    /// Called once the job's group exists, just before it executes COMMAND (sampling starts here).
    std::function<void(pid_t pgid)> on_started;
    /// Called when the job's leader has exited, before what is left of its group is ended.
    std::function<void()> on_leader_exited;
};

/// How the job ended.
struct job_result {
    run_end end = run_end::not_started;
    std::uint32_t pid = 0;
    std::optional<int> exit_code;
    std::optional<int> term_signal;
    std::string exec_error;
    bool survivors_killed = false;
    std::chrono::milliseconds ran{0};
    exit_status status = exit_status::ok;  ///< the job's status as run passes it through
    std::string stderr_tail;               ///< the last lines of the job's stderr
};

/// Runs @p spec (see the file comment). @throws error when a pipe or fork fails.
job_result run_in_group(const job_spec& spec, const context& c);

/// Fills @p outcome's job fields from @p result.
void record_job(run_outcome& outcome, const job_result& result);

/// The measurement history `measure` and `run --record` append to: @p out when given, else
/// measurements.jsonl in the state folder (state_dir_from(env), created 0700 when missing).
/// @throws usage_error when @p out exists and is not a JSON-lines history (its first line is not a
///         record, and it is not empty), or names a symbolic link or something not a regular file.
std::string history_path(const std::optional<std::string>& out, const environment& env);

/// What a record is made of: the configuration, the GPU's measurement, the job's end.
struct record_inputs {
    const memory_estimate* estimate = nullptr;  ///< the declared configuration's estimate
    /// CUDA_MODULE_LOADING as declared (--cuda-module-loading or the environment); not the
    /// estimate's assumption when unset
    std::optional<std::string> cuda_module_loading;
    const gpu_measurement* gpu = nullptr;
    std::chrono::milliseconds duration{0};
    std::optional<int> exit_status;  ///< the job's, when it ran
    std::string time;                ///< RFC 3339 start time
};

/// Appends one record line to @p path (O_APPEND | O_NOFOLLOW, one write of the whole line).
/// @throws state_error when the file cannot be opened or written.
void append_record(const std::string& path, const record_inputs& inputs);

/// Now, as RFC 3339 UTC ("2026-12-02T04:50:39Z").
std::string rfc3339_now();

}  // namespace whisper_vram::cli
