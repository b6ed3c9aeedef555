#include "whisper_vram/core/units.hpp"

#include <fmt/format.h>
#include <cmath>
#include <cstdlib>

#include "core/text.hpp"
#include "whisper_vram/core/error.hpp"

namespace whisper_vram {
namespace {

constexpr double max_bytes = 9.2e18;  // below 2^63: keeps every later sum in range

double checked_bytes(double gib) {
    if (!std::isfinite(gib) || gib < 0.0) {
        throw usage_error(fmt::format("memory amount {} GiB is invalid: must be a finite number >= 0", gib));
    }
    const double bytes = gib * static_cast<double>(bytes_per_gib);
    if (bytes > max_bytes) {
        throw usage_error(fmt::format("memory amount {} GiB is too large (at most 8 EiB)", gib));
    }
    return bytes;
}

}  // namespace

std::uint64_t gib_to_bytes_ceil(double gib) { return static_cast<std::uint64_t>(std::ceil(checked_bytes(gib))); }

std::uint64_t gib_to_bytes_floor(double gib) { return static_cast<std::uint64_t>(std::floor(checked_bytes(gib))); }

std::uint64_t parse_size_bytes(std::string_view text, std::string_view what) {
    const std::string_view original = text;
    text = detail::trim(text);
    std::size_t split_at = 0;
    while (split_at < text.size() &&
           ((text[split_at] >= '0' && text[split_at] <= '9') || text[split_at] == '.' || text[split_at] == 'e' ||
            text[split_at] == 'E' || text[split_at] == '+' || text[split_at] == '-')) {
        // 'e' may start a unit only after digits, never in our units, so treat it as exponent.
        ++split_at;
    }
    const std::string_view number = text.substr(0, split_at);
    const std::string unit = detail::to_lower(detail::trim(text.substr(split_at)));
    double value = 0.0;
    const auto bad = [&](std::string_view why) {
        return usage_error(
            fmt::format("invalid {} '{}': {}; accepted: a number >= 0 with an optional unit B, KiB, MiB, GiB, TiB "
                        "(KB/MB/GB/TB mean the same, as in the guide), e.g. 24GiB, 8GB, 12288MiB; a bare number is GiB",
                        what, original, why));
    };
    if (!detail::parse_double(number, value)) {
        // "1e400" is a number, only too large for a double: say so rather than "not a number".
        const std::string digits(detail::trim(number));
        char* end = nullptr;
        const double huge = std::strtod(digits.c_str(), &end);
        const bool whole = !digits.empty() && end == digits.c_str() + digits.size();
        if (whole && std::isinf(huge)) throw bad(huge < 0 ? "must not be negative" : "too large");
        throw bad("not a number");
    }
    if (value < 0.0) throw bad("must not be negative");
    double scale = 0.0;
    if (unit.empty() || unit == "gib" || unit == "gb" || unit == "g") {
        scale = static_cast<double>(bytes_per_gib);
    } else if (unit == "mib" || unit == "mb" || unit == "m") {
        scale = static_cast<double>(bytes_per_mib);
    } else if (unit == "kib" || unit == "kb" || unit == "k") {
        scale = static_cast<double>(bytes_per_kib);
    } else if (unit == "tib" || unit == "tb" || unit == "t") {
        scale = static_cast<double>(bytes_per_gib) * 1024.0;
    } else if (unit == "b") {
        scale = 1.0;
    } else {
        throw bad(fmt::format("unknown unit '{}'", unit));
    }
    const double bytes = value * scale;
    if (bytes > max_bytes) throw bad("too large");
    return static_cast<std::uint64_t>(std::floor(bytes));
}

std::string format_gib(std::uint64_t bytes) { return fmt::format("{:.2f} GiB", bytes_to_gib(bytes)); }

}  // namespace whisper_vram
