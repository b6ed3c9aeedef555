#pragma once
/// @file error.hpp
/// The project's error types. Mistakes (bad input) are exceptions; expected conditions
/// (no driver, GPU lost, does not fit) are values in the result types, never exceptions.
/// Exit statuses are chosen only by the CLI's main: usage_error → 2, gpu_unavailable_error → 3.

#include <stdexcept>
#include <string>

namespace whisper_vram {

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

/// GPU information was asked for and cannot be had (no driver, NVML missing…).
/// CLI exit status 3; Python whisper_vram.GpuUnavailableError.
class gpu_unavailable_error : public error {
public:
    using error::error;
};

}  // namespace whisper_vram
