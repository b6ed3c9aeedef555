// The guide's formula as the "guide" engine (the default): its profile lists the guide's
// precisions so that every engine list and message includes it. The formula itself lives in
// core (guide_estimator.cpp) and validates the raw request in its own order.
#include "whisper_vram/core/guide_estimator.hpp"
#include "whisper_vram/engines/engine_profile.hpp"
#include "whisper_vram/engines/registry.hpp"

#include <string>

#include "engines/profiles.hpp"

namespace whisper_vram {

namespace {

// " openai-whisper | transformers | …": the engine-aware profiles, from the registry.
std::string engine_choices() {
    std::string text;
    for (const engine_profile* profile : engine_registry()) {
        if (!profile->resolves_itself) text += (text.empty() ? " " : " | ") + std::string(profile->name);
    }
    return text;
}

memory_estimate estimate_with_formula(const resolved_request& request) {
    try {
        memory_estimate result = estimate_guide(*request.request);
        // The runtime and WhisperX's stages are engine inputs, like beam and GPU (checked after the
        // formula's own checks, so a bad model or precision is still the first error reported).
        const estimate_request& r = *request.request;
        if (r.cuda_module_loading || r.language || r.align || r.diarize || r.staged) {
            throw needs_engine_error(
                "CUDA module loading, language, alignment and diarization are not inputs of the guide formula; "
                "choose an engine with --engine");
        }
        return result;
    } catch (const needs_engine_error& e) {
        throw usage_error(std::string(e.what()) + engine_choices());
    }
}

}  // namespace

const engine_profile& guide_profile() {
    static const engine_profile profile{
        .name = "guide",
        .summary = "the guide's formula, default",
        .aliases = {},
        .precisions = guide_precision_spellings(),
        .default_beam_size = 0,  // beam, GPU and flash attention are not inputs of the formula
        .default_batch_size = 1,
        .default_flash_attention = false,
        .resolves_itself = true,
        .pipeline_stages = false,
        .estimate = &estimate_with_formula,
        .weight_bytes = nullptr,
    };
    return profile;
}

}  // namespace whisper_vram
