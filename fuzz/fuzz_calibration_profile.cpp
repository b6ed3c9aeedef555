// parse_calibration_profile (include/whisper_vram/core/calibration.hpp) on any text: bad input is
// a usage_error naming the profile, nothing else escapes; a profile it accepts survives a round
// trip through to_json (the groups come back the same), and applying a group to the ends of its
// range never traps.

#include <string>

#include "harness.hpp"
#include "whisper_vram/core/calibration.hpp"
#include "whisper_vram/json/json.hpp"

namespace whisper_vram::fuzz {
namespace {

void fuzz_calibration_profile(const std::uint8_t* data, std::size_t size) {
    const auto text = as_text(data, size);
    calibration_profile profile;
    if (!expected_outcome([&] { profile = parse_calibration_profile(text, "fuzz.json"); })) return;
    const auto written = to_json(profile).dump();
    calibration_profile again;
    if (!expected_outcome([&] { again = parse_calibration_profile(written, "again.json"); })) {
        finding("a parsed profile does not parse back: " + written);
    }
    require(again.groups.size() == profile.groups.size(), "groups lost in a round trip");
    for (std::size_t i = 0; i < profile.groups.size(); ++i) {
        const auto& a = profile.groups[i];
        const auto& b = again.groups[i];
        require(a.engine == b.engine && a.cc_major == b.cc_major && a.kind == b.kind && a.factor == b.factor &&
                    a.offset_bytes == b.offset_bytes && a.safety_lift_bytes == b.safety_lift_bytes && a.runs == b.runs,
                "a group changes in a round trip");
        (void)a.apply(a.min_estimate_bytes);
        (void)a.apply(a.max_estimate_bytes);
    }
}

}  // namespace
}  // namespace whisper_vram::fuzz

WHISPER_VRAM_FUZZ_HARNESS("calibration_profile", fuzz_calibration_profile)
