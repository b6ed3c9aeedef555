// The guide's formula as the "guide" engine (the default): its profile lists the guide's
// precisions so that every engine list and message includes it. The formula itself lives in
// core (guide_estimator.cpp) and validates the raw request in its own order.
#include "whisper_vram/core/guide_estimator.hpp"
#include "whisper_vram/engines/engine_profile.hpp"
#include "whisper_vram/engines/registry.hpp"

#include <string>

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
        return estimate_guide(*request.request);
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
        .default_flash_attention = false,
        .resolves_itself = true,
        .estimate = &estimate_with_formula,
        .weight_bytes = nullptr,
    };
    return profile;
}

}  // namespace whisper_vram
