#include "whisper_vram/core/guide_estimator.hpp"

#include <fmt/format.h>
#include <array>
#include <cmath>

#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/units.hpp"

namespace whisper_vram {
namespace {

// The guide's table "基础模型内存" (GB = GiB), rows tiny…large, columns float32, float16, int8, int4.
constexpr std::array<std::array<double, 4>, 5> base_table{{
    {1.5, 0.8, 0.4, 0.2},     // tiny   (39M)
    {2.0, 1.0, 0.5, 0.25},    // base   (74M)
    {3.0, 1.5, 0.75, 0.375},  // small  (244M)
    {5.0, 2.5, 1.25, 0.625},  // medium (769M)
    {10.0, 5.0, 2.5, 1.25},   // large / large-v2 / large-v3 (1550M)
}};

memory_component component(std::string key, double gib, std::string description) {
    return memory_component{std::move(key), gib, gib_to_bytes_ceil(gib), std::move(description)};
}

}  // namespace

double guide_base_model_gib(guide_row row, guide_precision precision) noexcept {
    return base_table.at(static_cast<std::size_t>(row)).at(static_cast<std::size_t>(precision));
}

double guide_base_model_gib(const whisper_model& model, guide_precision precision) {
    if (!model.guide) {
        throw needs_engine_error(fmt::format(
            "model '{}' has no row in the guide's table (rows: tiny, base, small, medium, large); the guide "
            "formula cannot size it. Use an engine-aware estimate instead: --engine",
            model.name));
    }
    return guide_base_model_gib(*model.guide, precision);
}

memory_estimate estimate_guide(const estimate_request& request) {
    const whisper_model& model = find_model(request.model);
    const precision_choice precision = parse_guide_precision(request.precision);
    validate_segment_seconds(request.segment_seconds);
    validate_batch_size(request.batch_size);
    validate_margin(request.margin);
    if (request.beam_size || request.gpu_name || request.flash_attention) {
        throw needs_engine_error(
            "beam size, GPU and flash attention are not inputs of the guide formula; choose an engine with --engine");
    }

    using namespace guide_constants;
    // Same operations, same order as the guide's Python: results are bit-identical.
    const double base_model = guide_base_model_gib(model, precision.sizing);
    const double audio_processing = base_model * audio_fraction * (request.segment_seconds / window_seconds);
    const double batch_overhead = batch_fixed_gib + audio_processing * request.batch_size;
    const double pytorch_overhead = (base_model + batch_overhead) * pytorch_fraction;
    const double total_required = base_model + audio_processing + batch_overhead + pytorch_overhead;
    const double recommended = total_required * (1.0 + request.margin);

    memory_estimate result;
    result.request = request;
    result.request.engine = "guide";
    result.request.model = std::string(model.name);
    result.request.precision = precision.name;
    result.breakdown = {
        component("base_model", base_model,
                  fmt::format("guide table: {} at {}", to_string(*model.guide), to_string(precision.sizing))),
        component("audio_processing", audio_processing, "base_model x 0.15 x segment / 30 s"),
        component("batch_overhead", batch_overhead, "0.2 GiB + audio_processing x batch"),
        component("pytorch_overhead", pytorch_overhead, "(base_model + batch_overhead) x 0.25"),
    };
    result.total_required_gib = total_required;
    result.recommended_gib = recommended;
    result.total_required_bytes = gib_to_bytes_ceil(total_required);
    result.recommended_bytes = gib_to_bytes_ceil(recommended);
    if (precision.name == "bfloat16") result.notes.emplace_back("bfloat16 is sized as float16 by the guide formula");
    return result;
}

}  // namespace whisper_vram
