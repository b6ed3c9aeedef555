// JSON forms of the planner's result types (stable keys shared by the CLI and the Python module).
#include "whisper_vram/json/json.hpp"

#include <string>

namespace whisper_vram {

using json = nlohmann::ordered_json;

json to_json(const best_model_result& r) {
    json j;
    j["model"] = r.model;
    j["fits"] = r.fits;
    put_bytes_grouped(
        j, {{"recommended", r.estimate.recommended_gib, r.estimate.recommended_bytes}, {"memory", r.available_bytes}});
    put_configuration(j, r.estimate.request);
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
        put_bytes(j, "value", r.value);
    } else {
        j["value"] = r.value;
    }
    j["fits"] = r.fits;
    j["unit"] = r.quantity == solve_quantity::max_segment      ? "s"
                : r.quantity == solve_quantity::max_batch      ? "batch"
                : r.quantity == solve_quantity::max_concurrent ? "tasks"
                                                               : "GiB";
    j["model"] = r.request.model;
    put_configuration(j, r.request);
    j["margin"] = r.request.margin;
    if (!memory) put_bytes(j, "memory", r.available_bytes);
    if (r.at_value) {
        put_bytes(j, "recommended", r.at_value->recommended_gib, r.at_value->recommended_bytes);
    } else {
        j["recommended"] = nullptr;
        j["recommended_bytes"] = nullptr;
    }
    if (r.quantity == solve_quantity::max_concurrent && r.at_value) {
        put_bytes(j, "total", r.value * r.at_value->recommended_bytes);
    }
    if (!memory) j["next_step_recommended_bytes"] = optional_json(r.next_step_bytes);
    j["notes"] = r.notes;
    j["message"] = r.message;
    return j;
}

json to_json(const gpu_plan& p) {
    json j;
    j["precision"] = p.precision;
    j["model"] = p.best.model;
    j["fits"] = p.best.fits;
    put_bytes(j, "recommended", p.best.estimate.recommended_gib, p.best.estimate.recommended_bytes);
    j["max_segment"] = p.max_segment_seconds;
    j["max_concurrent"] = p.max_concurrent;
    j["max_batch"] = optional_json(p.max_batch);
    j["notes"] = p.notes;
    return j;
}

json to_json(const gpu_recommendation& r) {
    json j;
    j["gpu"] = r.gpu;
    j["index"] = optional_json(r.index);
    j["uuid"] = text_or_null(r.uuid);
    put_bytes(j, "memory", r.memory_bytes);
    put_bytes(j, "total", r.total_bytes);
    put_bytes(j, "free", r.free_bytes);
    put_bytes(j, "ledger_reserved", r.reserved_bytes);
    j["state"] = r.state;
    j["reason"] = text_or_null(r.reason);
    // The plan's keys in this order; all null (fits false, no notes) when no plan was made.
    const json plan = r.plan ? to_json(*r.plan) : json();
    for (const char* key : {"model", "fits", "recommended", "recommended_bytes", "max_segment", "max_concurrent",
                            "max_batch", "precision", "notes"}) {
        j[key] = r.plan ? plan[key] : json();
    }
    if (!r.plan) {
        j["fits"] = false;
        j["notes"] = json::array();
    }
    for (const auto& n : r.notes) j["notes"].push_back(n);
    j["int8"] = r.int8 ? to_json(*r.int8) : json();
    return j;
}

json to_json(const recommendation_result& r) {
    json j;
    j["source"] = r.source;
    j["memory_basis"] = r.memory_basis;
    put_configuration(j, r.request);
    j["gpus"] = to_json_array(r.gpus);
    return j;
}

json to_json(const guide_preset& p) {
    return {{"name", p.name},
            {"model", p.model},
            {"segment_duration", p.segment_seconds},
            {"batch_size", p.batch_size},
            {"precision", p.precision},
            {"max_concurrent", p.max_concurrent},
            {"target_gpu", p.target_gpu}};
}

json to_json(const preset_evaluation& e) {
    json j = to_json(e.preset);
    put_bytes_grouped(j, {{"total_required", e.estimate.total_required_gib, e.estimate.total_required_bytes},
                          {"recommended", e.estimate.recommended_gib, e.estimate.recommended_bytes},
                          {"total_required_all", e.total_required_gib, e.total_required_bytes},
                          {"recommended_all", e.recommended_gib, e.recommended_bytes}});
    put_bytes(j, "target_memory", e.target_memory_bytes);
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
    put_bytes(j, "recommended", s.recommended_gib, s.recommended_bytes);
    if (s.change == "free_memory") put_bytes(j, "free_needed", s.free_needed_bytes);
    j["text"] = s.text;
    return j;
}

json to_json(const check_gpu_row& r) {
    json j{{"index", r.index}, {"nvml_index", r.nvml_index}, {"name", r.name}, {"uuid", r.uuid}, {"state", r.state}};
    put_bytes_grouped(j, {{"total", r.total_bytes},
                          {"free", r.free_bytes},
                          {"ledger_reserved", r.reserved_bytes},
                          {"available", r.available_bytes},
                          {"required", r.required_bytes},
                          {"shortfall", r.shortfall_bytes}});
    j["fits"] = r.fits;
    j["supported"] = r.supported;
    j["reason"] = text_or_null(r.reason);
    j["notes"] = r.notes;
    return j;
}

json to_json(const check_result& r) {
    json j;
    j["sufficient"] = r.sufficient;
    j["message"] = r.message;
    j["optimization_suggestions"] = r.optimization_suggestions;
    j["suggestions"] = to_json_array(r.suggestions);
    j["gpus"] = to_json_array(r.gpus);
    j["required"] = to_json(r.required);
    j["source"] = r.source;
    j["memory_basis"] = r.memory_basis;
    return j;
}

json to_json(const replan_suggestion& s) {
    json j;
    j["change"] = s.change;
    j["config"] = {{"model", s.config.model},
                   {"engine", s.config.engine},
                   {"segment_duration", s.config.segment_seconds},
                   {"batch_size", s.config.batch_size},
                   {"precision", s.config.precision}};
    put_bytes(j, "recommended", s.recommended_bytes);
    j["corrected_bytes"] = s.corrected_bytes ? json(*s.corrected_bytes) : json(nullptr);
    j["available_bytes"] = s.available_bytes;
    j["fits"] = s.fits;
    j["text"] = s.text;
    return j;
}

json to_json(const oom_advice& a) {
    json j{{"message", a.message}, {"gpu_index", a.situation.gpu_index}, {"gpu_name", a.situation.gpu_name}};
    put_bytes(j, "available", a.situation.available_bytes);
    j["other_jobs"] = a.situation.other_jobs;
    j["other_jobs_bytes"] = a.situation.other_jobs_bytes;
    j["peak_bytes"] = a.situation.peak_bytes ? json(*a.situation.peak_bytes) : json(nullptr);
    j["failed"] = {{"model", a.failed.request.model},
                   {"engine", a.failed.request.engine},
                   {"batch_size", a.failed.request.batch_size},
                   {"precision", a.failed.request.precision},
                   {"total_required_bytes", a.failed.total_required_bytes},
                   {"recommended_bytes", a.failed.recommended_bytes}};
    j["correction"] = a.correction ? json(*a.correction) : json(nullptr);
    j["suggestions"] = to_json_array(a.suggestions);
    j["notes"] = a.notes;
    return j;
}

}  // namespace whisper_vram
