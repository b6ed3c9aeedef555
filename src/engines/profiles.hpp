#pragma once
// Internal: the engine profiles, each defined in src/engines/<engine>.cpp (which includes this, so
// the compiler checks the definition against it) and listed by registry.cpp.

#include "whisper_vram/engines/engine_profile.hpp"

namespace whisper_vram {

const engine_profile& guide_profile();
const engine_profile& openai_whisper_profile();
const engine_profile& transformers_profile();
const engine_profile& faster_whisper_profile();
const engine_profile& whisper_cpp_profile();
const engine_profile& whisperx_profile();

}  // namespace whisper_vram
