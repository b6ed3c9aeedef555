#include "whisper_vram/facade/gpu_manager.hpp"

#include "whisper_vram/core/error.hpp"
#include "whisper_vram/sched/ledger.hpp"

namespace whisper_vram {
namespace {

// An empty value means "unset" for these two, as the CLI and the Python module always treated it.
std::optional<std::string> non_empty(const std::optional<std::string>& value) {
    return value && !value->empty() ? value : std::nullopt;
}

}  // namespace

probe_options probe_options_from(const environment& env) {
    probe_options options;
    options.simulate = non_empty(env.simulate);
    options.nvml_library = non_empty(env.nvml_library);
    return options;
}

debug_environment debug_environment_from(const environment& env) {
    debug_environment debug;
    debug.nvml_library = non_empty(env.nvml_library);
    debug.cuda_visible_devices = env.cuda_visible_devices;
    debug.cuda_device_order = env.cuda_device_order;
    return debug;
}

manager_options manager_options_from(const environment& env, warning_sink warnings) {
    manager_options options;
    options.cuda_visible_devices = env.cuda_visible_devices;
    options.debug = debug_environment_from(env);
    try {
        options.state_dir = state_dir_from(env);
    } catch (const usage_error& e) {  // only what reserves needs the folder: the error waits for it
        options.state_dir_error = e.what();
    }
    options.warnings = std::move(warnings);
    options.slurm_job_id = env.slurm_job_id;
    options.slurm_shards_on_node = env.slurm_shards_on_node;
    return options;
}

gpu_manager::gpu_manager(std::shared_ptr<gpu_probe> probe) : gpu_manager(std::move(probe), manager_options{}) {}

gpu_manager::gpu_manager(const environment& env, warning_sink warnings)
    : gpu_manager(std::shared_ptr<gpu_probe>(make_probe(probe_options_from(env))), env, std::move(warnings)) {}

gpu_manager::gpu_manager(std::shared_ptr<gpu_probe> probe, const environment& env, warning_sink warnings)
    : gpu_manager(std::move(probe), manager_options_from(env, std::move(warnings))) {}

gpu_manager::gpu_manager(std::shared_ptr<gpu_probe> probe, manager_options options)
    : probe_(probe ? std::move(probe) : std::shared_ptr<gpu_probe>(make_probe(probe_options{}))),
      options_(std::move(options)) {}

memory_estimate gpu_manager::calculate_memory_usage(std::string_view model_name, double segment_duration,
                                                    int batch_size, std::string_view precision) const {
    return estimate(make_guide_request(model_name, segment_duration, batch_size, precision));
}

memory_estimate gpu_manager::calculate(const estimate_request& request) const { return estimate(request); }

gpu_snapshot gpu_manager::get_gpu_memory_info() const { return probe_->snapshot(); }

}  // namespace whisper_vram
