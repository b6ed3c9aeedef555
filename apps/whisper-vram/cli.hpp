#pragma once
/// @file cli.hpp
/// whisper-vram as a library (whisper_vram_cli): the whole command line as one call, writing to
/// the streams it is given, so that tests run it in-process. The executable's main only reads the
/// environment, calls run() with std::cout/std::cerr and exits with to_int() of the result.

#include <ostream>
#include <span>
#include <string>

#include "whisper_vram/core/error.hpp"
#include "whisper_vram/facade/environment.hpp"

namespace whisper_vram::cli {

/// Runs `whisper-vram ARGS...` (@p args without the program name): parses them, runs the
/// subcommand, writes its results to @p out and its messages to @p err, and returns the exit
/// status. Errors are reported here, one line on @p err: a parse or usage_error, a state_error →
/// exit_status::usage, a gpu_unavailable_error → gpu_unavailable, anything else → internal (a bug).
/// `run` forks its job and handles SIGINT/SIGTERM/SIGHUP while it waits or runs.
[[nodiscard]] exit_status run(std::span<const std::string> args, std::ostream& out, std::ostream& err,
                              const environment& env);

}  // namespace whisper_vram::cli
