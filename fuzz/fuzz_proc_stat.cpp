// parse_proc_stat_start_time (sched/ledger.hpp) on any text: never throws; a start time is found
// only in a well-formed line ("PID (COMM) S …", 20 fields after the last ')') whose state is not
// Z, X or x, and then it is exactly field 22 written back.

#include <string>

#include "harness.hpp"
#include "whisper_vram/sched/ledger.hpp"

namespace whisper_vram::fuzz {

void fuzz_proc_stat(const std::uint8_t* data, std::size_t size) {
    const auto text = as_text(data, size);
    std::optional<std::uint64_t> start;
    expected_outcome([&] { start = parse_proc_stat_start_time(text); });
    if (!start) return;
    const auto close = text.rfind(')');
    require(close != std::string_view::npos, "a start time from a line without ')'");
    const auto state = text.substr(close + 2, text.find(' ', close + 2) - (close + 2));  // field 3
    require(state != "Z" && state != "X" && state != "x", "a start time for a zombie or dead process");
    // Field 22 is the 20th space-separated field after ") ": find it and compare.
    std::string_view rest = text.substr(close + 2);
    for (int i = 0; i < 19; ++i) rest = rest.substr(rest.find(' ') + 1);
    auto field = rest.substr(0, rest.find(' '));
    while (field.size() > 1 && field.front() == '0') field.remove_prefix(1);  // "02" is 2
    require(field == std::to_string(*start), "the start time is not field 22 as written");
}

}  // namespace whisper_vram::fuzz

WHISPER_VRAM_FUZZ_HARNESS("proc_stat", fuzz_proc_stat)
