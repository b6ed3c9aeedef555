#include "whisper_vram/json/json.hpp"

#include "whisper_vram/core/units.hpp"

namespace whisper_vram {

nlohmann::ordered_json to_json(const memory_estimate& e) {
    nlohmann::ordered_json j;
    j["model"] = e.request.model;
    j["precision"] = e.request.precision;
    j["segment_duration"] = e.request.segment_seconds;
    j["batch_size"] = e.request.batch_size;
    j["engine"] = e.request.engine;
    if (e.request.beam_size) j["beam_size"] = *e.request.beam_size;
    if (e.request.gpu_name) j["gpu"] = *e.request.gpu_name;
    if (e.request.flash_attention) j["flash_attention"] = *e.request.flash_attention;
    j["margin"] = e.request.margin;
    j["unit"] = "GiB";
    nlohmann::ordered_json breakdown = nlohmann::ordered_json::object();
    nlohmann::ordered_json breakdown_bytes = nlohmann::ordered_json::object();
    for (const auto& c : e.breakdown) {
        breakdown[c.key] = c.gib;
        breakdown_bytes[c.key] = c.bytes;
    }
    j["breakdown"] = std::move(breakdown);
    j["total_required"] = e.total_required_gib;
    j["recommended"] = e.recommended_gib;
    j["breakdown_bytes"] = std::move(breakdown_bytes);
    j["total_required_bytes"] = e.total_required_bytes;
    j["recommended_bytes"] = e.recommended_bytes;
    if (e.host_bytes) {
        j["host_memory"] = bytes_to_gib(*e.host_bytes);
        j["host_memory_bytes"] = *e.host_bytes;
    }
    j["notes"] = e.notes;
    return j;
}

nlohmann::ordered_json to_json(const gpu_device& g) {
    nlohmann::ordered_json j;
    j["index"] = g.index;
    j["name"] = g.name;
    j["uuid"] = g.uuid;
    j["pci_bus_id"] = g.pci_bus_id;
    j["total"] = bytes_to_gib(g.total_bytes);
    j["used"] = bytes_to_gib(g.used_bytes);
    j["free"] = bytes_to_gib(g.free_bytes);
    j["total_bytes"] = g.total_bytes;
    j["used_bytes"] = g.used_bytes;
    j["free_bytes"] = g.free_bytes;
    j["reserved_bytes"] = g.reserved_bytes ? nlohmann::ordered_json(*g.reserved_bytes) : nlohmann::ordered_json();
    j["utilization_gpu_percent"] =
        g.utilization_gpu_percent ? nlohmann::ordered_json(*g.utilization_gpu_percent) : nlohmann::ordered_json();
    j["utilization_memory_percent"] =
        g.utilization_memory_percent ? nlohmann::ordered_json(*g.utilization_memory_percent) : nlohmann::ordered_json();
    j["compute_capability"] =
        g.capability
            ? nlohmann::ordered_json(std::to_string(g.capability->major) + "." + std::to_string(g.capability->minor))
            : nlohmann::ordered_json();
    j["mig_enabled"] = g.mig_enabled ? nlohmann::ordered_json(*g.mig_enabled) : nlohmann::ordered_json();
    nlohmann::ordered_json migs = nlohmann::ordered_json::array();
    for (const auto& m : g.mig_devices) {
        migs.push_back({{"index", m.index},
                        {"uuid", m.uuid},
                        {"total", bytes_to_gib(m.total_bytes)},
                        {"used", bytes_to_gib(m.used_bytes)},
                        {"free", bytes_to_gib(m.free_bytes)},
                        {"total_bytes", m.total_bytes},
                        {"used_bytes", m.used_bytes},
                        {"free_bytes", m.free_bytes}});
    }
    j["mig_devices"] = std::move(migs);
    nlohmann::ordered_json processes = nlohmann::ordered_json::array();
    for (const auto& p : g.processes) {
        processes.push_back(
            {{"pid", p.pid},
             {"used_bytes", p.used_bytes ? nlohmann::ordered_json(*p.used_bytes) : nlohmann::ordered_json()},
             {"name", p.name}});
    }
    j["processes"] = std::move(processes);
    j["processes_known"] = g.processes_known;
    j["state"] = std::string(to_string(g.state));
    if (!g.state_detail.empty()) j["state_detail"] = g.state_detail;
    j["catalog_name"] = g.catalog_name.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(g.catalog_name);
    return j;
}

nlohmann::ordered_json to_json(const visible_gpu& v) {
    nlohmann::ordered_json j;
    j["cuda_index"] = v.cuda_index;
    const nlohmann::ordered_json device = to_json(v.device);
    for (const auto& [key, value] : device.items()) j[key] = value;
    return j;
}

nlohmann::ordered_json to_json(const gpu_snapshot& s) {
    nlohmann::ordered_json j;
    j["source"] = std::string(to_string(s.source));
    if (!s.available()) j["reason"] = s.unavailable_reason;
    nlohmann::ordered_json gpus = nlohmann::ordered_json::array();
    for (const auto& g : s.gpus) gpus.push_back(to_json(g));
    j["gpus"] = std::move(gpus);
    return j;
}

}  // namespace whisper_vram
