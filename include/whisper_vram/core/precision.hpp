#pragma once
/// @file precision.hpp
/// Precisions as values. Text is parsed once (by the guide here, by an engine's profile in
/// engines/registry.hpp) into a `precision_id`; estimators compare ids, never strings.

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace whisper_vram {

/// Every numeric format an estimator sizes. One value per format, whatever an engine calls it:
/// whisper.cpp's "f16" is `float16`, its "q8_0" is `q8_0` (ggml blocks, not CTranslate2's int8).
enum class precision_id : std::uint8_t {
    float32,        ///< 4 B floats
    float16,        ///< 2 B IEEE half
    bfloat16,       ///< 2 B brain float
    int8,           ///< the guide's int8 column; CTranslate2 int8 (float16 compute on CC ≥ 7.0)
    int8_float16,   ///< CTranslate2: int8 weights, float16 compute
    int8_float32,   ///< CTranslate2: int8 weights, float32 compute
    int8_bfloat16,  ///< CTranslate2: int8 weights, bfloat16 compute
    int16,          ///< CTranslate2: a CPU type, runs as float32 on CUDA
    int4,           ///< the guide's int4 column
    q8_0,           ///< ggml 8-bit blocks (34 B per 32 weights)
    q5_0,           ///< ggml 5-bit blocks (22 B per 32)
    q5_1,           ///< ggml 5-bit blocks with a minimum (24 B per 32)
    q4_0,           ///< ggml 4-bit blocks (18 B per 32)
    q4_1,           ///< ggml 4-bit blocks with a minimum (20 B per 32)
};

/// Generic name of @p p ("float32", "q5_0", …); an engine may show another (whisper.cpp "f16").
std::string_view to_string(precision_id p) noexcept;

/// One precision an estimator accepts: its id, the name it shows and the other spellings it takes.
struct precision_spelling {
    precision_id id;                            ///< the value estimators compare
    std::string_view name;                      ///< canonical name shown in results ("f16", "int8_float16")
    std::span<const std::string_view> aliases;  ///< other accepted spellings, lower case ("fp16", "float16")
};

/// The short spellings the guide and most engines accept for the float formats.
namespace precision_aliases {
inline constexpr auto fp32 = std::to_array<std::string_view>({"fp32"});  ///< float32
inline constexpr auto fp16 = std::to_array<std::string_view>({"fp16"});  ///< float16
inline constexpr auto bf16 = std::to_array<std::string_view>({"bf16"});  ///< bfloat16
}  // namespace precision_aliases

/// Finds @p text (trimmed, case-insensitive) among the names and aliases of @p spellings.
/// @return the matching entry, or nullptr.
const precision_spelling* find_precision(std::span<const precision_spelling> spellings, std::string_view text) noexcept;

/// "float32, float16, bfloat16": the canonical names of @p spellings in order.
std::string precision_names_text(std::span<const precision_spelling> spellings);

/// "fp32 = float32, float16/fp16 = f16": every alias of @p spellings and the name it means
/// (entries without aliases are left out; empty when none has one).
std::string precision_aliases_text(std::span<const precision_spelling> spellings);

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

/// What the guide formula accepts: float32 (fp32), float16 (fp16), bfloat16 (bf16; sized as
/// float16), int8, int4. The "guide" engine profile lists these.
std::span<const precision_spelling> guide_precision_spellings() noexcept;

/// Parses one of guide_precision_spellings() (case-insensitive).
/// bf16/bfloat16 keep the name "bfloat16" and are sized as float16.
/// @throws usage_error "unknown precision 'X': accepted: float32, float16, int8, int4 (aliases …)".
precision_choice parse_guide_precision(std::string_view text);

}  // namespace whisper_vram
