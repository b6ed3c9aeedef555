#pragma once
/// @file replan.hpp
/// Re-plan advice after a job ran out of GPU memory (`whisper-vram run`): each change alone — a
/// smaller batch, a lower precision, a smaller model, fewer concurrent jobs — re-estimated for the
/// GPU the job ran on, with its new recommended figure and whether it fits. Pure (values in,
/// values out), like the rest of the planner.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "whisper_vram/core/estimate.hpp"

namespace whisper_vram {

/// True when @p text (the last lines of a job's stderr) holds one of the usual CUDA
/// out-of-memory messages: "CUDA out of memory" (PyTorch), "CUBLAS_STATUS_ALLOC_FAILED",
/// "cudaErrorMemoryAllocation", or a ggml_cuda line with "failed to allocate" or "out of memory"
/// (whisper.cpp). Returns the matched message, nullopt when none.
[[nodiscard]] std::optional<std::string> find_out_of_memory_message(std::string_view text);

/// Where the job failed: the GPU and what a new try could use there.
struct oom_situation {
    unsigned gpu_index = 0;  ///< NVML index
    std::string gpu_name;
    /// What a new try could take on the GPU: its admittable memory now (the failed job's own
    /// reservation released), as `run` would admit it.
    std::uint64_t available_bytes = 0;
    unsigned other_jobs = 0;                  ///< other whisper-vram reservations on the GPU now
    std::uint64_t other_jobs_bytes = 0;       ///< their bytes
    std::optional<std::uint64_t> peak_bytes;  ///< the job's measured peak, when sampled
};

/// One change, alone, re-estimated.
struct replan_suggestion {
    /// "batch_size", "precision", "model" or "concurrent_jobs".
    std::string change;
    estimate_request config;              ///< the request with the change applied (normalised)
    std::uint64_t recommended_bytes = 0;  ///< the estimator's recommended bytes for config
    /// recommended_bytes scaled by the job's measured peak over its estimate, when the peak exceeded
    /// the estimate (the estimate was low for this job: the same factor is assumed for the change).
    std::optional<std::uint64_t> corrected_bytes;
    std::uint64_t available_bytes = 0;  ///< what it is compared with
    bool fits = false;                  ///< (corrected_bytes else recommended_bytes) ≤ available_bytes
    std::string text;                   ///< one line for people
};

/// The advice.
struct oom_advice {
    std::string message;  ///< the out-of-memory line matched in the job's stderr
    oom_situation situation;
    memory_estimate failed;            ///< the estimate of the configuration that failed
    std::optional<double> correction;  ///< peak / total_required, when > 1
    std::vector<replan_suggestion> suggestions;
    std::vector<std::string> notes;
};

/// The advice for @p request (as sized for the GPU: request_for_gpu()) that failed with
/// out-of-memory @p message in @p situation. Batch: halved (when > 1); precision: the first
/// narrower one the engine accepts (float32 > float16/bfloat16 > int8 > int4); model: the next
/// smaller model of model_ladder(engine); concurrent jobs: the same request with the other
/// reservations gone (only when there are some). A change the engine refuses is left out.
/// @throws usage_error when @p request itself is invalid.
oom_advice replan_after_oom(const estimate_request& request, const oom_situation& situation, std::string message);

}  // namespace whisper_vram
