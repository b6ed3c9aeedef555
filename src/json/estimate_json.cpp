// JSON form of an estimate (core layer).
#include "json_writer.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/json/json.hpp"

namespace whisper_vram {

namespace {

// An estimate's fields, in order, for either writer (json_writer.hpp): to_json() and json_text()
// list them here once.
template <class Writer>
void write_estimate(Writer& w, const memory_estimate& e) {
    // Room for 20 keys up front, more than an estimate has without its optional fields (all of
    // them: 26), in 960 bytes (glibc serves up to 1032 from its per-thread cache).
    w.begin_object(20);
    w.field("model", e.request.model);
    w.field("precision", e.request.precision);
    w.field("segment_duration", e.request.segment_seconds);
    w.field("batch_size", e.request.batch_size);
    w.field("engine", e.request.engine);
    if (e.request.beam_size) w.field("beam_size", *e.request.beam_size);
    if (e.request.gpu_name) w.field("gpu", *e.request.gpu_name);
    if (e.request.flash_attention) w.field("flash_attention", *e.request.flash_attention);
    // What the estimate sized ("eager" also when not stated: the notes say so); engines only.
    if (e.request.cuda_module_loading) w.field("cuda_module_loading", *e.request.cuda_module_loading);
    if (e.request.language) w.field("language", *e.request.language);  // whisperx
    if (e.request.align) w.field("align", *e.request.align);           // whisperx
    if (e.request.engine == "whisperx") {
        w.field("diarize", e.request.diarize);
        w.field("staged", e.request.staged);
    }
    w.field("margin", e.request.margin);
    w.field("unit", "GiB");
    w.begin_object("breakdown", e.breakdown.size());
    for (const auto& c : e.breakdown) w.field(c.key, c.gib);
    w.end_object();
    w.field("total_required", e.total_required_gib);
    w.field("recommended", e.recommended_gib);
    w.begin_object("breakdown_bytes", e.breakdown.size());
    for (const auto& c : e.breakdown) w.field(c.key, c.bytes);
    w.end_object();
    w.field("total_required_bytes", e.total_required_bytes);
    w.field("recommended_bytes", e.recommended_bytes);
    if (e.host_bytes) {  // put_bytes()' pair
        w.field("host_memory", bytes_to_gib(*e.host_bytes));
        w.field("host_memory_bytes", *e.host_bytes);
    }
    if (e.uncalibrated) {
        const auto& u = *e.uncalibrated;
        w.begin_object("uncalibrated", 4);
        w.field("total_required", u.total_required_gib);
        w.field("recommended", u.recommended_gib);
        w.field("total_required_bytes", u.total_required_bytes);
        w.field("recommended_bytes", u.recommended_bytes);
        w.end_object();
    }
    if (e.calibration) {
        const auto& c = *e.calibration;
        w.begin_object("calibration", 7);
        w.field("profile", c.profile);
        w.field("group", c.group);
        w.field("runs", c.runs);
        w.field("held_out_error_pct", c.held_out_error_pct);
        w.field("extrapolated", c.extrapolated);
        w.field("factor", c.factor);
        w.field("offset_bytes", c.offset_bytes);
        w.end_object();
    }
    w.field("notes", e.notes);
    w.end_object();
}

}  // namespace

nlohmann::ordered_json to_json(const memory_estimate& e) {
    nlohmann::ordered_json j;
    json_detail::dom_writer w(j);
    write_estimate(w, e);
    return j;
}

void append_json_text(std::string& out, const memory_estimate& e) {
    json_detail::text_writer w(out);
    write_estimate(w, e);
}

}  // namespace whisper_vram
