#pragma once
// Small string helpers shared by the catalog lookups and parsers (internal).

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "whisper_vram/core/text_escape.hpp"  // escape_for_terminal, escape_invalid_utf8

namespace whisper_vram::detail {

/// ASCII lower-case copy.
std::string to_lower(std::string_view text);

/// Text without leading/trailing ASCII whitespace.
std::string_view trim(std::string_view text) noexcept;

/// Splits on @p separator; keeps empty fields.
std::vector<std::string_view> split(std::string_view text, char separator);

/// Levenshtein distance (case-sensitive; callers lower-case first).
std::size_t edit_distance(std::string_view a, std::string_view b);

/// "a, b, c"
std::string join(const std::vector<std::string>& items, std::string_view separator = ", ");

/// Parses a finite double that spans the whole of @p text (no junk, no hex, no inf/nan).
/// Returns false when the text is not such a number.
bool parse_double(std::string_view text, double& out) noexcept;

/// Name of an enumerator from a table indexed by its value (enumerators numbered 0, 1, …):
/// replaces a switch per enum. "?" for a value outside the table.
template <typename Enum, std::size_t N>
constexpr std::string_view enum_name(const std::array<std::string_view, N>& names, Enum value) noexcept {
    const auto index = static_cast<std::size_t>(value);
    return index < N ? names[index] : std::string_view("?");
}

}  // namespace whisper_vram::detail
