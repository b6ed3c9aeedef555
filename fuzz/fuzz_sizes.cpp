// parse_size_bytes (core/units.hpp) on any text: usage_error or a size; a size parses the same
// again, and with a space before the unit; a bare number means GiB ("N" = "N GiB").

#include <cctype>
#include <string>

#include "harness.hpp"
#include "whisper_vram/core/units.hpp"

namespace whisper_vram::fuzz {

void fuzz_sizes(const std::uint8_t* data, std::size_t size) {
    const auto text = as_text(data, size);
    std::uint64_t bytes = 0;
    if (!expected_outcome([&] { bytes = parse_size_bytes(text, "--memory"); })) return;
    require(parse_size_bytes(text) == bytes, "parse_size_bytes is not deterministic");
    const bool bare_number = !text.empty() && std::isdigit(static_cast<unsigned char>(text.back())) != 0;
    if (bare_number && text.find_first_not_of("0123456789.") == std::string_view::npos) {
        std::uint64_t with_unit = 0;
        require(expected_outcome([&] { with_unit = parse_size_bytes(std::string(text) + "GiB"); }),
                "a bare number parses but not with GiB after it");
        require(with_unit == bytes, "a bare number is not GiB");
    }
}

}  // namespace whisper_vram::fuzz

WHISPER_VRAM_FUZZ_HARNESS("sizes", fuzz_sizes)
