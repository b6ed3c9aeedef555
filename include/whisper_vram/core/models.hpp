#pragma once
/// @file models.hpp
/// The Whisper model catalog: pure data, no I/O. Every model carries its real architecture
/// (openai/whisper model.py dimensions) and, where the guide has one, its guide-table row.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace whisper_vram {

/// Architecture of a Whisper checkpoint (openai/whisper `ModelDimensions`).
struct model_architecture {
    int n_mels = 80;         ///< mel bins of the input (80, or 128 for large-v3 family)
    int d_model = 384;       ///< width shared by encoder and decoder
    int n_heads = 6;         ///< attention heads (encoder and decoder)
    int encoder_layers = 4;  ///< encoder residual blocks
    int decoder_layers = 4;  ///< decoder residual blocks
    int n_vocab = 51865;     ///< vocabulary size (tied output projection)
    int n_audio_ctx = 1500;  ///< encoder positions per 30 s window
    int n_text_ctx = 448;    ///< decoder positions
};

/// Exact parameter counts derived from openai/whisper model.py (see count_parameters()).
struct parameter_counts {
    std::uint64_t encoder = 0;          ///< conv1, conv2, blocks, ln_post (no position buffer)
    std::uint64_t decoder = 0;          ///< token + position embeddings, blocks, ln
    std::uint64_t position_buffer = 0;  ///< the encoder's sinusoidal table, 1500·d (persistent buffer)
    /// encoder + decoder + position buffer: the number of elements a state dict holds.
    [[nodiscard]] std::uint64_t total() const noexcept { return encoder + decoder + position_buffer; }
};

/// Rows of the guide's base-model table.
enum class guide_row { tiny, base, small, medium, large };

/// Name of a guide row ("tiny" … "large").
std::string_view to_string(guide_row row) noexcept;

/// One catalog entry.
struct whisper_model {
    std::string_view name;                      ///< canonical name, e.g. "large-v3-turbo"
    std::span<const std::string_view> aliases;  ///< other accepted names, e.g. "turbo"
    model_architecture architecture;
    std::optional<guide_row> guide;          ///< the guide-table row, if the guide sizes this model
    std::uint64_t published_parameters = 0;  ///< rounded figure from the model's README (e.g. 39M)
    bool english_only = false;               ///< the ".en" checkpoints
    bool distilled = false;                  ///< distil-whisper checkpoints
    std::string_view note;                   ///< one line on what the name means
};

/// All models, smallest first, in a stable order.
std::span<const whisper_model> model_catalog() noexcept;

/// Looks a model up by name or alias (case-insensitive).
/// @throws usage_error "unknown model 'X': did you mean 'Y'? Known models: …".
const whisper_model& find_model(std::string_view name);

/// Like find_model() but returns nullptr instead of throwing.
const whisper_model* try_find_model(std::string_view name) noexcept;

/// Names of every model (canonical names, then aliases), for messages and completion.
std::vector<std::string> known_model_names();

/// Exact parameter counts for @p arch (openai/whisper model.py: encoder block 12d²+12d, decoder
/// block 16d²+17d, conv1 n_mels·d·3+d, conv2 3d²+d, layer norms 2d, token embedding n_vocab·d
/// tied to the output, learned decoder positions 448·d, encoder sinusoid buffer 1500·d).
parameter_counts count_parameters(const model_architecture& arch) noexcept;

/// The nearest of @p candidates to @p text by edit distance (case-insensitive); empty if none.
std::string nearest_name(std::string_view text, std::span<const std::string> candidates);

}  // namespace whisper_vram
