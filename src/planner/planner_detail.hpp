#pragma once
// Internals shared by the planner's source files.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "whisper_vram/planner/planner.hpp"

namespace whisper_vram::detail {

/// An estimator: estimate() in the library; tests pass fakes to exercise the generic search.
using estimator_fn = std::function<memory_estimate(const estimate_request&)>;

/// solve_max_segment()/solve_max_batch() over any estimator. The closed form is used only when
/// the request's engine is the guide's; otherwise a binary search over whole steps.
solve_result solve_max_segment_with(const estimator_fn& estimator, const estimate_request& request,
                                    std::uint64_t available_bytes);
solve_result solve_max_batch_with(const estimator_fn& estimator, const estimate_request& request,
                                  std::uint64_t available_bytes);

/// "7.999 GiB" (three decimals)
std::string gib_text(std::uint64_t bytes);

}  // namespace whisper_vram::detail
