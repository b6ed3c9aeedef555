// The facade's planner methods: thin over planner.hpp, plus the probe snapshot for live GPUs.
#include <fmt/format.h>

#include "whisper_vram/core/error.hpp"
#include "whisper_vram/core/gpu_catalog.hpp"
#include "whisper_vram/facade/gpu_manager.hpp"
#include "whisper_vram/gpu/gpu_selection.hpp"

namespace whisper_vram {
namespace {

std::string join_ids(const std::vector<std::string>& ids) {
    std::string joined;
    for (std::size_t i = 0; i < ids.size(); ++i) joined += (i == 0 ? "" : ",") + ids[i];
    return joined;
}

std::vector<gpu_admittable> admittables(const std::vector<gpu_capacity>& capacities) {
    std::vector<gpu_admittable> out;
    out.reserve(capacities.size());
    for (const auto& c : capacities) out.push_back({c.reserved_bytes, c.available_bytes});
    return out;
}

std::string task_label(const memory_estimate& e) {
    return fmt::format("{} {} {:g}s batch {}", e.request.model, e.request.precision, e.request.segment_seconds,
                       e.request.batch_size);
}

}  // namespace

best_model_result gpu_manager::assign_optimal_model(std::uint64_t available_bytes, const estimate_request& request,
                                                    bool english_only) const {
    return whisper_vram::assign_optimal_model(available_bytes, request, english_only);
}

solve_result gpu_manager::solve_max_segment(const estimate_request& request, std::uint64_t available_bytes) const {
    return whisper_vram::solve_max_segment(request, available_bytes);
}

solve_result gpu_manager::solve_max_batch(const estimate_request& request, std::uint64_t available_bytes) const {
    return whisper_vram::solve_max_batch(request, available_bytes);
}

solve_result gpu_manager::solve_max_concurrent(const estimate_request& request, std::uint64_t available_bytes) const {
    return whisper_vram::solve_max_concurrent(request, available_bytes);
}

solve_result gpu_manager::solve_min_memory(const estimate_request& request) const {
    return whisper_vram::solve_min_memory(request);
}

std::vector<gpu_capacity> gpu_manager::gpu_capacities(const std::vector<visible_gpu>& gpus) const {
    const auto reservations = get_scheduler().reservations();
    std::vector<gpu_capacity> out;
    out.reserve(gpus.size());
    for (const auto& v : gpus) out.push_back(admission_capacity(v.device, reservations));
    return out;
}

recommendation_result gpu_manager::recommend(const estimate_request& request, bool english_only,
                                             bool ignore_reservations) const {
    estimate(request);  // invalid input is a usage error before any GPU question
    const gpu_snapshot snapshot = probe_->snapshot();
    if (!snapshot.available()) {
        throw gpu_unavailable_error(fmt::format("GPU information unavailable: {}", snapshot.unavailable_reason));
    }
    const auto visible = visible_gpus(snapshot, options_.cuda_visible_devices);
    if (ignore_reservations) return recommend_for_gpus(visible, snapshot.source, request, english_only);
    const auto figures = admittables(gpu_capacities(visible));
    return recommend_for_gpus(visible, snapshot.source, request, english_only, figures);
}

recommendation_result gpu_manager::recommend(std::span<const std::string> gpu_names, const estimate_request& request,
                                             bool english_only) const {
    return recommend_for_catalog(gpu_names, request, english_only);
}

std::vector<preset_evaluation> gpu_manager::presets() const {
    std::vector<preset_evaluation> out;
    for (const auto& p : guide_presets()) out.push_back(evaluate_preset(p));
    return out;
}

check_result gpu_manager::check_gpu_memory_sufficient(std::string_view model_name,
                                                      const std::vector<std::string>& gpu_ids, double segment_duration,
                                                      int batch_size, std::string_view precision) const {
    return check_gpu_memory_sufficient(make_guide_request(model_name, segment_duration, batch_size, precision),
                                       gpu_ids);
}

check_result gpu_manager::check_gpu_memory_sufficient(const estimate_request& request,
                                                      const std::vector<std::string>& gpu_ids,
                                                      bool ignore_reservations) const {
    estimate(request);  // invalid input is a usage error before any GPU question
    const gpu_snapshot snapshot = probe_->snapshot();
    if (!snapshot.available()) {
        throw gpu_unavailable_error(fmt::format("GPU information unavailable: {}", snapshot.unavailable_reason));
    }
    const auto& cuda_visible = options_.cuda_visible_devices;
    const auto visible = visible_gpus(snapshot, cuda_visible);
    if (visible.empty()) {
        throw gpu_unavailable_error(cuda_visible
                                        ? fmt::format("no GPU is visible (CUDA_VISIBLE_DEVICES='{}')", *cuda_visible)
                                        : std::string("no GPU found"));
    }
    const auto selected = select_gpus(visible, join_ids(gpu_ids));
    if (ignore_reservations) return check_memory(request, selected, snapshot.source);
    const auto figures = admittables(gpu_capacities(selected));
    return check_memory(request, selected, snapshot.source, figures);
}

planning_gpu_memory gpu_manager::planning_gpu(const std::string& gpu_ids, bool ignore_reservations) const {
    const gpu_snapshot snapshot = probe_->snapshot();
    if (!snapshot.available()) {
        throw gpu_unavailable_error(fmt::format("GPU information unavailable: {}", snapshot.unavailable_reason));
    }
    const auto visible = visible_gpus(snapshot, options_.cuda_visible_devices);
    if (visible.empty()) throw gpu_unavailable_error("no GPU is visible");
    const auto selected = select_gpus(visible, gpu_ids);
    if (selected.size() != 1) {
        std::vector<std::string> names;
        names.reserve(selected.size());
        for (const auto& v : selected) names.push_back(fmt::format("{} ({})", v.cuda_index, v.device.name));
        throw usage_error(fmt::format("{} selects {} GPUs ({}): a plan is for one GPU; pass --gpus with one of them",
                                      gpu_ids.empty() ? std::string("no --gpus") : "--gpus '" + gpu_ids + "'",
                                      selected.size(), join_ids(names)));
    }
    planning_gpu_memory out;
    out.gpu = selected.front();
    if (out.gpu.device.state != gpu_state::ok) {
        throw usage_error(fmt::format("GPU {} ({}) cannot be planned for: its state is {}{}", out.gpu.cuda_index,
                                      out.gpu.device.name, to_string(out.gpu.device.state),
                                      out.gpu.device.state_detail.empty() ? "" : ": " + out.gpu.device.state_detail));
    }
    if (ignore_reservations) {
        out.available_bytes = out.gpu.device.free_bytes;
        out.memory_basis = "free";
    } else {
        const auto capacity = gpu_capacities(selected).front();
        out.available_bytes = capacity.available_bytes;
        out.reserved_bytes = capacity.reserved_bytes;
        out.memory_basis = "admittable";
    }
    return out;
}

reserve_request gpu_manager::sized_reserve_request(const estimate_request& request, const std::string& gpu_ids) const {
    const memory_estimate generic = estimate(request);  // invalid input first, whatever the GPUs
    reserve_request out;
    out.bytes = generic.recommended_bytes;
    out.model = task_label(generic);
    out.gpu_ids = gpu_ids;
    const gpu_snapshot snapshot = probe_->snapshot();
    if (!snapshot.available()) return out;  // the scheduler reports the GPUs unavailable
    const auto selected = select_gpus(visible_gpus(snapshot, options_.cuda_visible_devices), gpu_ids);
    std::vector<std::string> accepted;
    std::optional<usage_error> first_refusal;
    std::uint64_t largest = 0;
    for (const auto& v : selected) {
        try {
            const memory_estimate e = estimate(request_for_gpu(request, v.device));
            out.gpu_bytes.emplace_back(v.device.uuid, e.recommended_bytes);
            accepted.push_back(v.device.uuid);
            if (e.recommended_bytes > largest) {
                largest = e.recommended_bytes;
                out.model = task_label(e);
            }
        } catch (const usage_error& e) {
            if (!first_refusal) {
                first_refusal = usage_error(fmt::format("GPU {} ({}): {}", v.cuda_index, v.device.name, e.what()));
            }
        }
    }
    if (accepted.empty()) {
        if (first_refusal) throw usage_error(*first_refusal);
        return out;  // no GPU listed: the scheduler says so
    }
    out.bytes = largest;
    if (accepted.size() < selected.size()) out.gpu_ids = join_ids(accepted);
    return out;
}

}  // namespace whisper_vram
