#include "whisper_vram/core/models.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <optional>
#include <utility>

#include "core/text.hpp"
#include "whisper_vram/core/error.hpp"

namespace whisper_vram {
namespace {

// Dimensions: openai/whisper model.py `ModelDimensions` of each checkpoint and the Hugging Face
// `config.json` of the distil-whisper checkpoints. n_vocab: 51864 for ".en", 51865 multilingual,
// 51866 for the large-v3 family (one extra language token).
constexpr model_architecture arch(int n_mels, int d, int heads, int enc, int dec, int vocab) {
    return model_architecture{n_mels, d, heads, enc, dec, vocab, 1500, 448};
}

constexpr std::span<const std::string_view> no_aliases{};
constexpr auto turbo_aliases = std::to_array<std::string_view>({"turbo"});

// Published parameter counts: openai/whisper README (tiny 39M … large 1550M, turbo 809M) and the
// distil-whisper README (distil-large-v2/v3 756M, distil-medium.en 394M, distil-small.en 166M).
constexpr std::uint64_t million = 1'000'000;

constexpr auto catalog = std::to_array<whisper_model>({
    {"tiny.en", no_aliases, arch(80, 384, 6, 4, 4, 51864), guide_row::tiny, 39 * million, true, false,
     "English-only tiny; the guide's tiny row"},
    {"tiny", no_aliases, arch(80, 384, 6, 4, 4, 51865), guide_row::tiny, 39 * million, false, false,
     "multilingual tiny"},
    {"base.en", no_aliases, arch(80, 512, 8, 6, 6, 51864), guide_row::base, 74 * million, true, false,
     "English-only base; the guide's base row"},
    {"base", no_aliases, arch(80, 512, 8, 6, 6, 51865), guide_row::base, 74 * million, false, false,
     "multilingual base"},
    {"small.en", no_aliases, arch(80, 768, 12, 12, 12, 51864), guide_row::small, 244 * million, true, false,
     "English-only small; the guide's small row"},
    {"small", no_aliases, arch(80, 768, 12, 12, 12, 51865), guide_row::small, 244 * million, false, false,
     "multilingual small"},
    {"distil-small.en", no_aliases, arch(80, 768, 12, 12, 4, 51864), std::nullopt, 166 * million, true, true,
     "distil-whisper: small encoder, 4 decoder layers; no guide row"},
    {"medium.en", no_aliases, arch(80, 1024, 16, 24, 24, 51864), guide_row::medium, 769 * million, true, false,
     "English-only medium; the guide's medium row"},
    {"medium", no_aliases, arch(80, 1024, 16, 24, 24, 51865), guide_row::medium, 769 * million, false, false,
     "multilingual medium"},
    {"distil-medium.en", no_aliases, arch(80, 1024, 16, 24, 2, 51864), std::nullopt, 394 * million, true, true,
     "distil-whisper: medium encoder, 2 decoder layers; no guide row"},
    {"large", no_aliases, arch(128, 1280, 20, 32, 32, 51866), guide_row::large, 1550 * million, false, false,
     "the guide's large row (large/large-v2/large-v3); architecture of large-v3, as openai/whisper loads it"},
    {"large-v1", no_aliases, arch(80, 1280, 20, 32, 32, 51865), guide_row::large, 1550 * million, false, false,
     "first large checkpoint; the guide's large row"},
    {"large-v2", no_aliases, arch(80, 1280, 20, 32, 32, 51865), guide_row::large, 1550 * million, false, false,
     "the guide's large row"},
    {"large-v3", no_aliases, arch(128, 1280, 20, 32, 32, 51866), guide_row::large, 1550 * million, false, false,
     "128 mel bins; the guide's large row"},
    {"large-v3-turbo", turbo_aliases, arch(128, 1280, 20, 32, 4, 51866), std::nullopt, 809 * million, false, false,
     "large-v3 encoder, 4 decoder layers; no guide row"},
    {"distil-large-v2", no_aliases, arch(80, 1280, 20, 32, 2, 51865), std::nullopt, 756 * million, false, true,
     "distil-whisper: large-v2 encoder, 2 decoder layers; no guide row"},
    {"distil-large-v3", no_aliases, arch(128, 1280, 20, 32, 2, 51866), std::nullopt, 756 * million, false, true,
     "distil-whisper: large-v3 encoder, 2 decoder layers; no guide row"},
    // distil-large-v3.5: the distil-large-v3 architecture retrained (engine-runtime-facts §8: "2-layer-decoder
    // distilled models … large: 756 M"; faster-whisper alias distil-large-v3.5, PR #1311).
    {"distil-large-v3.5", no_aliases, arch(128, 1280, 20, 32, 2, 51866), std::nullopt, 756 * million, false, true,
     "distil-whisper: large-v3 encoder, 2 decoder layers (distil-large-v3 retrained); no guide row"},
});

// Indexed by guide_row.
constexpr auto guide_row_names = std::to_array<std::string_view>({"tiny", "base", "small", "medium", "large"});

// A catalog name or alias (lower-case, trimmed key).
const whisper_model* lookup(std::string_view key) noexcept {
    for (const auto& model : catalog) {
        if (model.name == key) return &model;
        if (std::find(model.aliases.begin(), model.aliases.end(), key) != model.aliases.end()) return &model;
    }
    return nullptr;
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// A ggml file type as whisper.cpp's quantize and download-ggml-model.sh name them: f32, f16,
// q8_0, q5_0, q5_1, q4_0, q4_1, q4_k … (engine-runtime-facts §8: "ggml-*-q5_0.bin" etc.).
bool is_ggml_type(std::string_view token) noexcept {
    if (token == "f32" || token == "f16") return true;
    return token.size() >= 2 && token[0] == 'q' && is_digit(token[1]);
}

// The parts of a typed id: the model part (looked up as core_prefix + core) and the text around
// it, kept to put a suggestion back into the form typed.
struct id_shape {
    std::string before;       ///< typed text before the model part ("openai/whisper-")
    std::string core;         ///< the model part as typed, lower-case ("larg-v3")
    std::string after;        ///< typed text after it ("-q5_0.bin")
    std::string core_prefix;  ///< added for the lookup: "distil-" for faster-distil-whisper-*
    std::optional<std::string> precision;
    std::optional<std::string> engine;
    std::string_view form = "name";
    bool large_is_v1 = false;  ///< openai/whisper-large holds the first large checkpoint

    [[nodiscard]] std::string lookup_key() const {
        std::string key = core_prefix + core;
        if (large_is_v1 && key == "large") key = "large-v1";
        return key;
    }
};

// Splits @p typed (any case) into before / core / after. The lower-case copy has the same
// length, so positions found in it cut the typed text.
id_shape shape_of(std::string_view typed_text) {
    const std::string_view typed = detail::trim(typed_text);
    const std::string key = detail::to_lower(typed);
    id_shape shape;
    std::size_t begin = 0;
    std::size_t end = key.size();
    const auto strip_prefix = [&](std::string_view prefix) {
        if (std::string_view(key).substr(begin, end - begin).starts_with(prefix)) {
            begin += prefix.size();
            return true;
        }
        return false;
    };
    const auto strip_suffix = [&](std::string_view suffix) {
        if (end - begin > suffix.size() && std::string_view(key).substr(begin, end - begin).ends_with(suffix)) {
            end -= suffix.size();
            return true;
        }
        return false;
    };
    const auto slash = key.find_last_of("/\\");
    const std::size_t base = slash == std::string::npos ? 0 : slash + 1;
    // The folder holding the last component: the Hugging Face organisation ("openai").
    const std::size_t org_begin = slash == std::string::npos ? 0 : key.find_last_of("/\\", slash - 1) + 1;
    const std::string_view org = slash == std::string::npos || slash == 0
                                     ? std::string_view()
                                     : std::string_view(key).substr(org_begin, slash - org_begin);
    begin = base;
    if (strip_prefix("ggml-")) {
        // whisper.cpp file: ggml-<model>[-tdrz][-<type>].bin (also the old ggml-model-whisper-<model>.bin).
        shape.form = "ggml";
        shape.engine = "whisper.cpp";
        strip_prefix("model-whisper-");
        strip_suffix(".bin");
        for (;;) {
            const std::string_view rest = std::string_view(key).substr(begin, end - begin);
            const auto dash = rest.rfind('-');
            if (dash == std::string_view::npos) break;
            const std::string_view token = rest.substr(dash + 1);
            if (is_ggml_type(token) && !shape.precision) {
                shape.precision = std::string(token);
            } else if (token != "tdrz") {  // tinydiarize: the small.en architecture with a speaker-turn token
                break;
            }
            end = begin + dash;
        }
        if (!shape.precision) shape.precision = "f16";  // download-ggml-model.sh: the plain files are f16
    } else if (strip_suffix(".pt")) {
        shape.form = "openai_checkpoint";  // whisper/__init__.py _MODELS: <name>.pt
        shape.engine = "openai-whisper";
    } else {
        const bool repo = slash != std::string::npos;
        if (strip_suffix("-ct2")) {
            shape.form = "ctranslate2";
            shape.engine = "faster-whisper";
        }
        if (strip_prefix("faster-distil-whisper-")) {  // Systran/faster-distil-whisper-<model>
            shape.core_prefix = "distil-";
            shape.form = "ctranslate2";
            shape.engine = "faster-whisper";
        } else if (strip_prefix("faster-whisper-")) {  // Systran/, mobiuslabsgmbh/, deepdml/ …
            shape.form = "ctranslate2";
            shape.engine = "faster-whisper";
        } else if (strip_prefix("whisper-")) {  // openai/whisper-<model>
            if (!shape.engine) {
                shape.form = "hugging_face";
                shape.engine = "transformers";
            }
            shape.large_is_v1 = org == "openai";
        } else if (repo && !shape.engine) {  // distil-whisper/distil-<model>, or any org/<model>
            shape.form = "hugging_face";
            shape.engine = "transformers";
        }
    }
    shape.before = std::string(typed.substr(0, begin));
    shape.core = key.substr(begin, end - begin);
    shape.after = std::string(typed.substr(end));
    return shape;
}

}  // namespace

std::string_view to_string(guide_row row) noexcept { return detail::enum_name(guide_row_names, row); }

std::span<const whisper_model> model_catalog() noexcept { return catalog; }

std::vector<std::string> known_model_names() {
    std::vector<std::string> names;
    names.reserve(catalog.size());
    for (const auto& model : catalog) names.emplace_back(model.name);
    for (const auto& model : catalog) {
        for (const auto alias : model.aliases) names.emplace_back(alias);
    }
    return names;
}

std::optional<model_id> try_parse_model_id(std::string_view text) noexcept {
    try {
        const id_shape shape = shape_of(text);
        const whisper_model* model = lookup(shape.lookup_key());
        if (model == nullptr) return std::nullopt;
        return model_id{model, shape.precision, shape.engine, std::string(text), shape.form};
    } catch (...) {
        return std::nullopt;
    }
}

model_id parse_model_id(std::string_view text) {
    if (auto id = try_parse_model_id(text)) return std::move(*id);
    const id_shape shape = shape_of(text);
    // The nearest catalog name to the model part, put back into the form typed
    // ("openai/whisper-larg-v3" → "openai/whisper-large-v3").
    std::vector<std::string> candidates;
    for (auto& name : known_model_names()) {
        if (name.starts_with(shape.core_prefix)) candidates.push_back(name.substr(shape.core_prefix.size()));
    }
    const auto nearest = nearest_name(shape.core, candidates);
    const std::string suggestion = nearest.empty() ? std::string() : shape.before + nearest + shape.after;
    throw usage_error(
        fmt::format("unknown model '{}'{}. Known models: {}; also accepted: Hugging Face ids (openai/whisper-large-v3, "
                    "distil-whisper/distil-large-v3), CTranslate2 repos (Systran/faster-whisper-large-v3, "
                    "Systran/faster-distil-whisper-large-v3) and ggml files (ggml-medium-q5_0.bin)",
                    text, suggestion.empty() ? "" : fmt::format(": did you mean '{}'?", suggestion),
                    detail::join(known_model_names())));
}

const whisper_model* try_find_model(std::string_view name) noexcept {
    const auto id = try_parse_model_id(name);
    return id ? id->model : nullptr;
}

const whisper_model& find_model(std::string_view name) { return *parse_model_id(name).model; }

parameter_counts count_parameters(const model_architecture& a) noexcept {
    const auto d = static_cast<std::uint64_t>(a.d_model);
    const auto mels = static_cast<std::uint64_t>(a.n_mels);
    const std::uint64_t conv1 = mels * d * 3 + d;             // Conv1d(n_mels, d, 3) + bias
    const std::uint64_t conv2 = 3 * d * d + d;                // Conv1d(d, d, 3, stride 2) + bias
    const std::uint64_t encoder_block = 12 * d * d + 12 * d;  // self-attn (k has no bias) + MLP 4d + 2 LN
    const std::uint64_t decoder_block = 16 * d * d + 17 * d;  // + cross-attn and its LN
    const std::uint64_t layer_norm = 2 * d;
    parameter_counts counts;
    counts.encoder = conv1 + conv2 + encoder_block * static_cast<std::uint64_t>(a.encoder_layers) + layer_norm;
    counts.decoder = static_cast<std::uint64_t>(a.n_vocab) * d + static_cast<std::uint64_t>(a.n_text_ctx) * d +
                     decoder_block * static_cast<std::uint64_t>(a.decoder_layers) + layer_norm;
    counts.position_buffer = static_cast<std::uint64_t>(a.n_audio_ctx) * d;
    return counts;
}

std::string nearest_name(std::string_view text, std::span<const std::string> candidates) {
    const std::string key = detail::to_lower(detail::trim(text));
    std::string best;
    auto best_distance = static_cast<std::size_t>(-1);
    for (const auto& candidate : candidates) {
        const std::size_t distance = detail::edit_distance(key, detail::to_lower(candidate));
        if (distance < best_distance) {
            best_distance = distance;
            best = candidate;
        }
    }
    // Only suggest when the guess is plausibly a typo (at most half the name differs).
    if (best.empty() || best_distance > std::max<std::size_t>(2, key.size() / 2)) return {};
    return best;
}

}  // namespace whisper_vram
