#pragma once
/// @file guide_estimator.hpp
/// The guide's formula, reproduced exactly (guide.zh.md "计算公式"):
///
///     base_model       = table[model][precision]                       (GiB)
///     audio_processing = base_model × 0.15 × (segment_duration / 30)
///     batch_overhead   = 0.2 + audio_processing × batch_size
///     pytorch_overhead = (base_model + batch_overhead) × 0.25
///     total_required   = base_model + audio_processing + batch_overhead + pytorch_overhead
///     recommended      = total_required × 1.2      (margin adjustable)
///
/// Computed in double GiB with the same operations in the same order as the guide's Python, so
/// results are bit-identical to it (medium defaults: 4.21875 / 5.0625). Bytes are derived by
/// rounding up.

#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/estimate.hpp"
#include "whisper_vram/core/models.hpp"
#include "whisper_vram/core/precision.hpp"

namespace whisper_vram {

/// Constants of the guide formula.
namespace guide_constants {
inline constexpr double audio_fraction = 0.15;    ///< audio processing ≈ 15% of the base model
inline constexpr double window_seconds = 30.0;    ///< Whisper's standard window
inline constexpr double batch_fixed_gib = 0.2;    ///< fixed batch overhead (GiB)
inline constexpr double pytorch_fraction = 0.25;  ///< PyTorch overhead on base + batch
}  // namespace guide_constants

/// The guide table's base-model memory (GiB) for a row and column.
double guide_base_model_gib(guide_row row, guide_precision precision) noexcept;

/// The request needs an engine-aware estimate (a model without a guide row; beam, GPU or flash
/// attention given). The message ends in "--engine"; the guide's engine profile (engines layer,
/// which knows the engines) appends the list of engines: core cannot name them.
class needs_engine_error : public usage_error {
public:
    using usage_error::usage_error;
};

/// The guide table's base-model memory for a model.
/// @throws needs_engine_error when the guide has no row for the model (turbo, distil-*).
double guide_base_model_gib(const whisper_model& model, guide_precision precision);

/// The guide formula on @p request (request.engine is ignored).
/// @throws usage_error on any invalid input (needs_engine_error: see there).
memory_estimate estimate_guide(const estimate_request& request);

}  // namespace whisper_vram
