#pragma once
/// @file units.hpp
/// Byte/GiB conversions and size parsing. Bytes are std::uint64_t inside the library;
/// GiB (1024³ bytes) only when printing. The guide's "GB" are GiB.

#include <cstdint>
#include <string>
#include <string_view>

namespace whisper_vram {

inline constexpr std::uint64_t bytes_per_kib = 1024ULL;
inline constexpr std::uint64_t bytes_per_mib = 1024ULL * 1024ULL;
inline constexpr std::uint64_t bytes_per_gib = 1024ULL * 1024ULL * 1024ULL;

/// bytes → GiB as a double (exact for multiples of 1/2^30 GiB below 2^53 bytes).
constexpr double bytes_to_gib(std::uint64_t bytes) noexcept {
    return static_cast<double>(bytes) / static_cast<double>(bytes_per_gib);
}

/// bytes → MiB as a double.
constexpr double bytes_to_mib(std::uint64_t bytes) noexcept {
    return static_cast<double>(bytes) / static_cast<double>(bytes_per_mib);
}

/// GiB → bytes, rounded up to the next whole byte (a requirement never shrinks by rounding).
/// @throws usage_error when @p gib is negative, not finite or beyond 2^63 bytes.
std::uint64_t gib_to_bytes_ceil(double gib);

/// GiB → bytes, rounded down (an amount of available memory never grows by rounding).
/// @throws usage_error when @p gib is negative, not finite or beyond 2^63 bytes.
std::uint64_t gib_to_bytes_floor(double gib);

/// Parses a memory size: a number with an optional unit B, KiB, MiB, GiB, TiB, KB, MB, GB, TB
/// (case-insensitive, optional space). Following the guide, "GB" means GiB (1024³), "MB" MiB.
/// A bare number is GiB. Fractions are allowed ("7.5GiB"); the result is rounded down to bytes.
/// @p what names the value in the error message (e.g. "--memory").
/// @throws usage_error naming the bad text and the accepted forms.
std::uint64_t parse_size_bytes(std::string_view text, std::string_view what = "size");

/// Formats bytes as GiB with two decimals, e.g. "23.65 GiB".
std::string format_gib(std::uint64_t bytes);

}  // namespace whisper_vram
