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

recommendation_result gpu_manager::recommend(const estimate_request& request, bool english_only) const {
    estimate(request);  // invalid input is a usage error before any GPU question
    const gpu_snapshot snapshot = probe_->snapshot();
    if (!snapshot.available()) {
        throw gpu_unavailable_error(fmt::format("GPU information unavailable: {}", snapshot.unavailable_reason));
    }
    const auto visible = visible_gpus(snapshot, options_.cuda_visible_devices);
    return recommend_for_gpus(visible, snapshot.source, request, english_only);
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
                                                      const std::vector<std::string>& gpu_ids) const {
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
    return check_memory(request, selected, snapshot.source);
}

}  // namespace whisper_vram
