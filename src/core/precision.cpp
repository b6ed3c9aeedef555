#include "whisper_vram/core/precision.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <vector>

#include "core/text.hpp"
#include "whisper_vram/core/error.hpp"

namespace whisper_vram {
namespace {

// Indexed by precision_id (declaration order).
constexpr auto precision_names =
    std::to_array<std::string_view>({"float32", "float16", "bfloat16", "int8", "int8_float16", "int8_float32",
                                     "int8_bfloat16", "int16", "int4", "q8_0", "q5_0", "q5_1", "q4_0", "q4_1"});

// Indexed by guide_precision.
constexpr auto guide_names = std::to_array<std::string_view>({"float32", "float16", "int8", "int4"});

constexpr auto guide_columns =
    std::to_array({guide_precision::float32, guide_precision::float16, guide_precision::int8, guide_precision::int4});

constexpr auto guide_spellings = std::to_array<precision_spelling>({
    {precision_id::float32, "float32", precision_aliases::fp32},
    {precision_id::float16, "float16", precision_aliases::fp16},
    {precision_id::bfloat16, "bfloat16",
     precision_aliases::bf16},  // the guide has no bfloat16 column: sized as float16
    {precision_id::int8, "int8", {}},
    {precision_id::int4, "int4", {}},
});

}  // namespace

std::string_view to_string(precision_id p) noexcept { return detail::enum_name(precision_names, p); }

std::string_view to_string(guide_precision p) noexcept { return detail::enum_name(guide_names, p); }

const precision_spelling* find_precision(std::span<const precision_spelling> spellings,
                                         std::string_view text) noexcept {
    const std::string key = detail::to_lower(detail::trim(text));
    for (const auto& s : spellings) {
        if (s.name == key || std::find(s.aliases.begin(), s.aliases.end(), key) != s.aliases.end()) return &s;
    }
    return nullptr;
}

std::string precision_names_text(std::span<const precision_spelling> spellings) {
    std::vector<std::string> names;
    for (const auto& s : spellings) names.emplace_back(s.name);
    return detail::join(names);
}

std::string precision_aliases_text(std::span<const precision_spelling> spellings) {
    std::vector<std::string> pairs;
    for (const auto& s : spellings) {
        if (s.aliases.empty()) continue;
        const std::vector<std::string> aliases(s.aliases.begin(), s.aliases.end());
        pairs.push_back(fmt::format("{} = {}", detail::join(aliases, "/"), s.name));
    }
    return detail::join(pairs);
}

std::span<const guide_precision> guide_precisions() noexcept { return guide_columns; }

std::span<const precision_spelling> guide_precision_spellings() noexcept { return guide_spellings; }

precision_choice parse_guide_precision(std::string_view text) {
    const precision_spelling* found = find_precision(guide_spellings, text);
    if (found == nullptr) {
        throw usage_error(
            fmt::format("unknown precision '{}': accepted: {} (aliases: {}; bfloat16 is sized as float16)", text,
                        precision_names_text(guide_spellings), precision_aliases_text(guide_spellings)));
    }
    switch (found->id) {
        case precision_id::float32:
            return {"float32", guide_precision::float32};
        case precision_id::int8:
            return {"int8", guide_precision::int8};
        case precision_id::int4:
            return {"int4", guide_precision::int4};
        default:  // float16, and bfloat16 keeps its name but is sized with the float16 column
            return {std::string(found->name), guide_precision::float16};
    }
}

}  // namespace whisper_vram
