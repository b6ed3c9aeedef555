// parse_history (include/whisper_vram/core/calibration.hpp) on any text: it never throws; it
// returns records or an error with a line number inside the text; every record survives a round
// trip: parse_measurement_record(to_json_line(r)) is valid and writes the same line again.

#include <algorithm>
#include <string>

#include "harness.hpp"
#include "whisper_vram/core/calibration.hpp"

namespace whisper_vram::fuzz {
namespace {

void fuzz_measurement_records(const std::uint8_t* data, std::size_t size) {
    const auto text = as_text(data, size);
    const auto result = parse_history(text, "fuzz.jsonl");
    if (result.error) {
        require(result.records.empty(), "records returned beside an error");
        require(!result.error->message.empty(), "an error without a message");
        require(result.error->line <= static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1,
                "an error line number past the text");
        return;
    }
    for (const auto& located : result.records) {
        const auto line = to_json_line(located.record);
        require(line.find('\n') == std::string::npos, "to_json_line wrote a newline");
        const auto again = parse_measurement_record(line);
        if (!again.ok()) finding("a parsed record does not parse back: " + again.error->message + ": " + line);
        require(to_json_line(*again.record) == line, "a record's line changes in a round trip");
    }
}

}  // namespace
}  // namespace whisper_vram::fuzz

WHISPER_VRAM_FUZZ_HARNESS("measurement_records", fuzz_measurement_records)
