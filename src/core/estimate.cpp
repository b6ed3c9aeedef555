#include "whisper_vram/core/estimate.hpp"

#include <fmt/format.h>
#include <charconv>
#include <cmath>

#include "core/text.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/guide_estimator.hpp"

namespace whisper_vram {

void validate_segment_seconds(double seconds) {
    if (!std::isfinite(seconds) || seconds <= 0.0 || seconds > 86400.0) {
        throw usage_error(fmt::format(
            "segment duration {} s is invalid: must be a finite number of seconds > 0 and at most 86400 (24 h)",
            seconds));
    }
}

void validate_batch_size(long long batch) {
    if (batch < 1 || batch > 4096) {
        throw usage_error(fmt::format("batch size {} is invalid: must be an integer from 1 to 4096", batch));
    }
}

void validate_margin(double margin) {
    if (!std::isfinite(margin) || margin < 0.0 || margin > 10.0) {
        throw usage_error(
            fmt::format("margin {} is invalid: must be a number from 0 to 10 (0.2 = the guide's 20%)", margin));
    }
}

double parse_segment_seconds(std::string_view text) {
    double value = 0.0;
    if (!detail::parse_double(text, value)) {
        throw usage_error(fmt::format(
            "segment duration '{}' is invalid: must be a finite number of seconds > 0 and at most 86400 (24 h)", text));
    }
    validate_segment_seconds(value);
    return value;
}

int parse_batch_size(std::string_view text) {
    const std::string_view trimmed = detail::trim(text);
    long long value = 0;
    const auto* last = trimmed.data() + trimmed.size();
    const auto [ptr, ec] = std::from_chars(trimmed.data(), last, value);
    if (trimmed.empty() || ec != std::errc{} || ptr != last) {
        throw usage_error(fmt::format("batch size '{}' is invalid: must be an integer from 1 to 4096", text));
    }
    validate_batch_size(value);
    return static_cast<int>(value);
}

double parse_margin(std::string_view text) {
    double value = 0.0;
    if (!detail::parse_double(text, value)) {
        throw usage_error(
            fmt::format("margin '{}' is invalid: must be a number from 0 to 10 (0.2 = the guide's 20%)", text));
    }
    validate_margin(value);
    return value;
}

std::string parse_cuda_module_loading(std::string_view text, std::string_view source) {
    const std::string value = detail::to_lower(detail::trim(text));
    if (value == "lazy" || value == "default") return "lazy";
    if (value == "eager") return "eager";
    throw usage_error(fmt::format(
        "{} '{}' is invalid: accepted: lazy, eager, default (= lazy), in any case (CUDA's LAZY, EAGER, DEFAULT)",
        source, text));
}

estimate_request make_guide_request(std::string_view model, double segment_seconds, int batch_size,
                                    std::string_view precision) {
    estimate_request request;
    request.model = std::string(model);
    request.segment_seconds = segment_seconds;
    request.batch_size = batch_size;
    request.precision = std::string(precision);
    return request;
}

}  // namespace whisper_vram
