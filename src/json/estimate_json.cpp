// JSON form of an estimate (core layer).
#include "whisper_vram/json/json.hpp"

namespace whisper_vram {

nlohmann::ordered_json to_json(const memory_estimate& e) {
    // An ordered_json object is a vector of (const key, value) pairs: growing it copies every pair
    // (the const key cannot be moved), the nested breakdowns too. Room for 20 keys up front, more
    // than an estimate has without its optional fields (all of them: 26), in 960 bytes (glibc
    // serves up to 1032 from its per-thread cache).
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    j.get_ref<nlohmann::ordered_json::object_t&>().reserve(20);
    j["model"] = e.request.model;
    j["precision"] = e.request.precision;
    j["segment_duration"] = e.request.segment_seconds;
    j["batch_size"] = e.request.batch_size;
    j["engine"] = e.request.engine;
    if (e.request.beam_size) j["beam_size"] = *e.request.beam_size;
    if (e.request.gpu_name) j["gpu"] = *e.request.gpu_name;
    if (e.request.flash_attention) j["flash_attention"] = *e.request.flash_attention;
    // What the estimate sized ("eager" also when not stated: the notes say so); engines only.
    if (e.request.cuda_module_loading) j["cuda_module_loading"] = *e.request.cuda_module_loading;
    if (e.request.language) j["language"] = *e.request.language;  // whisperx
    if (e.request.align) j["align"] = *e.request.align;           // whisperx
    if (e.request.engine == "whisperx") {
        j["diarize"] = e.request.diarize;
        j["staged"] = e.request.staged;
    }
    j["margin"] = e.request.margin;
    j["unit"] = "GiB";
    nlohmann::ordered_json breakdown = nlohmann::ordered_json::object();
    nlohmann::ordered_json breakdown_bytes = nlohmann::ordered_json::object();
    breakdown.get_ref<nlohmann::ordered_json::object_t&>().reserve(e.breakdown.size());
    breakdown_bytes.get_ref<nlohmann::ordered_json::object_t&>().reserve(e.breakdown.size());
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
    if (e.host_bytes) put_bytes(j, "host_memory", *e.host_bytes);
    if (e.uncalibrated) {
        const auto& u = *e.uncalibrated;
        j["uncalibrated"] = {{"total_required", u.total_required_gib},
                             {"recommended", u.recommended_gib},
                             {"total_required_bytes", u.total_required_bytes},
                             {"recommended_bytes", u.recommended_bytes}};
    }
    if (e.calibration) {
        const auto& c = *e.calibration;
        j["calibration"] = {{"profile", c.profile},
                            {"group", c.group},
                            {"runs", c.runs},
                            {"held_out_error_pct", optional_json(c.held_out_error_pct)},
                            {"extrapolated", c.extrapolated},
                            {"factor", c.factor},
                            {"offset_bytes", c.offset_bytes}};
    }
    j["notes"] = e.notes;
    return j;
}

}  // namespace whisper_vram
