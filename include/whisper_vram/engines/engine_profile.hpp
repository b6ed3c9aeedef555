#pragma once
/// @file engine_profile.hpp
/// What one engine is to the rest of the project: its names, the precisions it accepts (as
/// values with their spellings), its defaults and its sizing functions. Each engine defines one
/// profile in its own file (src/engines/<engine>.cpp); registry.hpp lists them. Pure data.

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "whisper_vram/core/estimate.hpp"
#include "whisper_vram/core/gpu_catalog.hpp"
#include "whisper_vram/core/models.hpp"
#include "whisper_vram/core/precision.hpp"

namespace whisper_vram {

struct engine_profile;

/// A request after its text has been resolved once against a profile: the model found in the
/// catalog, the precision as a value, defaults filled in, numbers validated. Estimators read
/// only this. For a profile with `resolves_itself` (the guide) only `request` and `engine` are set.
struct resolved_request {
    const estimate_request* request = nullptr;      ///< the request as given (the result echoes it, normalised)
    const engine_profile* engine = nullptr;         ///< the profile the request was resolved against
    const whisper_model* model = nullptr;           ///< catalog entry of request->model
    model_architecture arch{};                      ///< model->architecture
    const precision_spelling* precision = nullptr;  ///< the profile's entry for request->precision
    std::uint64_t batch = 1;                        ///< validated batch size
    std::uint64_t beams = 1;                        ///< request->beam_size or the profile's default, 1 … 64
    bool flash_attention = true;                    ///< request->flash_attention or the profile's default
    const gpu_model* gpu = nullptr;                 ///< catalog card of request->gpu_name; nullptr when unset
    /// request->cuda_module_loading is "eager", or unset (not stated: sized as eager, the safe side)
    bool eager_module_loading = true;
    bool module_loading_stated = false;  ///< request->cuda_module_loading was given ("lazy" or "eager")
    /// The card built from request->target_gpu when gpu_name is unset (gpu points to it; its name
    /// views request->target_gpu->name); null otherwise.
    std::shared_ptr<const gpu_model> probed_gpu;
};

/// An engine's estimator: the breakdown of a request resolved against its profile.
using estimate_fn = memory_estimate (*)(const resolved_request& request);

/// Bytes the weights of @p arch occupy on the GPU at precision @p p (one of the profile's ids,
/// before any compute-capability fallback).
using weight_bytes_fn = std::uint64_t (*)(precision_id p, const model_architecture& arch);

/// One engine: everything a message, a help text, a doc table or an estimate needs to know.
struct engine_profile {
    std::string_view name;                      ///< canonical name, e.g. "faster-whisper"
    std::string_view summary;                   ///< shown after the name in lists, e.g. "the guide's formula, default"
    std::span<const std::string_view> aliases;  ///< other accepted names, lower case, e.g. "ct2"
    std::span<const precision_spelling> precisions;  ///< accepted precisions, widest first
    int default_beam_size = 1;                       ///< beam when the request sets none (0: no beam input)
    /// Batch the command line and Python use when the user gives none (WhisperX: 16, its README's
    /// example); estimate_request's own default stays 1.
    int default_batch_size = 1;
    bool default_flash_attention = false;  ///< flash/fused attention when the request sets none
    /// True for the guide: its formula validates the raw request itself (its own checks and
    /// messages, in its own order), so resolve_request() does not resolve it.
    bool resolves_itself = false;
    /// True for a pipeline with stages beyond transcription (WhisperX): the request's language,
    /// align and diarize apply; other engines refuse them.
    bool pipeline_stages = false;
    estimate_fn estimate = nullptr;          ///< the estimate of a request resolved against this profile
    weight_bytes_fn weight_bytes = nullptr;  ///< weight bytes per precision; nullptr for the guide (no such figure)
};

}  // namespace whisper_vram
