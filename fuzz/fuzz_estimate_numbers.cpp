// parse_segment_seconds, parse_batch_size, parse_margin (core/estimate.hpp) on any text:
// usage_error or a value, and a value always passes the matching validate_*() (the parsers
// never accept what the estimator would refuse).

#include <cmath>

#include "harness.hpp"
#include "whisper_vram/core/estimate.hpp"

namespace whisper_vram::fuzz {

void fuzz_estimate_numbers(const std::uint8_t* data, std::size_t size) {
    const auto text = as_text(data, size);
    double seconds = 0;
    if (expected_outcome([&] { seconds = parse_segment_seconds(text); })) {
        require(std::isfinite(seconds) && seconds > 0, "a segment length that is not a positive number");
        require(expected_outcome([&] { validate_segment_seconds(seconds); }),
                "parse_segment_seconds accepts what validate_segment_seconds refuses");
    }
    int batch = 0;
    if (expected_outcome([&] { batch = parse_batch_size(text); })) {
        require(batch >= 1 && batch <= 4096, "a batch size outside 1…4096");
        require(expected_outcome([&] { validate_batch_size(batch); }),
                "parse_batch_size accepts what validate_batch_size refuses");
    }
    double margin = 0;
    if (expected_outcome([&] { margin = parse_margin(text); })) {
        require(std::isfinite(margin) && margin >= 0, "a margin that is negative or not finite");
        require(expected_outcome([&] { validate_margin(margin); }),
                "parse_margin accepts what validate_margin refuses");
    }
}

}  // namespace whisper_vram::fuzz

WHISPER_VRAM_FUZZ_HARNESS("estimate_numbers", fuzz_estimate_numbers)
