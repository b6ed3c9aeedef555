#pragma once
/// @file precision.hpp
/// Precisions of the guide formula. Engine-specific precisions (int8_float16, q5_0, …) belong
/// to the engine-aware estimators.

#include <span>
#include <string>
#include <string_view>

namespace whisper_vram {

/// The four columns of the guide's base-model table.
enum class guide_precision { float32, float16, int8, int4 };

/// A parsed precision: the name to show, and the guide column it is sized with.
struct precision_choice {
    std::string name;        ///< canonical name: "float32", "float16", "bfloat16", "int8", "int4"
    guide_precision sizing;  ///< column used by the guide formula (bfloat16 → float16)
};

/// Canonical name of a guide column ("float32", "float16", "int8", "int4").
std::string_view to_string(guide_precision p) noexcept;

/// The four guide columns, widest first.
std::span<const guide_precision> guide_precisions() noexcept;

/// Parses float32/float16/int8/int4 and the aliases fp32, fp16, bf16, bfloat16 (case-insensitive).
/// bf16/bfloat16 keep the name "bfloat16" and are sized as float16.
/// @throws usage_error "unknown precision 'X': accepted: float32, float16, int8, int4 (aliases …)".
precision_choice parse_guide_precision(std::string_view text);

}  // namespace whisper_vram
