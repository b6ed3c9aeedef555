// Per-GPU recommendations and the guide's presets, computed from the estimator.
#include <fmt/format.h>
#include <algorithm>
#include <array>

#include "core/text.hpp"
#include "planner/planner_detail.hpp"
#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/gpu_catalog.hpp"
#include "whisper_vram/core/units.hpp"
#include "whisper_vram/engines/registry.hpp"
#include "whisper_vram/planner/planner.hpp"

namespace whisper_vram {
namespace {

using detail::gib_text;

// The int8 column of a recommendation; an engine that cannot run int8 gets none (not an error).
std::optional<gpu_plan> int8_plan(std::uint64_t memory_bytes, const estimate_request& request, bool english_only) {
    estimate_request r = request;
    r.precision = "int8";
    try {
        return plan_for_memory(memory_bytes, r, english_only);
    } catch (const usage_error&) {
        return std::nullopt;
    }
}

void fill_plans(gpu_recommendation& rec, const estimate_request& request, bool english_only) {
    rec.plan = plan_for_memory(rec.memory_bytes, request, english_only);
    rec.int8 = int8_plan(rec.memory_bytes, request, english_only);
}

// fill_plans() for a live card: a precision the engine refuses on it is a note, not an error
// (the other GPUs still get their plans); the message names the card.
void fill_plans_for_card(gpu_recommendation& rec, const estimate_request& request, bool english_only) {
    try {
        rec.plan = plan_for_memory(rec.memory_bytes, request, english_only);
    } catch (const usage_error& e) {
        rec.reason = fmt::format("unsupported on {}: {}", rec.gpu, e.what());
        rec.notes.push_back(rec.reason);
    }
    rec.int8 = int8_plan(rec.memory_bytes, request, english_only);
}

// The guide's presets (guide.zh.md "预设配置"); the comments there name the target cards.
constexpr auto presets = std::to_array<guide_preset>({
    {"high_performance", "large", 600.0, 1, "float16", 2, "RTX 3090"},  // "RTX 3090, 24GB"
    {"balanced", "medium", 300.0, 1, "float16", 1, "RTX 3070"},         // "RTX 3070, 8GB"
    {"efficient", "small", 120.0, 1, "int8", 1, "GTX 1660"},            // "GTX 1660, 6GB"
});

std::string preset_key(std::string_view name) {
    std::string key = detail::to_lower(detail::trim(name));
    std::replace(key.begin(), key.end(), '-', '_');
    return key;
}

}  // namespace

recommendation_result recommend_for_catalog(std::span<const std::string> gpu_names, const estimate_request& request,
                                            bool english_only) {
    recommendation_result result;
    result.source = "catalog";
    result.request = request;
    for (const auto& name : gpu_names) {
        const gpu_model& model = find_gpu_model(name);
        gpu_recommendation rec;
        rec.gpu = std::string(model.name);
        rec.total_bytes = planning_memory_bytes(model);  // usable memory (NVML's total), not the marketed size
        rec.memory_bytes = rec.total_bytes;
        estimate_request r = request;
        // An engine sizes for the card it runs on (attention kernels, compute capability).
        if (!is_guide_engine(r.engine)) r.gpu_name = std::string(model.name);
        fill_plans(rec, r, english_only);
        result.gpus.push_back(std::move(rec));
    }
    if (!result.gpus.empty() && result.gpus.front().plan) {
        result.request = result.gpus.front().plan->best.estimate.request;
        result.request.model = request.model;
    }
    return result;
}

recommendation_result recommend_for_gpus(const std::vector<visible_gpu>& gpus, probe_source source,
                                         const estimate_request& request, bool english_only,
                                         std::span<const gpu_admittable> admittable) {
    if (!admittable.empty() && admittable.size() != gpus.size()) {
        throw usage_error(fmt::format("recommend: {} reservation figures for {} GPUs; give one per GPU or none",
                                      admittable.size(), gpus.size()));
    }
    recommendation_result result;
    result.source = std::string(to_string(source));
    result.request = request;
    result.memory_basis = admittable.empty() ? "free" : "admittable";
    std::optional<usage_error> first_refusal;
    bool any_plan = false;
    for (std::size_t i = 0; i < gpus.size(); ++i) {
        const gpu_device& d = gpus[i].device;
        gpu_recommendation rec;
        rec.gpu = d.name;
        rec.index = gpus[i].cuda_index;
        rec.uuid = d.uuid;
        rec.total_bytes = d.total_bytes;
        rec.free_bytes = d.free_bytes;
        rec.memory_bytes = d.free_bytes;  // what can be used now
        if (!admittable.empty()) {
            rec.reserved_bytes = admittable[i].reserved_bytes;
            rec.memory_bytes = admittable[i].available_bytes;  // what `run` would admit now
        }
        rec.state = std::string(to_string(d.state));
        if (d.state != gpu_state::ok) {
            rec.reason = d.state_detail.empty() ? fmt::format("GPU state is {}", rec.state) : d.state_detail;
            result.gpus.push_back(std::move(rec));
            continue;
        }
        fill_plans_for_card(rec, request_for_gpu(request, d), english_only);
        if (rec.plan) {
            any_plan = true;
        } else if (!first_refusal) {
            first_refusal = usage_error(rec.reason);
        }
        result.gpus.push_back(std::move(rec));
    }
    // Every usable GPU refuses the request: the usage error (as check and calc --gpu report it).
    if (!any_plan && first_refusal) throw usage_error(*first_refusal);
    return result;
}

std::span<const guide_preset> guide_presets() noexcept { return presets; }

const guide_preset& find_preset(std::string_view name) {
    const std::string key = preset_key(name);
    for (const auto& p : presets) {
        if (p.name == key) return p;
    }
    throw usage_error(fmt::format("unknown preset '{}': accepted: high_performance, balanced, efficient", name));
}

estimate_request preset_request(const guide_preset& preset) {
    estimate_request r;
    r.model = std::string(preset.model);
    r.segment_seconds = preset.segment_seconds;
    r.batch_size = preset.batch_size;
    r.precision = std::string(preset.precision);
    return r;
}

preset_evaluation evaluate_preset(const guide_preset& preset) {
    preset_evaluation ev;
    ev.preset = preset;
    const estimate_request request = preset_request(preset);
    ev.estimate = estimate(request);
    const auto n = static_cast<std::uint64_t>(preset.max_concurrent);
    ev.total_required_bytes = ev.estimate.total_required_bytes * n;
    ev.recommended_bytes = ev.estimate.recommended_bytes * n;
    ev.total_required_gib = ev.estimate.total_required_gib * static_cast<double>(n);
    ev.recommended_gib = ev.estimate.recommended_gib * static_cast<double>(n);
    const gpu_model& target = find_gpu_model(preset.target_gpu);
    // The guide's own claim, judged on its own terms: its comment names the card by its marketed
    // size ("RTX 3090, 24GB"), which the guide reads as GiB; not the usable memory NVML reports.
    ev.target_memory_bytes = target.marketed_bytes;
    ev.fits_target = ev.recommended_bytes <= ev.target_memory_bytes;
    ev.max_concurrent_on_target = solve_max_concurrent(request, ev.target_memory_bytes).value;
    // Longest segment at which max_concurrent tasks fit: each task gets an equal share of the card.
    ev.max_segment_on_target = solve_max_segment(request, ev.target_memory_bytes / n).value;
    const std::string need =
        n > 1 ? fmt::format("{} x {} = {}", n, gib_text(ev.estimate.recommended_bytes), gib_text(ev.recommended_bytes))
              : gib_text(ev.recommended_bytes);
    if (ev.fits_target) {
        ev.message = fmt::format("fits its target {} ({}): needs {} recommended", target.name,
                                 gib_text(ev.target_memory_bytes), need);
    } else {
        const std::string tasks = n > 1 ? fmt::format("{} side by side", n) : std::string("one task");
        const std::string verb = n > 1 ? "fit" : "fits";
        const std::string side_by_side =
            ev.max_segment_on_target == 0
                ? fmt::format("{} cannot fit even with 1 s segments", tasks)
                : fmt::format("{} {} only with segments up to {} s", tasks, verb, ev.max_segment_on_target);
        const std::string here = ev.max_concurrent_on_target == 0
                                     ? fmt::format("not even one task of {:g} s fits there", preset.segment_seconds)
                                     : fmt::format("only {} task(s) of {:g} s fit there", ev.max_concurrent_on_target,
                                                   preset.segment_seconds);
        ev.message = fmt::format("does NOT fit its target {} ({}): needs {} recommended; {}; {}", target.name,
                                 gib_text(ev.target_memory_bytes), need, here, side_by_side);
    }
    return ev;
}

}  // namespace whisper_vram
