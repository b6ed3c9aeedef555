#pragma once
/// @file engines.hpp
/// Engine-aware estimates: the GPU memory `nvidia-smi` shows for one Whisper process on an
/// otherwise idle GPU, for openai-whisper (PyTorch), Hugging Face transformers, faster-whisper
/// (CTranslate2) and whisper.cpp (ggml). Pure: no I/O, no environment, no GPU.
///
/// `estimate()` (estimate.hpp) dispatches every engine other than "guide" here. The request's
/// `segment_seconds` does not change GPU memory for these engines (they keep 30 s windows on the
/// GPU); it sizes `memory_estimate::host_bytes` (16 kHz float32 audio + the full log-mel).
///
/// The engines, their aliases, precisions and defaults are profiles in the registry
/// (registry.hpp; one file per engine in src/engines/). The functions below are the string-keyed
/// views of it that callers used before the registry; they keep their behaviour. Each engine's
/// default precision "float16" means its half precision.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "whisper_vram/core/estimate.hpp"
#include "whisper_vram/core/models.hpp"

namespace whisper_vram {

/// Canonical names of the engine-aware profiles (the registry without the guide), in registry
/// order: openai-whisper, transformers, faster-whisper, whisper.cpp, whisperx.
std::vector<std::string> engine_names();

/// Canonical name of @p name ("hf" → "transformers", "ggml" → "whisper.cpp", "guide" → "guide").
/// @throws usage_error naming @p name and every accepted engine and alias.
std::string canonical_engine(std::string_view name);

/// Canonical precisions @p engine's profile supports, widest first (e.g. whisper.cpp f32, f16,
/// q8_0, q5_0, q5_1, q4_0, q4_1).
/// @throws usage_error for an unknown engine (or "guide", whose precisions are guide_precisions()).
std::vector<std::string> engine_precisions(std::string_view engine);

/// Canonical precision of @p precision for @p engine ("float16" → "f16" for whisper.cpp).
/// @throws usage_error naming the precision and listing what the engine supports.
std::string canonical_engine_precision(std::string_view engine, std::string_view precision);

/// Beam size the engine uses when none is given: 5 (openai-whisper CLI, faster-whisper,
/// whisper.cpp's whisper-cli), 1 (transformers: greedy).
/// @throws usage_error for an unknown engine.
int default_beam_size(std::string_view engine);

/// Batch the command line and Python use for @p engine when the user gives none: 16 for
/// whisperx (its README's example), 1 for every other engine and the guide.
/// @throws usage_error for an unknown engine.
int default_batch_size(std::string_view engine);

/// The user's default engine: @p from_environment (WHISPER_VRAM_ENGINE's value, as the edge read it)
/// when set and not blank, else "guide". Returns the canonical name.
/// @throws usage_error naming WHISPER_VRAM_ENGINE and the value, with the accepted engines.
std::string default_engine(const std::optional<std::string>& from_environment);

/// Whether the engine uses flash / fused attention by default (openai-whisper: SDPA since
/// v20240930; transformers: SDPA; whisper.cpp: flash attention since 2025-09; CTranslate2: off).
/// @throws usage_error for an unknown engine.
bool default_flash_attention(std::string_view engine);

/// whisper.cpp `kv self` bytes of one state: 2 (K,V) × d × decoder_layers × 512 cells × 2 B (f16),
/// × (n_decoders + 2) when n_decoders > 1 (whisper_init_state recreates it for beams/best_of).
std::uint64_t whisper_cpp_self_kv_bytes(const model_architecture& arch, int n_decoders) noexcept;

/// whisper.cpp `kv cross` bytes: 2 × d × decoder_layers × pad(1500, 256) = 1536 cells × 2 B.
std::uint64_t whisper_cpp_cross_kv_bytes(const model_architecture& arch) noexcept;

/// Bytes the weights of @p arch occupy on the GPU for @p engine at canonical @p precision
/// (before any compute-capability fallback). openai-whisper: 4 B per parameter at both
/// precisions (fp32 resident). @throws usage_error for an unknown engine or precision.
std::uint64_t engine_weight_bytes(std::string_view engine, std::string_view precision, const model_architecture& arch);

/// Host RAM for @p segment_seconds of audio: 16 kHz float32 samples + the log-mel
/// (n_mels × 100 frames/s × 4 B). @throws usage_error for an invalid segment length.
std::uint64_t host_audio_bytes(const model_architecture& arch, double segment_seconds);

}  // namespace whisper_vram
