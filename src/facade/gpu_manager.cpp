#include "whisper_vram/facade/gpu_manager.hpp"

namespace whisper_vram {

gpu_manager::gpu_manager(std::shared_ptr<gpu_probe> probe)
    : probe_(probe ? std::move(probe) : std::shared_ptr<gpu_probe>(make_probe(probe_options_from_environment()))) {}

memory_estimate gpu_manager::calculate_memory_usage(std::string_view model_name, double segment_duration,
                                                    int batch_size, std::string_view precision) const {
    return estimate(make_guide_request(model_name, segment_duration, batch_size, precision));
}

memory_estimate gpu_manager::calculate(const estimate_request& request) const { return estimate(request); }

gpu_snapshot gpu_manager::get_gpu_memory_info() const { return probe_->snapshot(); }

}  // namespace whisper_vram
