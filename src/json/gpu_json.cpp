// JSON forms of the gpu layer: devices, snapshots, CUDA numbering, the debug report.
#include <fmt/format.h>
#include <algorithm>
#include <string>

#include "whisper_vram/json/json.hpp"

namespace whisper_vram {

using json = nlohmann::ordered_json;

namespace {

// {cuda_index, …to_json(device)}: the CUDA index first, as `gpus --json` and the debug report show it.
json with_cuda_index(json cuda_index, const gpu_device& device) {
    json j;
    j["cuda_index"] = std::move(cuda_index);
    const json fields = to_json(device);  // named: iterating a temporary's items() trips -Wmaybe-uninitialized
    for (const auto& [key, value] : fields.items()) j[key] = value;
    return j;
}

}  // namespace

json to_json(const gpu_model& g) {
    const auto split = [](std::string_view text) {
        json items = json::array();
        while (!text.empty()) {
            const auto bar = text.find('|');
            items.push_back(std::string(text.substr(0, bar)));
            if (bar == std::string_view::npos) break;
            text.remove_prefix(bar + 1);
        }
        return items;
    };
    json j;
    j["name"] = std::string(g.name);
    put_bytes_grouped(j, {{"memory", g.memory_bytes}});
    j["compute_capability"] = fmt::format("{}.{}", g.cc_major, g.cc_minor);
    j["family"] = std::string(g.family);
    j["marketed"] = std::string(g.marketed_label);
    j["marketed_bytes"] = g.marketed_bytes;
    j["unified_memory"] = g.unified_memory();
    j["usable_memory_assumed"] = g.usable_memory_assumed();
    j["usable_memory_source"] = std::string(g.usable_memory_source);
    j["nvml_names"] = split(g.nvml_names);
    j["aliases"] = split(g.aliases);
    return j;
}

json to_json(const gpu_device& g) {
    json j;
    j["index"] = g.index;
    j["name"] = g.name;
    j["uuid"] = g.uuid;
    j["pci_bus_id"] = g.pci_bus_id;
    put_bytes_grouped(j, {{"total", g.total_bytes}, {"used", g.used_bytes}, {"free", g.free_bytes}});
    j["reserved_bytes"] = optional_json(g.reserved_bytes);  // the driver's reserve (NVML memory v2)
    j["utilization_gpu_percent"] = optional_json(g.utilization_gpu_percent);
    j["utilization_memory_percent"] = optional_json(g.utilization_memory_percent);
    j["compute_capability"] =
        g.capability ? json(fmt::format("{}.{}", g.capability->major, g.capability->minor)) : json();
    j["mig_enabled"] = optional_json(g.mig_enabled);
    json migs = json::array();
    for (const auto& m : g.mig_devices) {
        json mig{{"index", m.index}, {"uuid", m.uuid}};
        put_bytes_grouped(mig, {{"total", m.total_bytes}, {"used", m.used_bytes}, {"free", m.free_bytes}});
        migs.push_back(std::move(mig));
    }
    j["mig_devices"] = std::move(migs);
    json processes = json::array();
    for (const auto& p : g.processes) {
        processes.push_back({{"pid", p.pid}, {"used_bytes", optional_json(p.used_bytes)}, {"name", p.name}});
    }
    j["processes"] = std::move(processes);
    j["processes_known"] = g.processes_known;
    j["state"] = std::string(to_string(g.state));
    if (!g.state_detail.empty()) j["state_detail"] = g.state_detail;
    j["catalog_name"] = text_or_null(g.catalog_name);
    return j;
}

json to_json(const visible_gpu& v) { return with_cuda_index(v.cuda_index, v.device); }

json to_json(const visible_gpu& v, const gpu_capacity& c) {
    json j = with_cuda_index(v.cuda_index, v.device);
    put_bytes_grouped(j, {{"ledger_reserved", c.reserved_bytes}, {"admittable", c.available_bytes}});
    j["reservations"] = c.reservation_count;
    return j;
}

json to_json(const gpu_snapshot& s) {
    json j;
    j["source"] = std::string(to_string(s.source));
    if (!s.available()) j["reason"] = s.unavailable_reason;
    j["gpus"] = to_json_array(s.gpus);
    return j;
}

json to_json(const cuda_debug_info& info) {
    json j;
    j["source"] = std::string(to_string(info.source));
    const bool consulted = info.source != probe_source::simulated;
    json nvml;
    nvml["status"] = consulted ? json(std::string(to_string(info.nvml))) : json("not_consulted");
    nvml["error"] = text_or_null(info.nvml_error);
    json attempts = json::array();
    for (const auto& a : info.library_attempts) {
        attempts.push_back({{"path", a.path}, {"loaded", a.loaded}, {"error", text_or_null(a.error)}});
    }
    nvml["library_candidates"] = std::move(attempts);
    nvml["loaded_library"] = optional_json(info.loaded_library);
    nvml["loaded_library_file"] = optional_json(info.loaded_library_file);
    nvml["stub_library"] = info.stub_library;
    nvml["missing_symbol"] = text_or_null(info.missing_symbol);
    nvml["init_symbol"] = text_or_null(info.init_symbol);
    nvml["init_return"] = optional_json(info.init_return);
    nvml["init_return_name"] = info.init_return ? json(nvml_return_name(*info.init_return)) : json();
    nvml["resolved_symbols"] = info.resolved_symbols;
    j["nvml"] = std::move(nvml);
    j["driver_version"] = optional_json(info.system.driver_version);
    j["nvml_version"] = optional_json(info.system.nvml_version);
    if (info.system.cuda_driver_version) {
        // NVML_CUDA_DRIVER_VERSION_MAJOR/MINOR: 12040 → "12.4".
        const int v = *info.system.cuda_driver_version;
        j["cuda_driver_version"] = fmt::format("{}.{}", v / 1000, (v % 1000) / 10);
        j["cuda_driver_version_raw"] = v;
    } else {
        j["cuda_driver_version"] = json();
        j["cuda_driver_version_raw"] = json();
    }
    j["cuda_driver_version_source"] = text_or_null(info.system.cuda_driver_version_symbol);
    json errors = json::object();
    if (!info.system.driver_version_error.empty()) errors["driver_version"] = info.system.driver_version_error;
    if (!info.system.nvml_version_error.empty()) errors["nvml_version"] = info.system.nvml_version_error;
    if (!info.system.cuda_driver_version_error.empty()) {
        errors["cuda_driver_version"] = info.system.cuda_driver_version_error;
    }
    j["errors"] = std::move(errors);
    j["environment"] = {{"CUDA_VISIBLE_DEVICES", optional_json(info.environment.cuda_visible_devices)},
                        {"CUDA_DEVICE_ORDER", optional_json(info.environment.cuda_device_order)},
                        {"WHISPER_VRAM_NVML_LIBRARY", optional_json(info.environment.nvml_library)}};
    j["gpu_count"] = info.snapshot.gpus.size();
    j["visible_gpu_count"] = info.visible.size();
    json gpus = json::array();
    for (const auto& gpu : info.snapshot.gpus) {
        const auto it = std::find_if(info.visible.begin(), info.visible.end(),
                                     [&](const visible_gpu& v) { return v.device.index == gpu.index; });
        gpus.push_back(with_cuda_index(it != info.visible.end() ? json(it->cuda_index) : json(), gpu));
    }
    j["gpus"] = std::move(gpus);
    j["notes"] = info.notes;
    return j;
}

json to_json(const gpu_measurement& g) {
    json j{{"index", g.index}, {"name", g.name}, {"uuid", g.uuid}};
    j["compute_capability"] =
        g.capability ? json(fmt::format("{}.{}", g.capability->major, g.capability->minor)) : json(nullptr);
    j["total_bytes"] = g.total_bytes;
    put_bytes(j, "baseline", g.baseline_bytes);
    put_bytes(j, "peak", g.peak_bytes);
    j["peak_method"] = std::string(to_string(g.method));
    j["peak_at_seconds"] = static_cast<double>(g.peak_at.count()) / 1000.0;
    j["process_tree_peak_bytes"] = g.process_tree_peak_bytes;
    j["device_delta_peak_bytes"] = g.device_delta_peak_bytes;
    j["lost_at_seconds"] = g.lost_at ? json(static_cast<double>(g.lost_at->count()) / 1000.0) : json(nullptr);
    j["notes"] = g.notes;
    return j;
}

json to_json(const measurement_report& r) {
    json j{{"interval_ms", r.interval.count()},
           {"duration_seconds", static_cast<double>(r.duration.count()) / 1000.0},
           {"samples", r.samples},
           {"misses", r.misses},
           {"sampler_cpu_seconds", static_cast<double>(r.sampler_cpu.count()) / 1e9}};
    j["gpus"] = to_json_array(r.gpus);
    return j;
}

}  // namespace whisper_vram
