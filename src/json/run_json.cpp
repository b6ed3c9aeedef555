// JSON of `whisper-vram run`'s outcome (run --json-out / --json-fd).

#include <array>
#include <string>

#include "core/text.hpp"
#include "whisper_vram/facade/run_outcome.hpp"
#include "whisper_vram/json/json.hpp"

namespace whisper_vram {

using json = nlohmann::ordered_json;

std::string_view to_string(run_end end) noexcept {
    static constexpr std::array<std::string_view, 4> names{"exited", "signaled", "not_started", "cannot_execute"};
    return detail::enum_name(names, end);
}

json to_json(const run_outcome& o) {
    json j{{"outcome", std::string(to_string(o.end))}, {"exit_status", o.exit_status}, {"command", o.command}};
    j["reservation"] = {{"status", std::string(to_string(o.reservation_status))},
                        {"message", o.reservation_message},
                        {"waited_seconds", static_cast<double>(o.waited.count()) / 1000.0}};
    put_bytes(j["reservation"], "requested", o.requested_bytes);
    if (o.placement) {
        const auto& p = *o.placement;
        j["placement"] = {{"reservation_id", p.id},     {"gpu_uuid", p.gpu_uuid}, {"gpu_index", p.gpu_index},
                          {"cuda_index", p.cuda_index}, {"gpu_name", p.gpu_name}, {"model", p.model}};
        put_bytes(j["placement"], "reserved", p.bytes);
    } else {
        j["placement"] = nullptr;
    }
    j["pid"] = o.pid == 0 ? json(nullptr) : json(o.pid);
    j["exit_code"] = o.exit_code ? json(*o.exit_code) : json(nullptr);
    j["signal"] = o.term_signal ? json(*o.term_signal) : json(nullptr);
    j["exec_error"] = o.exec_error;
    j["survivors_killed"] = o.survivors_killed;
    j["ran_seconds"] = static_cast<double>(o.ran.count()) / 1000.0;
    j["measurement"] = o.measurement ? to_json(*o.measurement) : json(nullptr);
    j["peak_over_reservation"] = o.peak_over_reservation;
    j["warnings"] = o.warnings;
    j["oom_advice"] = o.advice ? to_json(*o.advice) : json(nullptr);
    return j;
}

}  // namespace whisper_vram
