#include "whisper_vram/core/models.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <array>

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
});

// Indexed by guide_row.
constexpr auto guide_row_names = std::to_array<std::string_view>({"tiny", "base", "small", "medium", "large"});

}  // namespace

std::string_view to_string(guide_row row) noexcept { return detail::enum_name(guide_row_names, row); }

std::span<const whisper_model> model_catalog() noexcept { return catalog; }

const whisper_model* try_find_model(std::string_view name) noexcept {
    const std::string key = detail::to_lower(detail::trim(name));
    for (const auto& model : catalog) {
        if (model.name == key) return &model;
        if (std::find(model.aliases.begin(), model.aliases.end(), key) != model.aliases.end()) return &model;
    }
    return nullptr;
}

std::vector<std::string> known_model_names() {
    std::vector<std::string> names;
    names.reserve(catalog.size());
    for (const auto& model : catalog) names.emplace_back(model.name);
    for (const auto& model : catalog) {
        for (const auto alias : model.aliases) names.emplace_back(alias);
    }
    return names;
}

const whisper_model& find_model(std::string_view name) {
    if (const auto* model = try_find_model(name)) return *model;
    const auto names = known_model_names();
    const auto nearest = nearest_name(name, names);
    throw usage_error(fmt::format("unknown model '{}'{}. Known models: {}", name,
                                  nearest.empty() ? "" : fmt::format(": did you mean '{}'?", nearest),
                                  detail::join(names)));
}

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
