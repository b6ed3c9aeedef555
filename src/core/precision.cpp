#include "whisper_vram/core/precision.hpp"

#include <fmt/format.h>
#include <array>

#include "core/text.hpp"
#include "whisper_vram/core/error.hpp"

namespace whisper_vram {
namespace {
constexpr std::array<guide_precision, 4> all{guide_precision::float32, guide_precision::float16, guide_precision::int8,
                                             guide_precision::int4};
}  // namespace

std::string_view to_string(guide_precision p) noexcept {
    switch (p) {
        case guide_precision::float32:
            return "float32";
        case guide_precision::float16:
            return "float16";
        case guide_precision::int8:
            return "int8";
        case guide_precision::int4:
            return "int4";
    }
    return "?";
}

std::span<const guide_precision> guide_precisions() noexcept { return all; }

precision_choice parse_guide_precision(std::string_view text) {
    const std::string key = detail::to_lower(detail::trim(text));
    if (key == "float32" || key == "fp32") return {"float32", guide_precision::float32};
    if (key == "float16" || key == "fp16") return {"float16", guide_precision::float16};
    if (key == "bfloat16" || key == "bf16") return {"bfloat16", guide_precision::float16};
    if (key == "int8") return {"int8", guide_precision::int8};
    if (key == "int4") return {"int4", guide_precision::int4};
    throw usage_error(fmt::format(
        "unknown precision '{}': accepted: float32, float16, int8, int4 (aliases: fp32, fp16, bf16/bfloat16 = sized as "
        "float16)",
        text));
}

}  // namespace whisper_vram
