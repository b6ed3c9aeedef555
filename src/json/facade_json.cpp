// JSON forms of the facade's concurrency results (can_run_concurrent_task, release_all_memory).
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/json/json.hpp"

namespace whisper_vram {

using json = nlohmann::ordered_json;

json to_json(const concurrent_task_check& c) {
    json j{{"can_run", c.can_run}, {"model", c.model}};
    put_bytes(j, "new_task", c.new_task_bytes);
    j["current_tasks"] = c.current_tasks;
    j["current_tasks_memory"] = bytes_to_gib(c.current_tasks_bytes);
    j["current_tasks_bytes"] = c.current_tasks_bytes;
    j["gpu"] = {{"index", c.gpu_index}, {"uuid", c.gpu_uuid}};
    put_bytes(j, "free", c.free_bytes);
    // Not `reserved_bytes`: that is the driver's reserve of a GPU in `gpus`.
    j["ledger_reserved_bytes"] = c.ledger_reserved_bytes;
    put_bytes(j, "available", c.available_bytes);
    j["guide_result"] = c.guide_result;
    j["message"] = c.message;
    return j;
}

json to_json(const release_report& r) {
    std::uint64_t dropped_bytes = 0;
    for (const auto& d : r.reservations_dropped) dropped_bytes += d.bytes;
    json gpus = json::array();
    for (const auto& g : r.gpus) {
        const std::uint64_t freed =
            g.free_after_bytes > g.free_before_bytes ? g.free_after_bytes - g.free_before_bytes : 0;
        json gpu{{"index", g.index}, {"uuid", g.uuid}, {"name", g.name}};
        put_bytes_grouped(gpu,
                          {{"free_before", g.free_before_bytes}, {"free_after", g.free_after_bytes}, {"freed", freed}});
        gpus.push_back(std::move(gpu));
    }
    json j{{"reservations_dropped", to_json_array(r.reservations_dropped)},
           {"reservations_dropped_bytes", dropped_bytes},
           {"hooks_called", r.hooks_called},
           {"hook_errors", r.hook_errors},
           {"gpus", gpus}};
    if (!r.gpu_info_unavailable_reason.empty()) j["gpu_info_unavailable_reason"] = r.gpu_info_unavailable_reason;
    j["cannot_free"] = r.cannot_free;
    return j;
}

}  // namespace whisper_vram
