// parse_guide_precision (core/precision.hpp) on any text: usage_error or one of the canonical
// names, sized with a guide column; the canonical name parses to the same choice.

#include <string>

#include "harness.hpp"
#include "whisper_vram/core/precision.hpp"

namespace whisper_vram::fuzz {

void fuzz_precision(const std::uint8_t* data, std::size_t size) {
    precision_choice choice;
    if (!expected_outcome([&] { choice = parse_guide_precision(as_text(data, size)); })) return;
    require(choice.name == "float32" || choice.name == "float16" || choice.name == "bfloat16" ||
                choice.name == "int8" || choice.name == "int4",
            "a precision name that is not canonical");
    const auto again = parse_guide_precision(choice.name);
    require(again.name == choice.name && again.sizing == choice.sizing, "the canonical name parses differently");
}

}  // namespace whisper_vram::fuzz

WHISPER_VRAM_FUZZ_HARNESS("precision", fuzz_precision)
