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

/// A model id as a user typed it, resolved to the catalog.
struct model_id {
    const whisper_model* model = nullptr;  ///< the catalog entry the id names (never null once parsed)
    /// The precision the id fixes: the ggml file type of a ggml file name ("q5_0" for
    /// ggml-medium-q5_0.bin, "f16" for a plain ggml-large-v3.bin); unset for other forms.
    std::optional<std::string> implied_precision;
    /// The engine the id belongs to: "whisper.cpp" (ggml files), "faster-whisper" (CTranslate2
    /// repos: Systran/faster-*, *-ct2), "transformers" (Hugging Face repos), "openai-whisper"
    /// (.pt checkpoints); unset for a plain catalog name.
    std::optional<std::string> implied_engine;
    std::string as_typed;   ///< the text as given
    std::string_view form;  ///< "name", "hugging_face", "ctranslate2", "ggml" or "openai_checkpoint"
};

/// Parses a model id in any form users type, case-insensitively:
/// - a catalog name or alias: "large-v3", "turbo", "distil-large-v3.5";
/// - a Hugging Face id: "openai/whisper-medium.en", "openai/whisper-large" (= large-v1, the
///   checkpoint that repo holds), "distil-whisper/distil-large-v3"; any organisation's
///   "whisper-<model>" / "distil-<model>" repo is read the same way;
/// - a CTranslate2 repo: "Systran/faster-whisper-large-v3", "Systran/faster-distil-whisper-large-v3",
///   "distil-whisper/distil-large-v3.5-ct2", "deepdml/faster-whisper-large-v3-turbo-ct2",
///   "mobiuslabsgmbh/faster-whisper-large-v3-turbo";
/// - a ggml file name, also with a leading path: "ggml-medium-q5_0.bin" (precision q5_0),
///   "models/ggml-base.en.bin" (f16), "ggml-small.en-tdrz.bin" (tinydiarize: small.en, f16);
/// - an openai-whisper checkpoint file: "large-v3.pt".
/// A local directory named like a repo ("./models/faster-whisper-small") is read like the repo.
/// @throws usage_error "unknown model 'X': did you mean 'Y'? …", the suggestion in the form typed.
model_id parse_model_id(std::string_view text);

/// Like parse_model_id() but returns nullopt instead of throwing.
std::optional<model_id> try_parse_model_id(std::string_view text) noexcept;

/// Looks a model up by any id parse_model_id() accepts (case-insensitive).
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
