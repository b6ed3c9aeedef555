// JSON forms of the planner's result types (stable keys shared by the CLI and the Python module).
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/json/json.hpp"
#include "whisper_vram/planner/planner.hpp"

namespace whisper_vram {
namespace {

using json = nlohmann::ordered_json;

json optional_bytes_gib(const std::optional<std::uint64_t>& bytes) {
    return bytes ? json(bytes_to_gib(*bytes)) : json();
}
json optional_bytes(const std::optional<std::uint64_t>& bytes) { return bytes ? json(*bytes) : json(); }

}  // namespace

json to_json(const best_model_result& r) {
    json j;
    j["model"] = r.model;
    j["fits"] = r.fits;
    j["recommended"] = r.estimate.recommended_gib;
    j["memory"] = bytes_to_gib(r.available_bytes);
    j["recommended_bytes"] = r.estimate.recommended_bytes;
    j["memory_bytes"] = r.available_bytes;
    j["engine"] = r.estimate.request.engine;
    j["precision"] = r.estimate.request.precision;
    j["segment_duration"] = r.estimate.request.segment_seconds;
    j["batch_size"] = r.estimate.request.batch_size;
    j["ladder"] = r.ladder;
    j["notes"] = r.notes;
    j["message"] = r.message;
    return j;
}

json to_json(const solve_result& r) {
    json j;
    j["quantity"] = std::string(to_string(r.quantity));
    const bool memory = r.quantity == solve_quantity::min_memory;
    if (memory) {
        j["value"] = bytes_to_gib(r.value);
        j["value_bytes"] = r.value;
    } else {
        j["value"] = r.value;
    }
    j["fits"] = r.fits;
    switch (r.quantity) {
        case solve_quantity::max_segment:
            j["unit"] = "s";
            break;
        case solve_quantity::max_batch:
            j["unit"] = "batch";
            break;
        case solve_quantity::max_concurrent:
            j["unit"] = "tasks";
            break;
        case solve_quantity::min_memory:
            j["unit"] = "GiB";
            break;
    }
    j["model"] = r.request.model;
    j["engine"] = r.request.engine;
    j["precision"] = r.request.precision;
    j["segment_duration"] = r.request.segment_seconds;
    j["batch_size"] = r.request.batch_size;
    j["margin"] = r.request.margin;
    if (!memory) {
        j["memory"] = optional_bytes_gib(r.available_bytes);
        j["memory_bytes"] = optional_bytes(r.available_bytes);
    }
    j["recommended"] = r.at_value ? json(r.at_value->recommended_gib) : json();
    j["recommended_bytes"] = r.at_value ? json(r.at_value->recommended_bytes) : json();
    if (r.quantity == solve_quantity::max_concurrent && r.at_value) {
        j["total"] = bytes_to_gib(r.value * r.at_value->recommended_bytes);
        j["total_bytes"] = r.value * r.at_value->recommended_bytes;
    }
    if (!memory) j["next_step_recommended_bytes"] = optional_bytes(r.next_step_bytes);
    j["notes"] = r.notes;
    j["message"] = r.message;
    return j;
}

json to_json(const gpu_plan& p) {
    json j;
    j["precision"] = p.precision;
    j["model"] = p.best.model;
    j["fits"] = p.best.fits;
    j["recommended"] = p.best.estimate.recommended_gib;
    j["recommended_bytes"] = p.best.estimate.recommended_bytes;
    j["max_segment"] = p.max_segment_seconds;
    j["max_concurrent"] = p.max_concurrent;
    j["notes"] = p.notes;
    return j;
}

json to_json(const gpu_recommendation& r) {
    json j;
    j["gpu"] = r.gpu;
    j["index"] = r.index ? json(*r.index) : json();
    j["uuid"] = r.uuid.empty() ? json() : json(r.uuid);
    j["memory"] = bytes_to_gib(r.memory_bytes);
    j["memory_bytes"] = r.memory_bytes;
    j["total"] = bytes_to_gib(r.total_bytes);
    j["total_bytes"] = r.total_bytes;
    j["state"] = r.state;
    j["reason"] = r.reason.empty() ? json() : json(r.reason);
    if (r.plan) {
        const json plan = to_json(*r.plan);
        for (const char* key : {"model", "fits", "recommended", "recommended_bytes", "max_segment", "max_concurrent",
                                "precision", "notes"}) {
            j[key] = plan[key];
        }
    } else {
        for (const char* key :
             {"model", "fits", "recommended", "recommended_bytes", "max_segment", "max_concurrent", "precision"}) {
            j[key] = nullptr;
        }
        j["fits"] = false;
        j["notes"] = json::array();
    }
    j["int8"] = r.int8 ? to_json(*r.int8) : json();
    return j;
}

json to_json(const recommendation_result& r) {
    json j;
    j["source"] = r.source;
    j["engine"] = r.request.engine;
    j["precision"] = r.request.precision;
    j["segment_duration"] = r.request.segment_seconds;
    j["batch_size"] = r.request.batch_size;
    json gpus = json::array();
    for (const auto& g : r.gpus) gpus.push_back(to_json(g));
    j["gpus"] = std::move(gpus);
    return j;
}

json to_json(const guide_preset& p) {
    json j;
    j["name"] = p.name;
    j["model"] = p.model;
    j["segment_duration"] = p.segment_seconds;
    j["batch_size"] = p.batch_size;
    j["precision"] = p.precision;
    j["max_concurrent"] = p.max_concurrent;
    j["target_gpu"] = p.target_gpu;
    return j;
}

json to_json(const preset_evaluation& e) {
    json j = to_json(e.preset);
    j["total_required"] = e.estimate.total_required_gib;
    j["recommended"] = e.estimate.recommended_gib;
    j["total_required_all"] = e.total_required_gib;
    j["recommended_all"] = e.recommended_gib;
    j["total_required_bytes"] = e.estimate.total_required_bytes;
    j["recommended_bytes"] = e.estimate.recommended_bytes;
    j["total_required_all_bytes"] = e.total_required_bytes;
    j["recommended_all_bytes"] = e.recommended_bytes;
    j["target_memory"] = bytes_to_gib(e.target_memory_bytes);
    j["target_memory_bytes"] = e.target_memory_bytes;
    j["fits_target"] = e.fits_target;
    j["max_concurrent_on_target"] = e.max_concurrent_on_target;
    j["max_segment_on_target"] = e.max_segment_on_target;
    j["message"] = e.message;
    return j;
}

json to_json(const check_suggestion& s) {
    json j;
    j["change"] = s.change;
    j["config"] = {{"model", s.config.model},
                   {"segment_duration", s.config.segment_seconds},
                   {"batch_size", s.config.batch_size},
                   {"precision", s.config.precision}};
    j["recommended"] = s.recommended_gib;
    j["recommended_bytes"] = s.recommended_bytes;
    if (s.change == "free_memory") {
        j["free_needed"] = bytes_to_gib(s.free_needed_bytes);
        j["free_needed_bytes"] = s.free_needed_bytes;
    }
    j["text"] = s.text;
    return j;
}

json to_json(const check_gpu_row& r) {
    json j;
    j["index"] = r.index;
    j["nvml_index"] = r.nvml_index;
    j["name"] = r.name;
    j["uuid"] = r.uuid;
    j["state"] = r.state;
    j["total"] = bytes_to_gib(r.total_bytes);
    j["free"] = bytes_to_gib(r.free_bytes);
    j["required"] = bytes_to_gib(r.required_bytes);
    j["shortfall"] = bytes_to_gib(r.shortfall_bytes);
    j["total_bytes"] = r.total_bytes;
    j["free_bytes"] = r.free_bytes;
    j["required_bytes"] = r.required_bytes;
    j["shortfall_bytes"] = r.shortfall_bytes;
    j["fits"] = r.fits;
    j["reason"] = r.reason.empty() ? json() : json(r.reason);
    return j;
}

json to_json(const check_result& r) {
    json j;
    j["sufficient"] = r.sufficient;
    j["message"] = r.message;
    j["optimization_suggestions"] = r.optimization_suggestions;
    json suggestions = json::array();
    for (const auto& s : r.suggestions) suggestions.push_back(to_json(s));
    j["suggestions"] = std::move(suggestions);
    json gpus = json::array();
    for (const auto& g : r.gpus) gpus.push_back(to_json(g));
    j["gpus"] = std::move(gpus);
    j["required"] = to_json(r.required);
    j["source"] = r.source;
    return j;
}

}  // namespace whisper_vram
