#pragma once
// Names of the scheduler's enums from one table each, instead of a switch per enum: the table is
// indexed by the enumerator's value (enumerators are 0, 1, 2… in declaration order).

#include <array>
#include <cstddef>
#include <string_view>

namespace whisper_vram::detail {

/// names[value], or "?" for a value outside the table (a cast from a bad integer).
template <typename Enum, std::size_t N>
constexpr std::string_view enum_name(const std::array<std::string_view, N>& names, Enum value) noexcept {
    const auto i = static_cast<std::size_t>(value);
    return i < N ? names[i] : std::string_view("?");
}

}  // namespace whisper_vram::detail
