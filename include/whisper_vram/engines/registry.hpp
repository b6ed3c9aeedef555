#pragma once
/// @file registry.hpp
/// The list of engine profiles (the guide's formula first, then the engine-aware estimators)
/// and every text generated from it. Messages, help texts and docs take their engine and
/// precision lists from here, so adding an engine is one profile file plus one registry line.

#include <span>
#include <string>
#include <string_view>

#include "whisper_vram/engines/engine_profile.hpp"

namespace whisper_vram {

/// Every profile in a stable order: guide, openai-whisper, transformers, faster-whisper, whisper.cpp,
/// whisperx.
std::span<const engine_profile* const> engine_registry() noexcept;

/// The profile named @p name or one of its aliases (trimmed, case-insensitive); nullptr if none.
const engine_profile* try_find_engine(std::string_view name) noexcept;

/// Like try_find_engine().
/// @throws usage_error "unknown engine 'X': accepted: " + engine_list_text().
const engine_profile& find_engine(std::string_view name);

/// True for the guide's formula: @p name empty (the default), "guide" or any spelling of it.
bool is_guide_engine(std::string_view name) noexcept;

/// "guide, openai-whisper, transformers, faster-whisper, whisper.cpp, whisperx": every canonical name.
std::string engine_names_text();

/// Every engine with its summary and aliases, for messages and help: "guide (the guide's
/// formula, default), openai-whisper (aliases: openai, whisper), …".
std::string engine_list_text();

/// The profile's precision @p text (a name or alias, trimmed, case-insensitive).
/// @throws usage_error "precision 'X' is not supported by E: accepted: … (aliases: …)".
const precision_spelling& resolve_precision(const engine_profile& engine, std::string_view text);

/// "openai-whisper: float32, float16; transformers: …": each engine-aware profile's precisions
/// (the guide's are listed separately by callers that show them first).
std::string engine_precisions_text();

/// Resolves @p request against @p engine once: model, precision, GPU, defaults, numbers.
/// For a profile that resolves_itself only request and engine are set.
/// @throws usage_error naming the bad value and what is allowed.
resolved_request resolve_request(const engine_profile& engine, const estimate_request& request);

}  // namespace whisper_vram
