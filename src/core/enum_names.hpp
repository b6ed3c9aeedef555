#pragma once
// Names of enum values from a table in declaration order, instead of a switch per enum.

#include <array>
#include <cstddef>
#include <string_view>

namespace whisper_vram::detail {

/// names[value] for an enum whose enumerators are 0 … N-1 in declaration order (no explicit
/// values); "?" for anything else (a value cast from an out-of-range integer).
template <class Enum, std::size_t N>
constexpr std::string_view enum_name(Enum value, const std::array<std::string_view, N>& names) noexcept {
    const auto index = static_cast<std::size_t>(value);
    return index < N ? names[index] : std::string_view("?");
}

}  // namespace whisper_vram::detail
