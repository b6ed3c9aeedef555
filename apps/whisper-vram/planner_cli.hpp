#pragma once
// Helpers shared by the planner subcommands (best-model, solve, recommend, presets, check).

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli_common.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/planner/planner.hpp"

namespace whisper_vram::cli {

/// A facade for pure planning questions: no GPU is asked, so no probe is created.
inline gpu_manager offline_manager() { return gpu_manager(make_unavailable_probe("no GPU needed for planning")); }

/// "8.00" — GiB of a byte count with two decimals.
inline std::string gib2_bytes(std::uint64_t bytes) { return gib2(bytes_to_gib(bytes)); }

}  // namespace whisper_vram::cli
