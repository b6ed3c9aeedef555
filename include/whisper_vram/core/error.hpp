#pragma once
/// @file error.hpp
/// The project's error types and the one exit-status contract. Mistakes (bad input) are
/// exceptions; expected conditions (no driver, GPU lost, does not fit) are values in the result
/// types, never exceptions. Exit statuses are chosen only by the CLI's main, from exit_status:
/// usage_error and state_error → 2, gpu_unavailable_error → 3, anything else → 70 (a real bug).

#include <stdexcept>
#include <string>

namespace whisper_vram {

/// The CLI's exit statuses (also what `whisper-vram run` passes through for its job).
enum class exit_status : int {
    ok = 0,                ///< done; the configuration fits
    does_not_fit = 1,      ///< the configuration does not fit (or: refused, holders still live)
    usage = 2,             ///< bad input or an environment the user can fix (state folder, variable)
    gpu_unavailable = 3,   ///< GPU information was asked for and cannot be had
    internal = 70,         ///< a bug in whisper-vram (EX_SOFTWARE); please report it
    timeout = 124,         ///< `run`/`reserve` waited past --timeout (as timeout(1))
    cannot_execute = 127,  ///< `run` could not start the command (as the shell)
    signal_base = 128,     ///< 128 + N: the job was ended by signal N (as the shell)
};

/// The integer a process exits with.
constexpr int to_int(exit_status status) noexcept { return static_cast<int>(status); }

/// Base of every error this library throws on purpose.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Invalid input: unknown model, bad precision, out-of-range number, malformed spec…
/// The message names the bad value and what is allowed. CLI exit status 2; Python ValueError.
class usage_error : public error {
public:
    using error::error;
};

/// The state folder or the ledger in it cannot be used (not creatable, a directory where the
/// ledger should be, unreadable, read-only, not ours…). The message names the path and what to do
/// (e.g. set WHISPER_VRAM_STATE_DIR). CLI exit status 2; Python whisper_vram.StateError (an OSError).
class state_error : public error {
public:
    using error::error;
};

/// GPU information was asked for and cannot be had (no driver, NVML missing…).
/// CLI exit status 3; Python whisper_vram.GpuUnavailableError.
class gpu_unavailable_error : public error {
public:
    using error::error;
};

}  // namespace whisper_vram
