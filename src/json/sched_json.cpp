// JSON forms of the sched layer: ledger records, reserve results, capacities, release-all reports.
#include <fmt/format.h>
#include <string>

#include "whisper_vram/core/units.hpp"
#include "whisper_vram/json/json.hpp"

namespace whisper_vram {

using json = nlohmann::ordered_json;

namespace {

// {model, bytes, <gib_key> (GiB), since (ISO 8601 UTC), since_ms}: what a reservation and a waiter share.
void put_held(json& j, const std::string& model, std::uint64_t bytes, const char* gib_key, std::int64_t since_ms) {
    j["model"] = model;
    j["bytes"] = bytes;
    j[gib_key] = bytes_to_gib(bytes);
    j["since"] = format_utc_iso8601(since_ms);
    j["since_ms"] = since_ms;
}

// {pid_namespace, boot_id, heartbeat_ms}: where the holder runs (0 / "" = unknown) and its last beat.
void put_liveness(json& j, const host_identity& host, std::int64_t heartbeat_ms) {
    j["pid_namespace"] = host.pid_namespace;
    j["boot_id"] = host.boot_id;
    j["heartbeat_ms"] = heartbeat_ms;
}

}  // namespace

json to_json(const reservation_record& r) {
    json j{{"id", r.id}, {"pid", r.holder.pid}, {"gpu_uuid", r.gpu_uuid}, {"gpu_index", r.gpu_index}};
    put_held(j, r.model, r.bytes, "reserved", r.since_ms);
    j["child_pid"] = r.child_pid;
    put_liveness(j, r.host, r.heartbeat_ms);
    return j;
}

json to_json(const waiter_record& w) {
    json j{{"id", w.id}, {"pid", w.holder.pid}, {"gpus", w.gpu_uuids}};
    put_held(j, w.model, w.bytes, "needed", w.since_ms);
    put_liveness(j, w.host, w.heartbeat_ms);
    return j;
}

json to_json(const reserve_result& r) {
    json j{{"status", std::string(to_string(r.status))}, {"granted", r.granted()}, {"message", r.message}};
    put_bytes(j, "requested", r.requested_bytes);
    j["waited_seconds"] = static_cast<double>(r.waited.count()) / 1000.0;
    if (r.granted()) {
        const auto& i = r.granted_lease.info();
        j["lease"] = {{"id", i.id},
                      {"gpu_uuid", i.gpu_uuid},
                      {"gpu_index", i.gpu_index},
                      {"cuda_index", i.cuda_index},
                      {"gpu_name", i.gpu_name},
                      {"bytes", i.bytes},
                      {"model", i.model}};
    } else {
        j["lease"] = nullptr;
    }
    put_bytes(j, "best_available", r.last.best_available_bytes);
    j["queue_position"] = r.last.queue_position;
    j["reason"] = r.last.reason;
    return j;
}

json to_json(const gpu_capacity& c) {
    json j{{"uuid", c.gpu_uuid},
           {"index", c.gpu_index},
           {"name", c.gpu_name},
           {"usable", c.usable},
           {"unusable_reason", c.unusable_reason}};
    // Ledger reservations are `ledger_reserved`: `reserved_bytes` is the driver's reserve (gpus).
    put_bytes_grouped(j, {{"total", c.total_bytes},
                          {"free", c.free_bytes},
                          {"ledger_reserved", c.reserved_bytes},
                          {"unmanaged_used", c.unmanaged_used_bytes},
                          {"available", c.available_bytes}});
    j["seen_managed_bytes"] = c.seen_managed_bytes;
    j["counted_managed_bytes"] = c.counted_managed_bytes;
    j["reservations"] = c.reservation_count;
    return j;
}

namespace {

std::uint64_t total_bytes(const std::vector<reservation_record>& records) {
    std::uint64_t sum = 0;
    for (const auto& r : records) sum = saturating_add(sum, r.bytes);
    return sum;
}

}  // namespace

json to_json(const reservations_release& report) {
    const std::uint64_t live_bytes = total_bytes(report.live);
    const std::uint64_t dropped_bytes = report.dropped_bytes();
    const std::string message =
        report.refused
            ? fmt::format("refused: {} reservation(s) of live holders ({}) would be dropped; use --force",
                          report.live.size(), format_gib(live_bytes))
            : fmt::format("dropped {} reservation(s) ({})", report.dropped.size(), format_gib(dropped_bytes));
    return {{"forced", report.forced},
            {"refused", report.refused},
            {"dropped_count", report.dropped.size()},
            {"dropped_bytes", dropped_bytes},
            {"dropped_gib", bytes_to_gib(dropped_bytes)},
            {"would_free_bytes", report.refused ? live_bytes : 0},
            {"dropped", to_json_array(report.dropped)},
            {"reaped", to_json_array(report.reaped)},
            {"live", to_json_array(report.live)},
            {"message", message}};
}

}  // namespace whisper_vram
