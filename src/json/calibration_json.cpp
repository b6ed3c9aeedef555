/// @file calibration_json.cpp
/// JSON of the calibration profile (the file calibrate writes, and its --json output). Pure.

#include "whisper_vram/core/calibration.hpp"
#include "whisper_vram/json/json.hpp"

namespace whisper_vram {

nlohmann::ordered_json to_json(const calibration_group& g) {
    nlohmann::ordered_json j;
    j["engine"] = g.engine;
    j["compute_capability_major"] = optional_json(g.cc_major);
    j["label"] = g.label();
    j["correction"] = std::string(to_string(g.kind));
    j["factor"] = g.factor;
    j["offset_bytes"] = g.offset_bytes;
    j["safety_lift_bytes"] = g.safety_lift_bytes;
    j["runs"] = g.runs;
    j["estimate_range_bytes"] = {{"min", g.min_estimate_bytes}, {"max", g.max_estimate_bytes}};
    j["held_out_error_pct"] = optional_json(g.held_out_error_pct);
    return j;
}

nlohmann::ordered_json to_json(const calibrated_record& r) {
    nlohmann::ordered_json j;
    j["file"] = r.file;
    j["line"] = r.line;
    j["engine"] = r.engine;
    j["model"] = r.model;
    j["precision"] = r.precision;
    j["batch_size"] = r.batch_size;
    j["beam_size"] = r.beam_size;
    j["gpu_name"] = r.gpu_name;
    j["compute_capability_major"] = optional_json(r.cc_major);
    j["cuda_module_loading"] = optional_json(r.cuda_module_loading);
    j["peak_bytes"] = r.peak_bytes;
    j["estimate_bytes"] = r.estimate_bytes;
    j["calibrated_bytes"] = r.calibrated_bytes;
    j["error_before_pct"] = r.error_before_pct;
    j["error_after_pct"] = r.error_after_pct;
    j["held_out_error_pct"] = optional_json(r.held_out_error_pct);
    j["group"] = r.group;
    return j;
}

nlohmann::ordered_json to_json(const calibration_profile& p) {
    nlohmann::ordered_json j;
    j["kind"] = std::string(calibration_profile_kind);
    j["version"] = p.version;
    j["rule"] = calibration_rule_text();
    j["groups"] = to_json_array(p.groups);
    j["records"] = to_json_array(p.records);
    return j;
}

}  // namespace whisper_vram
